import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiskBuffer } from '../src/buffer/disk-buffer.js';
import type { BufferedEvent } from '../src/buffer/types.js';
import { withSeq } from '../src/streams/append.js';
import { Drainer } from '../src/streams/drainer.js';
import { RedisPublisher } from '../src/streams/publisher.js';
import {
  type BenchContext,
  type BenchResult,
  compare,
  now,
  percentile,
  perSecond,
  progress,
  round,
  waitUntil,
} from './harness.js';
import { runOpenLoop } from './open-loop.js';
import { BENCH_PRODUCER, BENCH_SOURCE, rawPipelinedXadd, TICK_TOPIC, TICK_TYPE, tickEntryFields } from './workload.js';

const APPEND_RATE = 50_000;
const APPEND_WARMUP_MS = 500;
const APPEND_DURATION_MS = 2_000;
const THROUGHPUT_EVENTS = 200_000;
const THROUGHPUT_CONCURRENCY = 256;
const REPLAY_EVENTS = 200_000;

/**
 * The disk buffer (docs/architecture.md §15: append p99 < 5 ms and ≥ 50k events/s with
 * `synchronous=FULL`; replay ≥ 100k events/s).
 *
 * - `buffer.append.latency.p50/p99` (ms): `DiskBuffer.append()` of one
 *   event, driven open loop at 50,000/s for 2 s after 0.5 s of warm-up. An
 *   append resolves after its group commit (WAL fsync). Baseline: raw
 *   `XADD` of the same entry at the same rate: what the buffer stands in for.
 * - `buffer.append.throughput` (events/s): 200,000 single-event appends
 *   with 256 in flight at a time. Baseline: raw pipelined XADD of as many
 *   entries.
 * - `buffer.replay.throughput` (events/s): a buffer pre-filled with
 *   200,000 parked events (no seq yet), replayed by the drainer: seqs
 *   assigned and written, idempotent append script, rows deleted. Timed from
 *   drainer start to empty buffer. Baseline: raw pipelined XADD.
 */
export async function run(bench: BenchContext): Promise<BenchResult[]> {
  const dir = await mkdtemp(join(tmpdir(), 'qt-bench-buffer-'));
  try {
    const fields = tickEntryFields(100_000);
    const event: BufferedEvent = { topic: TICK_TOPIC, type: TICK_TYPE, seq: null, body: bodyWithoutSeq(fields[3]) };

    await bench.flush();
    const raw = await bench.connect('raw');
    const rawStream = bench.keys('raw').stream(TICK_TOPIC);
    const plan = { ratePerSecond: APPEND_RATE, warmupMs: APPEND_WARMUP_MS, durationMs: APPEND_DURATION_MS };
    const rawLatency = await runOpenLoop({ ...plan, send: () => raw.xadd(rawStream, '*', ...fields) });

    const latencyBuffer = DiskBuffer.open({ path: join(dir, 'latency.sqlite') });
    const appendLatency = await runOpenLoop({ ...plan, send: () => latencyBuffer.append([event]) });
    await latencyBuffer.close();
    progress(`disk buffer append at ${APPEND_RATE}/s: p99 ${round(percentile(appendLatency.latencies, 99), 2)} ms`);

    await bench.flush();
    let started = now();
    await rawPipelinedXadd(raw, rawStream, fields, THROUGHPUT_EVENTS);
    const rawRate = perSecond(THROUGHPUT_EVENTS, now() - started);

    const throughputBuffer = DiskBuffer.open({ path: join(dir, 'throughput.sqlite'), maxRows: 10_000_000 });
    started = now();
    let next = 0;
    await Promise.all(
      Array.from({ length: THROUGHPUT_CONCURRENCY }, async () => {
        while (next < THROUGHPUT_EVENTS) {
          next++;
          await throughputBuffer.append([event]);
        }
      }),
    );
    const appendRate = perSecond(THROUGHPUT_EVENTS, now() - started);
    await throughputBuffer.close();
    progress(`disk buffer append throughput: ${Math.round(appendRate)}/s`);

    // Replay: park 200k events, then let a drainer replay them to Redis.
    await bench.flush();
    const replayPath = join(dir, 'replay.sqlite');
    const filling = DiskBuffer.open({ path: replayPath, maxRows: 10_000_000 });
    for (let i = 0; i < REPLAY_EVENTS; i += 10_000) {
      await filling.append(Array.from({ length: Math.min(10_000, REPLAY_EVENTS - i) }, () => event));
    }
    await filling.close();
    const buffer = DiskBuffer.open({ path: replayPath, maxRows: 10_000_000 });
    const publisher = new RedisPublisher({
      redis: await bench.connect('replay'),
      keys: bench.keys('bus'),
      producer: BENCH_PRODUCER,
      source: BENCH_SOURCE,
      buffer,
    });
    const drainer = new Drainer({ buffer, lanes: publisher, appender: publisher.appender, link: publisher.link });
    started = now();
    drainer.start();
    await waitUntil(async () => buffer.backlog(TICK_TOPIC) === 0, 'replay', 120_000);
    const replayRate = perSecond(REPLAY_EVENTS, now() - started);
    await drainer.close();
    await publisher.close();
    await buffer.close();
    progress(`disk buffer replay: ${Math.round(replayRate)}/s`);

    return [
      ...[50, 99].map((p) =>
        compare(`buffer.append.latency.p${p}`, 'ms', round(percentile(appendLatency.latencies, p), 3), {
          name: `raw.xadd.latency.p${p}@${APPEND_RATE}/s`,
          value: round(percentile(rawLatency.latencies, p), 3),
        }),
      ),
      compare('buffer.append.throughput', 'events/s', Math.round(appendRate), {
        name: 'raw.xadd.pipelined.throughput',
        value: Math.round(rawRate),
      }),
      compare('buffer.replay.throughput', 'events/s', Math.round(replayRate), {
        name: 'raw.xadd.pipelined.throughput',
        value: Math.round(rawRate),
      }),
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The envelope JSON without its `seq` field, as the publisher parks it. */
function bodyWithoutSeq(envelopeJson: string): string {
  const { seq: _seq, ...rest } = JSON.parse(envelopeJson) as Record<string, unknown>;
  const body = JSON.stringify(rest);
  // Sanity: composing the seq back in gives the same envelope.
  if (JSON.parse(withSeq(body, 1)).id !== rest.id) throw new Error('bench: body composition broken');
  return body;
}
