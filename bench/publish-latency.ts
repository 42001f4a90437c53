import { RedisPublisher } from '../src/streams/publisher.js';
import { type BenchContext, type BenchResult, compare, percentile, progress, round } from './harness.js';
import { type OpenLoopResult, runOpenLoop } from './open-loop.js';
import { bullmqAdder } from './peer-bullmq.js';
import { BENCH_PRODUCER, BENCH_SOURCE, TICK, TICK_TOPIC, TICK_TYPE, tickEntryFields } from './workload.js';

const RATE_PER_SECOND = 1_000;
/** Measured slices per side; the sides take turns, one slice each. */
const SLICES = 5;
const SLICE_MS = 1_000;
/** Warm-up of each side's first slice (JIT, connection, first-call work), then of every later one. */
const FIRST_WARMUP_MS = 1_000;
const SLICE_WARMUP_MS = 100;

/**
 * Publish latency at a steady 1,000 events/s (docs/architecture.md §15: p99 < 1 ms).
 *
 * Measures `RedisPublisher.publish()` of `market.tick` events driven open loop
 * (see {@link runOpenLoop}): publish i is due at t0 + i ms whatever happened to
 * earlier ones, and its latency runs from when it was due until the promise
 * resolved (Redis acknowledged the append script).
 *
 * Baseline: one raw `XADD stream * type … env <json>` per event at the same
 * rate, with an entry of the same size, on its own connection. Peer:
 * BullMQ's `Queue.add` of one job carrying the same envelope, at the same
 * rate (bench/peer-bullmq.ts). The server is flushed once, before the first
 * slice.
 *
 * The three sides take turns in 1-second slices, 5 measured slices each
 * (5,000 operations a side), after 1 s of warm-up before each side's first
 * slice and 0.1 s before each later one. A stall of the machine (this 2-core
 * VM stops a process for a few ms now and then) lands in any side's slice
 * alike: one 5-second window per side let the raw p99 move 0.74–1.43 ms
 * between two runs of the same code, more than the bus differs from it.
 *
 * Figures: `publish.latency.p50` and `publish.latency.p99`, in ms.
 */
export async function run(bench: BenchContext): Promise<BenchResult[]> {
  await bench.flush();
  const raw = await bench.connect('raw-publisher');
  const rawStream = bench.keys('raw').stream(TICK_TOPIC);
  // A seq from mid-run: the entry has the length of most of the publisher's.
  const fields = tickEntryFields(RATE_PER_SECOND * 3);
  const publisher = new RedisPublisher({
    redis: await bench.connect('publisher'),
    keys: bench.keys('bus'),
    producer: BENCH_PRODUCER,
    source: BENCH_SOURCE,
  });
  const peer = await bullmqAdder(bench, RATE_PER_SECOND * 3);
  const sides = [
    { label: 'raw xadd', send: () => raw.xadd(rawStream, '*', ...fields), slices: [] as OpenLoopResult[] },
    { label: 'publish()', send: () => publisher.publish(TICK_TYPE, TICK), slices: [] as OpenLoopResult[] },
    { label: 'BullMQ Queue.add', send: () => peer.add(), slices: [] as OpenLoopResult[] },
  ];
  try {
    for (let slice = 0; slice < SLICES; slice++) {
      for (const side of sides) {
        side.slices.push(
          await runOpenLoop({
            ratePerSecond: RATE_PER_SECOND,
            warmupMs: slice === 0 ? FIRST_WARMUP_MS : SLICE_WARMUP_MS,
            durationMs: SLICE_MS,
            send: side.send,
          }),
        );
      }
    }
  } finally {
    await publisher.close();
    await peer.close();
  }
  const [baseline, bus, bullmq] = sides.map((side) => {
    const merged = merge(side.slices);
    report(side.label, merged);
    return merged;
  }) as [OpenLoopResult, OpenLoopResult, OpenLoopResult];

  return [50, 99].map((p) =>
    compare(
      `publish.latency.p${p}`,
      'ms',
      ms(percentile(bus.latencies, p)),
      { name: `raw.xadd.latency.p${p}`, value: ms(percentile(baseline.latencies, p)) },
      { name: `bullmq.add.latency.p${p}`, value: ms(percentile(bullmq.latencies, p)) },
    ),
  );
}

/** One side's slices as one result, sorted ascending as runOpenLoop's are. */
function merge(slices: readonly OpenLoopResult[]): OpenLoopResult {
  const join = (parts: readonly Float64Array[]): Float64Array => {
    const out = new Float64Array(parts.reduce((n, part) => n + part.length, 0));
    let at = 0;
    for (const part of parts) {
      out.set(part, at);
      at += part.length;
    }
    return out.sort();
  };
  return { latencies: join(slices.map((r) => r.latencies)), sendLag: join(slices.map((r) => r.sendLag)) };
}

function ms(x: number): number {
  return round(x, 3);
}

/** Shows how late the driver itself sent, so noisy figures can be told apart from slow ones. */
function report(label: string, result: OpenLoopResult): void {
  const p = (q: number) => ms(percentile(result.latencies, q));
  const lag = (q: number) => ms(percentile(result.sendLag, q));
  progress(
    `${label}: p50 ${p(50)} ms, p99 ${p(99)} ms, max ${p(100)} ms; driver send lag p99 ${lag(99)} ms, max ${lag(100)} ms`,
  );
}
