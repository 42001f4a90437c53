import type { EventData, EventType } from '../events/catalog.js';
import type { Envelope } from '../events/envelope.js';

/** Who an event is caused by: carried from the event or request being handled. */
export interface PublishOptions {
  readonly correlationId?: string | undefined;
  readonly causationId?: string | undefined;
  /**
   * With a disk buffer: how long Redis may take to acknowledge this event
   * before the outcome counts as unknown and the event is parked in the
   * buffer instead (so `publish()` still resolves, durably). Default: the
   * publisher's `appendTimeoutMs`. A kill switch sets it short, to answer
   * in time even when Redis stalls.
   */
  readonly deadlineMs?: number | undefined;
}

/** What `publish()` resolves with. */
export interface Published<T extends EventType = EventType> {
  /** The envelope; `seq` is known once Redis has the event (`via: 'redis'`). */
  readonly envelope: Omit<Envelope<T>, 'seq'> & { seq?: number };
  /** Where the event is durable now. A buffered event reaches Redis later, in order. */
  readonly via: 'redis' | 'buffer';
  /** The stream entry id; undefined when buffered or when Redis already held the event. */
  readonly entryId: string | undefined;
}

/**
 * Publishes events to their topic streams.
 *
 * Contract:
 * - `publish()` resolves only once the event is durable: appended by Redis
 *   (and confirmed by `minReplicasAck` replicas when set), or committed to the
 *   disk buffer. Otherwise it rejects with a coded `QtError`; it never drops
 *   an event silently.
 * - For one publisher and one topic, events reach the stream in call order,
 *   each with the next `seq` of this producer on that topic, across Redis
 *   outages and restarts of this process.
 * - Appends are idempotent per `(producer, seq)`: re-sending never duplicates
 *   an entry, so events whose outcome was unknown are simply sent again.
 * - Invalid data rejects at once with QT_ENVELOPE_INVALID; nothing is sent.
 */
export interface Publisher {
  publish<T extends EventType>(type: T, data: EventData<T>, options?: PublishOptions): Promise<Published<T>>;
  /** Waits for queued publishes, then refuses new ones. Idempotent. */
  close(): Promise<void>;
}
