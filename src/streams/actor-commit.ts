import type { Redis } from 'ioredis';
import { QtError } from '../errors.js';
import {
  type AppendBatch,
  type Appender,
  type AppendOutcome,
  appendCall,
  appendOutcome,
  outOfOrder,
} from './append.js';
import { type CommitBatch, commitRecordArgs } from './commit-record.js';
import { withScripts } from './scripts.js';

/** A key written with an actor's snapshot: a read model other services check. */
export interface Projection {
  readonly key: string;
  readonly value: string;
}

/** One actor commit (ACTOR_COMMIT_LUA): all of it lands, or none of it. */
export interface ActorCommit {
  readonly actor: string;
  readonly versionKey: string;
  readonly snapshotKey: string;
  /** The version this host loaded or last wrote; the commit is refused if Redis holds another. */
  readonly expectedVersion: number;
  readonly snapshot: string;
  /** The consumed entries to ack with it; none for a command sent to the actor directly. */
  readonly consumed?: CommitBatch;
  /** Who publishes the outputs (the actor's producer id and this host's instance). */
  readonly appender: Pick<Appender, 'keys' | 'producer' | 'instance'>;
  /** At most one batch per topic. */
  readonly outputs: readonly AppendBatch[];
  readonly projections: readonly Projection[];
}

/** What a landed commit did. */
export interface ActorCommitted {
  readonly version: number;
  /** The record script's raw gap list for `consumed`. */
  readonly gaps: readonly unknown[];
  /** Per output batch, in order. */
  readonly appended: readonly AppendOutcome[];
}

/**
 * Runs an actor's commit as one script. Throws QT_ACTOR_STALE when another
 * live host committed this actor since `expectedVersion`, and
 * QT_PUBLISH_OUT_OF_ORDER when an output batch would reuse seqs another live
 * instance of the producer holds, and QT_ALREADY_PROCESSED when the batch
 * was handled unchecked and holds an event the group already processed; in
 * each case Redis wrote nothing.
 * Anything else thrown means the outcome is unknown.
 */
export async function commitActor(redis: Redis, c: ActorCommit): Promise<ActorCommitted> {
  const keys: string[] = [c.versionKey, c.snapshotKey];
  const acks = c.consumed?.acks ?? [];
  keys.push(c.consumed?.stream ?? c.versionKey, c.consumed?.groupSeqs ?? c.versionKey);
  const args: (string | number)[] = [
    c.expectedVersion,
    c.snapshot,
    ...commitRecordArgs(c.consumed?.group ?? '', acks),
    c.outputs.length,
  ];
  for (const batch of c.outputs) {
    const call = appendCall(c.appender, batch);
    keys.push(...call.keys);
    args.push(...call.args);
  }
  args.push(c.projections.length);
  for (const p of c.projections) {
    keys.push(p.key);
    args.push(p.value);
  }
  if (c.consumed?.unchecked) args.push('1');
  const reply = (await withScripts(redis).qtActorCommit(keys.length, ...keys, ...args)) as unknown[];
  const status = String(reply[0]);
  if (status === 'stale') {
    throw new QtError(
      'QT_ACTOR_STALE',
      `actor "${c.actor}" was committed by another live process (version ${reply[1]}, this one expected ${c.expectedVersion})`,
      { details: { actor: c.actor, version: Number(reply[1]), expected: c.expectedVersion } },
    );
  }
  if (status === 'seen') {
    const ack = acks[Number(reply[1]) - 1];
    throw new QtError(
      'QT_ALREADY_PROCESSED',
      `actor "${c.actor}" was handed an event its group already processed (producer ${ack?.producer}, seq ${ack?.seq})`,
      { details: { actor: c.actor, producer: ack?.producer, seq: ack?.seq, entryId: ack?.entryId } },
    );
  }
  if (status === 'refused') {
    const batch = c.outputs[Number(reply[1]) - 1] as AppendBatch;
    throw outOfOrder(batch.topic, c.appender.producer, Number(reply[2]));
  }
  const appended = (reply[3] as unknown[][]).map((r, i) =>
    appendOutcome(r, c.appender.producer, c.outputs[i] as AppendBatch),
  );
  return { version: Number(reply[1]), gaps: reply[2] as unknown[], appended };
}
