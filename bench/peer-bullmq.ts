/**
 * BullMQ, the peer of the bus benchmarks: the same work done with BullMQ's
 * Queue and Worker on the same bench server, in the same run, so each bus
 * figure has a peer ratio measured under the same conditions. A job carries
 * the tick's envelope as its data, the bytes a stream entry carries; jobs use
 * BullMQ's default options, as a user gets them.
 *
 * - {@link bullmqAddBulk}: `Queue.addBulk` of 512 jobs a call, 4 calls in
 *   flight (the batching of the raw pipelined XADD baseline).
 * - {@link bullmqAdder}: `Queue.add` of one job, for the open-loop latency bench.
 * - {@link bullmqWorkerThroughput}: a Worker at concurrency 50 with a
 *   processor that only counts; jobs added as in {@link bullmqAddBulk}, timed
 *   from the first add until the worker has completed every job.
 */
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { type BenchContext, now, perSecond, waitUntil, withDeadline } from './harness.js';
import { RAW_PIPELINE_SIZE, RAW_PIPELINES_IN_FLIGHT, TICK_TYPE, tickEntryFields } from './workload.js';

/** The queue every BullMQ figure uses (its keys live under the benchmark's `bullmq` prefix). */
const QUEUE = 'ticks';
/** The Worker's concurrency: jobs processed at once. */
export const BULLMQ_CONCURRENCY = 50;
const TIMEOUT_MS = 120_000;

/** BullMQ refuses connections that would give up on a command: its blocking calls need this. */
const BULLMQ_REDIS_OPTIONS = { maxRetriesPerRequest: null } as const;

/** Job data: the tick's envelope as an object, so BullMQ serialises the same JSON the bus writes. */
function tickJobData(seq: number): Record<string, unknown> {
  return JSON.parse(tickEntryFields(seq)[3]) as Record<string, unknown>;
}

async function openQueue(bench: BenchContext, role: string): Promise<Queue> {
  const connection = await bench.connect(role, BULLMQ_REDIS_OPTIONS);
  const queue = new Queue(QUEUE, { connection, prefix: bench.keys('bullmq').prefix });
  await queue.waitUntilReady();
  return queue;
}

/** Adds `count` jobs with `Queue.addBulk`, {@link RAW_PIPELINE_SIZE} a call, {@link RAW_PIPELINES_IN_FLIGHT} in flight. */
async function addInBulk(queue: Queue, data: Record<string, unknown>, count: number): Promise<void> {
  let next = 0;
  const adder = async (): Promise<void> => {
    while (next < count) {
      const n = Math.min(RAW_PIPELINE_SIZE, count - next);
      next += n;
      await queue.addBulk(Array.from({ length: n }, () => ({ name: TICK_TYPE, data })));
    }
  };
  await Promise.all(Array.from({ length: RAW_PIPELINES_IN_FLIGHT }, adder));
}

/** `Queue.addBulk` throughput of `count` jobs on a flushed server, in jobs/s. */
export async function bullmqAddBulk(bench: BenchContext, count: number): Promise<number> {
  await bench.flush();
  const queue = await openQueue(bench, 'bullmq-producer');
  try {
    const data = tickJobData(count / 2);
    const started = now();
    await withDeadline(addInBulk(queue, data, count), TIMEOUT_MS, `BullMQ addBulk of ${count} jobs`);
    const rate = perSecond(count, now() - started);
    const waiting = await queue.getWaitingCount();
    if (waiting !== count) throw new Error(`bench: BullMQ holds ${waiting} waiting jobs, expected ${count}`);
    return rate;
  } finally {
    await queue.close();
  }
}

/**
 * BullMQ's `Queue.add` of one job carrying the envelope of `seq`, on a
 * queue opened once: `add` sends one job, `close` closes the queue. The
 * caller drives it (the publish latency bench, open loop, in slices).
 */
export async function bullmqAdder(
  bench: BenchContext,
  seq: number,
): Promise<{ add(): Promise<unknown>; close(): Promise<void> }> {
  const queue = await openQueue(bench, 'bullmq-producer');
  const data = tickJobData(seq);
  return { add: () => queue.add(TICK_TYPE, data), close: () => queue.close() };
}

/**
 * A Worker at {@link BULLMQ_CONCURRENCY} on a flushed server: started and
 * waiting on its blocking read first, then `count` jobs added in bulk; jobs/s
 * from the first add until the worker completed all of them.
 */
export async function bullmqWorkerThroughput(bench: BenchContext, count: number): Promise<number> {
  await bench.flush();
  const observer = await bench.connect('bullmq-observer');
  const queue = await openQueue(bench, 'bullmq-producer');
  let completed = 0;
  let failure: Error | undefined;
  let allDone!: () => void;
  const done = new Promise<void>((resolve) => {
    allDone = resolve;
  });
  const worker = new Worker(QUEUE, async () => undefined, {
    connection: await bench.connect('bullmq-worker', BULLMQ_REDIS_OPTIONS),
    prefix: bench.keys('bullmq').prefix,
    concurrency: BULLMQ_CONCURRENCY,
  });
  worker.on('completed', () => {
    if (++completed === count) allDone();
  });
  worker.on('failed', (_job, error) => {
    failure ??= error;
    allDone();
  });
  try {
    await worker.waitUntilReady();
    await waitUntil(() => anyClientBlocked(observer), 'the BullMQ worker to block', 5_000);
    const data = tickJobData(count / 2);
    const started = now();
    await withDeadline(addInBulk(queue, data, count), TIMEOUT_MS, `BullMQ addBulk of ${count} jobs`);
    await withDeadline(done, TIMEOUT_MS, `the BullMQ worker to complete ${count} jobs`);
    const elapsed = now() - started;
    if (failure) throw failure;
    if (completed !== count) throw new Error(`bench: BullMQ completed ${completed} jobs, expected ${count}`);
    return perSecond(count, elapsed);
  } finally {
    await worker.close();
    await queue.close();
  }
}

/** Whether any client of the server is blocked in a command: the worker is the only one that blocks here. */
async function anyClientBlocked(redis: Redis): Promise<boolean> {
  const list = (await redis.client('LIST')) as string;
  return list.split('\n').some((line) => /\bflags=\w*b/.test(line));
}
