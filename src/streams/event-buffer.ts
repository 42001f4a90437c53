import type { BufferedEvent, BufferedRow } from '../buffer/types.js';

export type { BufferedEvent, BufferedRow };

/**
 * The disk buffer as the publish path uses it: what the publisher and the
 * drainer need. `DiskBuffer` (src/buffer/) implements it; the publisher
 * depends on this interface only.
 */
export interface EventBuffer {
  /** Stable per buffer file; names this producer's instance in Redis. */
  readonly instanceId: string;
  /** Resolves once the events are durable; order across calls is call order. */
  append(events: readonly BufferedEvent[]): Promise<void>;
  backlog(topic: string): number;
  topicsWithBacklog(): string[];
  oldest(topic: string, limit: number): BufferedRow[];
  /** Gives seqs to rows of `topic` that have none, durably. */
  assignSeqs(topic: string, rows: readonly { id: number; seq: number }[]): void;
  remove(ids: readonly number[]): void;
  /** Deletes every row of `topic` with an id up to `lastId` (a window `oldest` returned). */
  removeThrough(topic: string, lastId: number): void;
  maxSeq(topic: string): number | undefined;
}
