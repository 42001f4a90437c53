import type { Redis } from 'ioredis';
import { QtError } from '../errors.js';
import type { Keys } from './keys.js';
import { withScripts } from './scripts.js';

/**
 * One batch of a producer's events for one topic, with consecutive seqs from
 * `firstSeq`; `payloads` are the full envelope JSONs, seqs included.
 */
export interface AppendBatch {
  readonly topic: string;
  readonly firstSeq: number;
  readonly types: readonly string[];
  readonly payloads: readonly string[];
}

/** What Redis did with a batch. */
export interface AppendOutcome {
  /** The producer's last seq in Redis before this batch. */
  readonly before: number;
  /** Seqs missing between `before` and this batch (Redis lost events). */
  readonly gap: number;
  /** Stream id per event; undefined where Redis already had the event. */
  readonly entryIds: (string | undefined)[];
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

/**
 * Appends a batch through the idempotent append script (and `WAIT` when
 * replicas must confirm). Throws QT_PUBLISH_OUT_OF_ORDER when another live
 * instance owns the producer id, QT_REPLICAS_UNAVAILABLE when too few
 * replicas confirmed; anything else thrown means the outcome is unknown.
 */
export async function appendBatch(a: Appender, batch: AppendBatch): Promise<AppendOutcome> {
  const redis = withScripts(a.redis);
  const args: (string | number)[] = [a.producer, a.instance, batch.firstSeq, batch.payloads.length];
  for (let i = 0; i < batch.payloads.length; i++) args.push(batch.types[i] as string, batch.payloads[i] as string);
  const keys = [a.keys.stream(batch.topic), a.keys.producerSeqs(batch.topic), a.keys.gaps(batch.topic)] as const;
  let reply: (string | number)[];
  if (a.minReplicasAck > 0) {
    // WAIT covers every write made before it on this connection, so it goes
    // in the same pipeline, right behind the append.
    const results = await redis
      .pipeline()
      .qtAppend(...keys, ...args)
      .wait(a.minReplicasAck, a.waitTimeoutMs)
      .exec();
    if (!results) throw new Error('append pipeline was discarded');
    const [appendErr, appendReply] = results[0] ?? [];
    if (appendErr) throw appendErr;
    const [waitErr, acked] = results[1] ?? [];
    if (waitErr) throw waitErr;
    reply = appendReply as (string | number)[];
    if (Number(reply[1]) !== -1 && Number(acked) < a.minReplicasAck) {
      throw new QtError(
        'QT_REPLICAS_UNAVAILABLE',
        `only ${acked} of ${a.minReplicasAck} replicas confirmed the append to "${batch.topic}"`,
      );
    }
  } else {
    reply = await redis.qtAppend(...keys, ...args);
  }
  const before = Number(reply[0]);
  if (Number(reply[1]) === -1) {
    throw new QtError(
      'QT_PUBLISH_OUT_OF_ORDER',
      `another process is publishing to "${batch.topic}" as producer "${a.producer}" (Redis is at seq ${before})`,
      { details: { topic: batch.topic, producer: a.producer, redisSeq: before } },
    );
  }
  const entryIds: (string | undefined)[] = [];
  for (let i = 0; i < batch.payloads.length; i++) {
    const id = reply[i + 2];
    entryIds.push(typeof id === 'string' ? id : undefined);
  }
  return { before, gap: Number(reply[1]), entryIds };
}
