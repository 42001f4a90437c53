import { StreamConsumer } from '../src/streams/consumer.js';
import { RedisPublisher } from '../src/streams/publisher.js';
import {
  type BenchContext,
  type BenchResult,
  compare,
  now,
  perSecond,
  progress,
  waitUntil,
  withDeadline,
} from './harness.js';
import { BULLMQ_CONCURRENCY, bullmqWorkerThroughput } from './peer-bullmq.js';
import {
  BENCH_PRODUCER,
  BENCH_SOURCE,
  isBlocked,
  pendingCount,
  publishTicks,
  READ_COUNT,
  rawConsume,
  rawPipelinedXadd,
  TICK_TOPIC,
  tickEntryFields,
} from './workload.js';

const EVENTS = 100_000;
const TIMEOUT_MS = 60_000;
const GROUP = 'bench';
const CONSUMER = 'bench-1';

/**
 * End-to-end throughput: publish → consumer group → handler → ack (docs/architecture.md
 * §15: ≥ 80k events/s).
 *
 * A `StreamConsumer` (readCount 512, a handler that only counts) is started
 * and waiting on XREADGROUP; then one `RedisPublisher` publishes 100,000
 * `market.tick` events, 10,000 outstanding at a time. The clock runs from the
 * first publish until the handler has seen all of them and the group has no
 * pending entries. Publisher and consumer each have their own connection (the
 * consumer adds its own blocking reader), as separate services would, but
 * share this process's single thread.
 *
 * Baseline, same N and entry size: a raw producer of pipelined XADDs (512 per
 * pipeline, 4 in flight) and, on a second connection, a raw loop of
 * `XREADGROUP COUNT 512 BLOCK 100` then one XACK of the batch's ids. Peer:
 * a BullMQ Worker at concurrency 50 in this process, with as many jobs
 * carrying the same envelope added in bulk (bench/peer-bullmq.ts), from the
 * first add until every job completed. Each side starts on a flushed server.
 *
 * Figure: `e2e.throughput`, in events/s.
 */
export async function run(bench: BenchContext): Promise<BenchResult[]> {
  const baseline = await runRaw(bench);
  progress(`raw xadd → xreadgroup → xack: ${baseline}/s`);
  const bus = await runBus(bench);
  progress(`publish() → StreamConsumer → handler → ack: ${bus}/s`);
  const peer = await bullmqWorkerThroughput(bench, EVENTS);
  progress(`BullMQ addBulk → Worker (concurrency ${BULLMQ_CONCURRENCY}) → completed: ${peer}/s`);
  return [
    compare(
      'e2e.throughput',
      'events/s',
      bus,
      { name: 'raw.xadd-xreadgroup-xack.throughput', value: baseline },
      { name: `bullmq.worker.c${BULLMQ_CONCURRENCY}.throughput`, value: peer },
    ),
  ];
}

async function runRaw(bench: BenchContext): Promise<number> {
  await bench.flush();
  const stream = bench.keys('raw').stream(TICK_TOPIC);
  const producer = await bench.connect('raw-producer');
  const consumer = await bench.connect('raw-consumer');
  const observer = await bench.connect('observer');
  await observer.xgroup('CREATE', stream, GROUP, '0', 'MKSTREAM');
  const fields = tickEntryFields(EVENTS / 2);

  const consuming = rawConsume(consumer, stream, GROUP, CONSUMER, EVENTS, TIMEOUT_MS);
  // A failure while the producer runs must not be an unhandled rejection; `await consuming` rethrows it.
  consuming.catch(() => {});
  await waitUntil(() => isBlocked(observer, 'bench:raw-consumer'), 'the raw consumer to block', 5_000);

  const started = now();
  await withDeadline(rawPipelinedXadd(producer, stream, fields, EVENTS), TIMEOUT_MS, 'raw producer');
  await consuming;
  await waitUntil(async () => (await pendingCount(observer, stream, GROUP)) === 0, 'raw pending to drain', TIMEOUT_MS);
  return perSecond(EVENTS, now() - started);
}

async function runBus(bench: BenchContext): Promise<number> {
  await bench.flush();
  const keys = bench.keys('bus');
  const stream = keys.stream(TICK_TOPIC);
  const observer = await bench.connect('observer');

  let handled = 0;
  let allHandled!: () => void;
  const done = new Promise<void>((resolve) => {
    allHandled = resolve;
  });
  const consumer = new StreamConsumer({
    redis: await bench.connect('consumer'),
    keys,
    topic: TICK_TOPIC,
    group: GROUP,
    consumer: CONSUMER,
    readCount: READ_COUNT,
    handler: () => {
      if (++handled === EVENTS) allHandled();
    },
  });
  const publisher = new RedisPublisher({
    redis: await bench.connect('publisher'),
    keys,
    producer: BENCH_PRODUCER,
    source: BENCH_SOURCE,
  });
  try {
    await consumer.start();
    // The consumer names its reader connection `qt:<group>:<consumer>`.
    await waitUntil(() => isBlocked(observer, `qt:${GROUP}:${CONSUMER}`), 'the consumer to block', 5_000);

    const started = now();
    await withDeadline(publishTicks(publisher, EVENTS), TIMEOUT_MS, `${EVENTS} publishes`);
    await withDeadline(done, TIMEOUT_MS, `the handler to see ${EVENTS} events`);
    await waitUntil(async () => (await pendingCount(observer, stream, GROUP)) === 0, 'pending to drain', TIMEOUT_MS);
    const elapsed = now() - started;
    if (handled !== EVENTS) throw new Error(`bench: handler saw ${handled} events, expected ${EVENTS}`);
    return perSecond(EVENTS, elapsed);
  } finally {
    await publisher.close();
    await consumer.close();
  }
}
