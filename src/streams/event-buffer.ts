/**
 * What the publisher and the drainer need from a disk buffer. `DiskBuffer`
 * (src/buffer/) implements it; the publisher depends on this interface only.
 */

/** An event parked in the buffer. */
export interface BufferedEvent {
  readonly topic: string;
  readonly type: string;
  /** Set when the event was sent to Redis with an unknown outcome (in doubt). */
  readonly seq: number | null;
  /** The envelope JSON without its seq. */
  readonly body: string;
}

/** A committed buffer row. */
export interface BufferedRow extends BufferedEvent {
  readonly id: number;
  readonly createdAt: number;
}

/** The buffer, as the publish path uses it. */
export interface EventBuffer {
  /** Stable per buffer file; names this producer's instance in Redis. */
  readonly instanceId: string;
  /** Resolves once the events are durable; order across calls is call order. */
  append(events: readonly BufferedEvent[]): Promise<void>;
  backlog(topic: string): number;
  topicsWithBacklog(): string[];
  oldest(topic: string, limit: number): BufferedRow[];
  assignSeqs(rows: readonly { id: number; seq: number }[]): void;
  remove(ids: readonly number[]): void;
  maxSeq(topic: string): number | undefined;
}
