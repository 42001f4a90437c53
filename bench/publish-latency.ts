import { RedisPublisher } from '../src/streams/publisher.js';
import { type BenchContext, type BenchResult, compare, percentile, progress, round } from './harness.js';
import { type OpenLoopResult, runOpenLoop } from './open-loop.js';
import { bullmqAddLatency } from './peer-bullmq.js';
import { BENCH_PRODUCER, BENCH_SOURCE, TICK, TICK_TOPIC, TICK_TYPE, tickEntryFields } from './workload.js';

const RATE_PER_SECOND = 1_000;
const WARMUP_MS = 1_000;
const DURATION_MS = 5_000;

/**
 * Publish latency at a steady 1,000 events/s (docs/architecture.md §15: p99 < 1 ms).
 *
 * Measures `RedisPublisher.publish()` of `market.tick` events driven open loop
 * (see {@link runOpenLoop}): publish i is due at t0 + i ms whatever happened to
 * earlier ones, and its latency runs from when it was due until the promise
 * resolved (Redis acknowledged the append script). 1 s of warm-up is
 * discarded, then 5 s (5,000 publishes) are measured.
 *
 * Baseline: one raw `XADD stream * type … env <json>` per event at the same
 * rate, with an entry of the same size, on its own connection. Peer:
 * BullMQ's `Queue.add` of one job carrying the same envelope, at the same
 * rate (bench/peer-bullmq.ts). Each side starts on a flushed server.
 *
 * Figures: `publish.latency.p50` and `publish.latency.p99`, in ms.
 */
export async function run(bench: BenchContext): Promise<BenchResult[]> {
  const plan = { ratePerSecond: RATE_PER_SECOND, warmupMs: WARMUP_MS, durationMs: DURATION_MS };

  await bench.flush();
  const raw = await bench.connect('raw-publisher');
  const rawStream = bench.keys('raw').stream(TICK_TOPIC);
  // A seq from mid-run: the entry has the length of most of the publisher's.
  const fields = tickEntryFields(RATE_PER_SECOND * 3);
  const baseline = await runOpenLoop({ ...plan, send: () => raw.xadd(rawStream, '*', ...fields) });
  report('raw xadd', baseline);

  await bench.flush();
  const publisher = new RedisPublisher({
    redis: await bench.connect('publisher'),
    keys: bench.keys('bus'),
    producer: BENCH_PRODUCER,
    source: BENCH_SOURCE,
  });
  const bus = await runOpenLoop({ ...plan, send: () => publisher.publish(TICK_TYPE, TICK) });
  await publisher.close();
  report('publish()', bus);

  const peer = await bullmqAddLatency(bench, plan, RATE_PER_SECOND * 3);
  report('BullMQ Queue.add', peer);

  return [50, 99].map((p) =>
    compare(
      `publish.latency.p${p}`,
      'ms',
      ms(percentile(bus.latencies, p)),
      { name: `raw.xadd.latency.p${p}`, value: ms(percentile(baseline.latencies, p)) },
      { name: `bullmq.add.latency.p${p}`, value: ms(percentile(peer.latencies, p)) },
    ),
  );
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
