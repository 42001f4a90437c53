import type { Redis } from 'ioredis';
import { QtError } from '../errors.js';
import type { Envelope } from '../events/envelope.js';

/** One Redis command, as `[name, ...args]`, run inside the ack transaction. */
export type CommitCommand = readonly [name: string, ...args: (string | number | Buffer)[]];

/** An entry ready to ack; `handled` is set when its handler ran (not for duplicates and dead letters). */
export interface Ack {
  readonly entryId: string;
  /** '' for an entry that was not a valid envelope: acked, nothing recorded. */
  readonly producer: string;
  readonly seq: number;
  readonly handled?: Envelope;
}

/** What one commit covers: a group's acks on a topic stream. */
export interface CommitBatch {
  readonly stream: string;
  readonly groupSeqs: string;
  readonly group: string;
  readonly acks: readonly Ack[];
  /** The events whose handlers ran, in order. */
  readonly handled: readonly Envelope[];
  /**
   * The handlers ran without the group's processed-record being asked first
   * (`dedupAtCommit`): the committer must refuse the whole batch, writing
   * nothing, if the group already processed one of these events.
   */
  readonly unchecked?: boolean;
}

/**
 * Writes a batch's commit: XACK plus the group's processed-record (the
 * commit-record part of COMMIT_LUA, `commitRecordArgs`), and anything that
 * must land with it. Resolves with the raw gap list of the record script.
 */
export type Committer = (batch: CommitBatch) => Promise<readonly unknown[]>;

/**
 * The record script's arguments after its keys: group, then the acks as
 * `read_acks` (scripts.ts) takes them: n, the entry ids joined by ',', the
 * number of runs, and per run of one producer's rising seqs (producer,
 * firstSeq, count).
 */
export function commitRecordArgs(group: string, acks: readonly Ack[]): (string | number)[] {
  return [group, acks.length, acks.map((a) => a.entryId).join(','), ...seqRuns(acks)];
}

/**
 * The (producer, seq) of each item as runs: the number of runs, then per run
 * (producer, firstSeq, count), where a run holds consecutive items of one
 * producer whose seqs rise by one.
 */
export function seqRuns(items: readonly { readonly producer: string; readonly seq: number }[]): (string | number)[] {
  const out: (string | number)[] = [0]; // the number of runs, then the runs
  let at = -1; // index in out of the current run's count
  let next = 0;
  let producer: string | undefined;
  for (const { producer: p, seq } of items) {
    if (at >= 0 && p === producer && seq === next) {
      (out[at] as number)++;
    } else {
      out.push(p, seq, 1);
      at = out.length - 1;
      producer = p;
      (out[0] as number)++;
    }
    next = seq + 1;
  }
  return out;
}

/** A gap reported by the record script, before it is attributed to a topic and group. */
export interface RawGap {
  readonly producer: string;
  readonly missing: number;
  readonly afterSeq: number;
  readonly seenSeq: number;
}

/** Reads the record script's flat gap list: producer, missing, lowBefore, seq, ... */
export function parseGaps(flat: readonly unknown[]): RawGap[] {
  const gaps: RawGap[] = [];
  for (let i = 0; i + 3 < flat.length; i += 4) {
    gaps.push({
      producer: String(flat[i]),
      missing: Number(flat[i + 1]),
      afterSeq: Number(flat[i + 2]),
      seenSeq: Number(flat[i + 3]),
    });
  }
  return gaps;
}

/**
 * The default committer: the record script alone, or inside MULTI/EXEC with
 * the extra commands `commitWith` gives for the handled events.
 */
export function recordCommitter(
  redis: Redis,
  commitWith?: (handled: readonly Envelope[]) => readonly CommitCommand[],
): Committer {
  return async (batch) => {
    const args = commitRecordArgs(batch.group, batch.acks);
    const extra = commitWith && batch.handled.length > 0 ? commitWith(batch.handled) : [];
    if (extra.length === 0) return redis.qtCommit(batch.stream, batch.groupSeqs, ...args);
    const tx = redis.multi().qtCommit(batch.stream, batch.groupSeqs, ...args);
    for (const [name, ...cmdArgs] of extra) tx.call(name, ...cmdArgs);
    const results = await tx.exec();
    if (!results) throw new QtError('QT_COMMIT_FAILED', 'commit transaction was discarded');
    const failed = results.find(([err]) => err);
    if (failed) throw failed[0];
    return results[0]?.[1] as unknown[];
  };
}
