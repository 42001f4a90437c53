import type { Redis } from 'ioredis';
import { type EventData, topicOf } from '../src/events/catalog.js';
import { createEnvelope } from '../src/events/envelope.js';
import { encodeEntry } from '../src/streams/codec.js';
import type { Publisher } from '../src/streams/publisher.js';
import { now } from './harness.js';

/**
 * The workload every event-bus benchmark shares: one `market.tick` event,
 * published through the bus, and the raw-ioredis equivalents of publishing
 * and consuming it that serve as baselines.
 */

/** The event type the bus benchmarks publish. */
export const TICK_TYPE = 'market.tick';
/** The data of every published tick. */
export const TICK: EventData<typeof TICK_TYPE> = { symbol: 'BTCUSDT', price: 64_250.5, volume: 0.125 };
/** The topic (and so the stream) ticks go to. */
export const TICK_TOPIC = topicOf(TICK_TYPE);
/** Producer id and source service the bench publisher writes into envelopes. */
export const BENCH_PRODUCER = 'bench-producer';
export const BENCH_SOURCE = 'bench';

/** How many publish() calls are outstanding at most: bounds memory for large N. */
export const PUBLISH_CHUNK = 10_000;
/** XADDs per pipeline in the raw baselines (the publisher's default batch is 512 too). */
export const RAW_PIPELINE_SIZE = 512;
/** Raw pipelines in flight at once. */
export const RAW_PIPELINES_IN_FLIGHT = 4;
/** COUNT of the raw consumer's XREADGROUP, the same as the bus consumer's readCount in the benchmarks. */
export const READ_COUNT = 512;

/**
 * The stream entry fields the publisher writes for {@link TICK} (`type`,
 * `env`), built once with a real envelope: the raw baselines XADD exactly
 * this, so both sides move the same bytes. Pass a `seq` typical of the run
 * (it is the only field whose length varies with the event count).
 */
export function tickEntryFields(seq: number): [string, string, string, string] {
  return encodeEntry(
    createEnvelope({ type: TICK_TYPE, data: TICK, source: BENCH_SOURCE, producer: BENCH_PRODUCER, seq }),
  );
}

/** Publishes `count` ticks, at most {@link PUBLISH_CHUNK} outstanding; resolves once all resolved. */
export async function publishTicks(publisher: Publisher, count: number): Promise<void> {
  for (let sent = 0; sent < count; sent += PUBLISH_CHUNK) {
    const n = Math.min(PUBLISH_CHUNK, count - sent);
    const chunk = new Array<Promise<unknown>>(n);
    for (let i = 0; i < n; i++) chunk[i] = publisher.publish(TICK_TYPE, TICK);
    await Promise.all(chunk);
  }
}

/**
 * Raw baseline of publishing: `count` XADDs of `fields` to `stream`, in
 * pipelines of {@link RAW_PIPELINE_SIZE} with {@link RAW_PIPELINES_IN_FLIGHT}
 * in flight. Resolves once Redis has answered all of them.
 */
export async function rawPipelinedXadd(
  redis: Redis,
  stream: string,
  fields: readonly string[],
  count: number,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const n = Math.min(RAW_PIPELINE_SIZE, count - next);
      next += n;
      const pipeline = redis.pipeline();
      for (let i = 0; i < n; i++) pipeline.xadd(stream, '*', ...fields);
      const replies = await pipeline.exec();
      if (!replies) throw new Error('bench: pipeline was discarded');
      const failed = replies.find(([err]) => err);
      if (failed) throw failed[0];
    }
  };
  await Promise.all(Array.from({ length: RAW_PIPELINES_IN_FLIGHT }, worker));
}

/**
 * Raw baseline of consuming: a loop of `XREADGROUP COUNT 512 BLOCK 100` then
 * one `XACK` of the batch's ids, on `redis` alone, until `count` entries are
 * acked. The group must exist. Rejects once `timeoutMs` have passed.
 */
export async function rawConsume(
  redis: Redis,
  stream: string,
  group: string,
  consumer: string,
  count: number,
  timeoutMs: number,
): Promise<void> {
  const deadline = now() + timeoutMs;
  let acked = 0;
  while (acked < count) {
    if (now() > deadline) throw new Error(`bench: raw consumer acked ${acked} of ${count} in time`);
    const reply = (await redis.xreadgroup(
      'GROUP',
      group,
      consumer,
      'COUNT',
      READ_COUNT,
      'BLOCK',
      100,
      'STREAMS',
      stream,
      '>',
    )) as [string, [string, string[]][]][] | null;
    const entries = reply?.[0]?.[1] ?? [];
    if (entries.length === 0) continue;
    acked += await redis.xack(stream, group, ...entries.map(([id]) => id));
  }
}

/** Size of the group's pending entries list (XPENDING summary). */
export async function pendingCount(redis: Redis, stream: string, group: string): Promise<number> {
  const summary = (await redis.xpending(stream, group)) as [number, ...unknown[]];
  return Number(summary[0]);
}

/**
 * Whether a connection named `name` is blocked in a command (CLIENT LIST flag
 * `b`): how a benchmark knows a consumer is waiting on XREADGROUP before it
 * starts the clock.
 */
export async function isBlocked(redis: Redis, name: string): Promise<boolean> {
  const list = (await redis.client('LIST')) as string;
  return list.split('\n').some((line) => line.includes(` name=${name} `) && /\bflags=\w*b/.test(line));
}
