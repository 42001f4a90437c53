import { RedisPublisher } from '../src/streams/publisher.js';
import { type BenchContext, type BenchResult, compare, now, perSecond, progress, withDeadline } from './harness.js';
import { bullmqAddBulk } from './peer-bullmq.js';
import {
  BENCH_PRODUCER,
  BENCH_SOURCE,
  PUBLISH_CHUNK,
  publishTicks,
  RAW_PIPELINE_SIZE,
  RAW_PIPELINES_IN_FLIGHT,
  rawPipelinedXadd,
  TICK_TOPIC,
  tickEntryFields,
} from './workload.js';

const EVENTS = 200_000;
const TIMEOUT_MS = 60_000;

/**
 * Batched publish throughput (docs/architecture.md §15: ≥ 150k events/s).
 *
 * Measures how fast one `RedisPublisher` gets 200,000 `market.tick` events
 * acknowledged: `publish()` is called as fast as possible, 10,000 calls at a
 * time (awaiting each chunk bounds memory), and the clock runs from the first
 * call until the last promise resolved. The publisher batches on its own
 * (one append script per batch, one batch in flight per topic).
 *
 * Baseline: raw XADDs of an entry of the same size, in pipelines of 512 with
 * 4 pipelines in flight, on their own connection. Peer: BullMQ's
 * `Queue.addBulk` of as many jobs carrying the same envelope, 512 a call,
 * 4 calls in flight (bench/peer-bullmq.ts). Each side starts on a flushed
 * server.
 *
 * Figure: `publish.throughput.batched`, in events/s.
 */
export async function run(bench: BenchContext): Promise<BenchResult[]> {
  await bench.flush();
  const raw = await bench.connect('raw-publisher');
  const fields = tickEntryFields(EVENTS / 2);
  let started = now();
  await withDeadline(
    rawPipelinedXadd(raw, bench.keys('raw').stream(TICK_TOPIC), fields, EVENTS),
    TIMEOUT_MS,
    'raw pipelined XADDs',
  );
  const baseline = perSecond(EVENTS, now() - started);
  progress(
    `raw pipelined xadd (${RAW_PIPELINE_SIZE} per pipeline, ${RAW_PIPELINES_IN_FLIGHT} in flight): ${baseline}/s`,
  );

  await bench.flush();
  const publisher = new RedisPublisher({
    redis: await bench.connect('publisher'),
    keys: bench.keys('bus'),
    producer: BENCH_PRODUCER,
    source: BENCH_SOURCE,
  });
  started = now();
  await withDeadline(publishTicks(publisher, EVENTS), TIMEOUT_MS, `${EVENTS} publishes`);
  const bus = perSecond(EVENTS, now() - started);
  await publisher.close();
  progress(`publish() in chunks of ${PUBLISH_CHUNK}: ${bus}/s`);

  const peer = await bullmqAddBulk(bench, EVENTS);
  progress(`BullMQ Queue.addBulk (${RAW_PIPELINE_SIZE} a call, ${RAW_PIPELINES_IN_FLIGHT} in flight): ${peer}/s`);

  return [
    compare(
      'publish.throughput.batched',
      'events/s',
      bus,
      { name: 'raw.xadd.pipelined.throughput', value: baseline },
      { name: 'bullmq.addBulk.throughput', value: peer },
    ),
  ];
}
