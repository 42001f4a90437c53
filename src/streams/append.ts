import type { Redis } from 'ioredis';
import { QtError } from '../errors.js';
import type { Keys } from './keys.js';
import { withScripts } from './scripts.js';

/**
 * Append calls of one producer and topic sent before the first is answered
 * (publisher and drainer): the client builds and sends the next while Redis
 * runs the one before, so neither waits. Each after the first `follows`.
 */
export const MAX_IN_FLIGHT = 2;

/**
 * One batch of a producer's events for one topic, with consecutive seqs from
 * `firstSeq`; `payloads` are the full envelope JSONs, seqs included.
 */
export interface AppendBatch {
  readonly topic: string;
  readonly firstSeq: number;
  readonly types: readonly string[];
  readonly payloads: readonly string[];
  /**
   * Sent behind a batch of the same lane that Redis has not answered yet:
   * appended only if the seq right before `firstSeq` is there, so a batch in
   * front that was refused or failed can never leave a gap behind it.
   */
  readonly follows?: boolean;
}

/** What Redis did with a batch. */
export interface AppendOutcome {
  /** The producer's last seq in Redis before this batch. */
  readonly before: number;
  /** Seqs missing between `before` and this batch (Redis lost events). */
  readonly gap: number;
  /** Stream id per event; undefined where Redis already had the event. */
  readonly entryIds: (string | undefined)[];
  /**
   * A `follows` batch whose predecessor is not in Redis: nothing was
   * appended, and its events must be sent again from a fresh seq.
   */
  readonly unapplied: boolean;
}

/** Who appends, and how durable an append must be. */
export interface Appender {
  readonly redis: Redis;
  readonly keys: Keys;
  readonly producer: string;
  /** Identifies this producer's live instance (see APPEND_LUA). */
  readonly instance: string;
  /** With n > 0, an append counts only once `WAIT n` confirms it. */
  readonly minReplicasAck: number;
  readonly waitTimeoutMs: number;
}

/**
 * The full envelope JSON: the seq put in front of a buffered body, which is
 * stored without it because its seq may not be known yet.
 */
export function withSeq(body: string, seq: number): string {
  return `{"seq":${seq},${body.slice(1)}`;
}

/** The append script's keys and arguments for one batch: what the publisher, the drainer and the actor host send. */
export interface AppendCall {
  readonly keys: readonly [stream: string, producerSeqs: string, gaps: string];
  readonly args: readonly (string | number)[];
}

/** Lays out one batch for the append script (APPEND_LUA, and each topic section of ACTOR_COMMIT_LUA). */
export function appendCall(a: Pick<Appender, 'keys' | 'producer' | 'instance'>, batch: AppendBatch): AppendCall {
  const args: (string | number)[] = [a.producer, a.instance, batch.firstSeq, batch.payloads.length];
  for (let i = 0; i < batch.payloads.length; i++) args.push(batch.types[i] as string, batch.payloads[i] as string);
  return { keys: [a.keys.stream(batch.topic), a.keys.producerSeqs(batch.topic), a.keys.gaps(batch.topic)], args };
}

/**
 * Reads the append script's reply. Throws QT_PUBLISH_OUT_OF_ORDER when the
 * script refused the batch because another live instance owns the producer id.
 */
export function appendOutcome(reply: readonly unknown[], producer: string, batch: AppendBatch): AppendOutcome {
  const before = Number(reply[0]);
  if (Number(reply[1]) === -1) throw outOfOrder(batch.topic, producer, before);
  if (Number(reply[1]) === -2) return { before, gap: 0, entryIds: [], unapplied: true };
  const entryIds: (string | undefined)[] = [];
  for (let i = 0; i < batch.payloads.length; i++) {
    const id = reply[i + 2];
    entryIds.push(typeof id === 'string' ? id : undefined);
  }
  return { before, gap: Number(reply[1]), entryIds, unapplied: false };
}

/** The error of a batch refused because another live process publishes as the same producer. */
export function outOfOrder(topic: string, producer: string, redisSeq: number): QtError {
  return new QtError(
    'QT_PUBLISH_OUT_OF_ORDER',
    `another process is publishing to "${topic}" as producer "${producer}" (Redis is at seq ${redisSeq})`,
    { details: { topic, producer, redisSeq } },
  );
}

/**
 * Appends a batch through the idempotent append script (and `WAIT` when
 * replicas must confirm). Throws QT_PUBLISH_OUT_OF_ORDER when another live
 * instance owns the producer id, QT_REPLICAS_UNAVAILABLE when too few
 * replicas confirmed; anything else thrown means the outcome is unknown.
 */
export async function appendBatch(a: Appender, batch: AppendBatch): Promise<AppendOutcome> {
  const redis = withScripts(a.redis);
  const call = appendCall(a, batch);
  const keys = call.keys;
  const args = batch.follows ? [...call.args, '1'] : call.args;
  let reply: (string | number)[];
  if (a.minReplicasAck > 0) {
    // WAIT covers every write made before it on this connection, so it goes
    // in the same pipeline, right behind the append.
    const results = await redis
      .pipeline()
      .qtAppend(...keys, ...args)
      .wait(a.minReplicasAck, a.waitTimeoutMs)
      .exec();
    if (!results) throw new QtError('QT_PUBLISH_FAILED', 'append pipeline was discarded');
    const [appendErr, appendReply] = results[0] ?? [];
    if (appendErr) throw appendErr;
    const [waitErr, acked] = results[1] ?? [];
    if (waitErr) throw waitErr;
    reply = appendReply as (string | number)[];
    if (Number(reply[1]) >= 0 && Number(acked) < a.minReplicasAck) {
      throw new QtError(
        'QT_REPLICAS_UNAVAILABLE',
        `only ${acked} of ${a.minReplicasAck} replicas confirmed the append to "${batch.topic}"`,
      );
    }
  } else {
    reply = await redis.qtAppend(...keys, ...args);
  }
  return appendOutcome(reply, a.producer, batch);
}

/**
 * `promise`, or a QT_PUBLISH_FAILED rejection after `ms` (the outcome is then
 * unknown: the append may still land, and a replay of the parked batch skips
 * whatever Redis has). A late settlement is observed and dropped.
 */
export function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new QtError('QT_PUBLISH_FAILED', `redis did not acknowledge an append within ${ms} ms`)),
      ms,
    );
  });
  promise.catch(() => undefined);
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
