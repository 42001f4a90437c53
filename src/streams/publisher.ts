import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { v7 as uuidv7 } from 'uuid';
import { DEFAULT_APPEND_TIMEOUT_MS, DEFAULT_PUBLISH_BATCH } from '../config/schema.js';
import { isQtError, QtError } from '../errors.js';
import { type EventData, type EventType, topicOf } from '../events/catalog.js';
import { type Logger, silentLogger } from '../log.js';
import { type Appender, type AppendOutcome, appendBatch, MAX_IN_FLIGHT, withDeadline } from './append.js';
import { type DraftEnvelope, draftEnvelope, isoClock } from './draft-envelope.js';
import type { EventBuffer } from './event-buffer.js';
import { assertKeyPart, type Keys } from './keys.js';
import type { BacklogProgress, LaneHandoff } from './lane-handoff.js';
import { type BusMetrics, busMetrics } from './metrics.js';
import type { Published, Publisher, PublishOptions } from './publisher-contract.js';
import { RedisLink } from './redis-link.js';

export type { Published, Publisher, PublishOptions } from './publisher-contract.js';

/** Settings of {@link RedisPublisher}. */
export interface RedisPublisherOptions {
  readonly redis: Redis;
  /** The breaker-guarded connection; made from `redis` when absent. */
  readonly link?: RedisLink;
  readonly keys: Keys;
  /** Stable producer id: unique per process, the same across its restarts. */
  readonly producer: string;
  /** The service name written into `source`. */
  readonly source: string;
  /**
   * Where events wait while Redis is unreachable. Without one, a publish that
   * Redis does not acknowledge rejects with QT_PUBLISH_FAILED.
   */
  readonly buffer?: EventBuffer;
  readonly batchSize?: number;
  readonly minReplicasAck?: number;
  readonly waitTimeoutMs?: number;
  /**
   * With a disk buffer: how long an append may go unanswered before its
   * outcome counts as unknown and the batch is parked (in doubt) instead;
   * default {@link DEFAULT_APPEND_TIMEOUT_MS}. A stalled Redis then costs a
   * publish this long, not the command timeout.
   */
  readonly appendTimeoutMs?: number;
  readonly log?: Logger;
  readonly registry?: Registry;
  readonly now?: () => Date;
}

interface Pending {
  readonly type: EventType;
  /** Ours until resolved: the seq is set on it when one is assigned. */
  readonly envelope: DraftEnvelope;
  readonly resolve: (p: Published) => void;
  readonly reject: (err: unknown) => void;
  readonly deadlineMs: number | undefined;
}

/** One batch sent to Redis and not settled yet. */
interface Flight {
  readonly batch: Pending[];
  /** Set once the batch has its seqs (the first batch after a failure reads them from Redis first). */
  firstSeq: number | undefined;
  outcome: Promise<AppendOutcome>;
}

/** A topic's publish queue. While `buffered`, its events go to the disk buffer and the drainer owns its seqs. */
interface Lane {
  readonly topic: string;
  readonly queue: Pending[];
  mode: 'direct' | 'buffered';
  /** Next seq for a direct append; unknown until read back from Redis. */
  nextSeq: number | undefined;
  /** Highest seq this process assigned on the topic. */
  lastAssigned: number;
  /** Highest seq Redis acknowledged in this process. */
  lastAcked: number;
  /**
   * The drainer is about to empty the backlog: keep new events in memory
   * (unacknowledged) instead of parking them, so the lane can go direct.
   */
  holding: boolean;
  running: Promise<void> | undefined;
}

/**
 * The publisher. Each topic is a lane with at most one batch in flight:
 * publishes made meanwhile form the next batch (one Lua call), so a lone
 * publish goes out at once and a burst goes out in large batches, with no
 * timer. With a disk buffer, a batch whose outcome is unknown, and everything
 * queued behind it, is parked in the buffer (the batch keeps its seqs, "in
 * doubt") and the lane stays buffered until the drainer has replayed it all.
 * The direct-or-buffer choice is made in the lane, in order, never around
 * a batch in flight, so parked events can never be overtaken.
 */
export class RedisPublisher implements Publisher, LaneHandoff {
  readonly #link: RedisLink;
  readonly #appender: Appender;
  readonly #buffer: EventBuffer | undefined;
  readonly #source: string;
  readonly #batchSize: number;
  readonly #appendTimeoutMs: number;
  readonly #log: Logger;
  readonly #metrics: BusMetrics;
  readonly #isoNow: () => string;
  readonly #lanes = new Map<string, Lane>();
  readonly #parkedListeners = new Set<(topic: string) => void>();
  #closing: Promise<void> | undefined;

  constructor(options: RedisPublisherOptions) {
    this.#link = options.link ?? new RedisLink(options.redis, { log: options.log, registry: options.registry });
    this.#buffer = options.buffer;
    this.#appender = {
      redis: this.#link.redis,
      keys: options.keys,
      producer: assertKeyPart('producer', options.producer),
      // With a buffer the instance is the buffer file's: a restarted producer
      // is recognised as itself when it re-sends its in-doubt events.
      instance: options.buffer?.instanceId ?? uuidv7(),
      minReplicasAck: options.minReplicasAck ?? 0,
      waitTimeoutMs: options.waitTimeoutMs ?? 1_000,
    };
    this.#source = options.source;
    this.#batchSize = options.batchSize ?? DEFAULT_PUBLISH_BATCH;
    // A WAIT that runs its full time must come back as "too few replicas", not as a timeout.
    this.#appendTimeoutMs = Math.max(
      options.appendTimeoutMs ?? DEFAULT_APPEND_TIMEOUT_MS,
      (this.#appender.minReplicasAck > 0 ? this.#appender.waitTimeoutMs : 0) + 1_000,
    );
    this.#log = options.log ?? silentLogger;
    this.#metrics = busMetrics(options.registry ?? new Registry());
    this.#isoNow = isoClock(options.now);
    // Topics with rows left from an earlier run stay buffered until drained.
    for (const topic of this.#buffer?.topicsWithBacklog() ?? []) this.#lane(topic).mode = 'buffered';
  }

  /** The appender the drainer shares, so both write as the same producer instance. */
  get appender(): Appender {
    return this.#appender;
  }

  /** The breaker-guarded connection. */
  get link(): RedisLink {
    return this.#link;
  }

  publish<T extends EventType>(type: T, data: EventData<T>, options: PublishOptions = {}): Promise<Published<T>> {
    if (this.#closing) {
      return Promise.reject(new QtError('QT_PUBLISHER_CLOSED', 'publisher is closed'));
    }
    let envelope: DraftEnvelope;
    try {
      envelope = draftEnvelope(type, data, options, {
        source: this.#source,
        producer: this.#appender.producer,
        time: this.#isoNow(),
      });
    } catch (err) {
      return Promise.reject(err);
    }
    const lane = this.#lane(topicOf(type));
    return new Promise<Published<T>>((resolve, reject) => {
      lane.queue.push({
        type,
        envelope,
        resolve: resolve as (p: Published) => void,
        reject,
        deadlineMs: options.deadlineMs,
      });
      this.#kick(lane);
    });
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const lane of this.#lanes.values()) {
        this.#releaseHold(lane.topic);
        await lane.running;
      }
    })();
    return this.#closing;
  }

  onParked(listener: (topic: string) => void): () => void {
    this.#parkedListeners.add(listener);
    return () => this.#parkedListeners.delete(listener);
  }

  highestSeq(topic: string): number {
    return this.#lanes.get(topic)?.lastAssigned ?? 0;
  }

  report(topic: string, progress: BacklogProgress): void {
    if (progress.kind === 'drained') this.#resumeDirect(topic, progress.nextSeq);
    else if (progress.kind === 'catching-up') this.#holdForCatchUp(topic);
    else this.#releaseHold(topic);
  }

  /** How a topic is published now: straight to Redis, or through the disk buffer until its backlog is replayed. */
  laneMode(topic: string): 'direct' | 'buffered' {
    return this.#lanes.get(topic)?.mode ?? 'direct';
  }

  /**
   * The drainer emptied a topic's backlog: publish directly again, from
   * `nextSeq` (read back from Redis when undefined). Ignored unless the
   * backlog really is empty at this moment.
   */
  #resumeDirect(topic: string, nextSeq: number | undefined): void {
    const lane = this.#lane(topic);
    if (lane.mode !== 'buffered' || (this.#buffer?.backlog(topic) ?? 0) > 0) return;
    lane.mode = 'direct';
    lane.holding = false;
    lane.nextSeq = nextSeq;
    if (nextSeq !== undefined) lane.lastAssigned = Math.max(lane.lastAssigned, nextSeq - 1);
    this.#log.info({ topic, nextSeq }, 'backlog replayed; publishing directly again');
    if (lane.queue.length > 0) this.#kick(lane);
  }

  /**
   * The drainer has little left of a topic: hold new events in memory rather
   * than parking them behind it. Without this, steady publishing could keep
   * a lane buffered for ever, each new event landing in the buffer just
   * before the drainer empties it.
   */
  #holdForCatchUp(topic: string): void {
    const lane = this.#lane(topic);
    if (lane.mode === 'buffered') lane.holding = true;
  }

  /** The drainer could not finish (Redis failed again), or we are closing: park held events after all. */
  #releaseHold(topic: string): void {
    const lane = this.#lanes.get(topic);
    if (!lane?.holding) return;
    lane.holding = false;
    if (lane.queue.length > 0) this.#kick(lane);
  }

  #lane(topic: string): Lane {
    let lane = this.#lanes.get(topic);
    if (!lane) {
      lane = {
        topic,
        queue: [],
        mode: 'direct',
        nextSeq: undefined,
        lastAssigned: 0,
        lastAcked: 0,
        holding: false,
        running: undefined,
      };
      this.#lanes.set(topic, lane);
    }
    return lane;
  }

  #kick(lane: Lane): void {
    if (lane.running || lane.holding) return;
    // Start on the next microtask so publishes made in the same tick share a batch.
    lane.running = Promise.resolve()
      .then(() => this.#run(lane))
      .finally(() => {
        lane.running = undefined;
        if (lane.queue.length > 0) this.#kick(lane);
      });
  }

  /**
   * Sends the lane's queue as batches, up to {@link MAX_IN_FLIGHT} at once on
   * the one connection (Redis runs them in the order sent), and settles them
   * in that order. Only the first batch after a failure, which must learn
   * the seq from Redis, goes alone.
   */
  async #run(lane: Lane): Promise<void> {
    const flights: Flight[] = [];
    while (lane.queue.length > 0 || flights.length > 0) {
      if (
        flights.length === 0 &&
        this.#buffer &&
        (lane.mode === 'buffered' || this.#link.circuitOpen || !this.#link.ready)
      ) {
        lane.mode = 'buffered';
        await this.#park(lane, lane.queue.splice(0), undefined);
        continue;
      }
      while (
        lane.mode === 'direct' &&
        lane.queue.length > 0 &&
        flights.length < MAX_IN_FLIGHT &&
        (flights.length === 0 || lane.nextSeq !== undefined)
      ) {
        flights.push(this.#launch(lane, flights.length > 0));
      }
      const head = flights.shift();
      if (head) await this.#settle(lane, head, flights);
    }
  }

  /** Takes the next batch off the queue, gives it its seqs and sends it; `follows` when a batch is in flight ahead of it. */
  #launch(lane: Lane, follows: boolean): Flight {
    const batch = lane.queue.splice(0, this.#batchSize);
    const flight: Flight = { batch, firstSeq: undefined, outcome: Promise.resolve(undefined as never) };
    const send = (firstSeq: number): Promise<AppendOutcome> => {
      flight.firstSeq = firstSeq;
      lane.nextSeq = firstSeq + batch.length;
      lane.lastAssigned = Math.max(lane.lastAssigned, firstSeq + batch.length - 1);
      return this.#link.execute(() =>
        appendBatch(this.#appender, {
          topic: lane.topic,
          firstSeq,
          types: batch.map((p) => p.type),
          follows,
          // One serialization per event, seq included; bodies without a
          // seq are made only if the batch has to be parked.
          payloads: batch.map((p, i) => {
            p.envelope.seq = firstSeq + i;
            return JSON.stringify(p.envelope);
          }),
        }),
      );
    };
    // Bounded with a buffer: against a stalled Redis the batch is parked (in doubt once it has seqs).
    const bounded = <T>(p: Promise<T>): Promise<T> => (this.#buffer ? withDeadline(p, this.#deadline(batch)) : p);
    if (lane.nextSeq !== undefined) {
      flight.outcome = observed(bounded(send(lane.nextSeq)));
      return flight;
    }
    const lookup = this.#link.execute(() =>
      this.#appender.redis.hget(this.#appender.keys.producerSeqs(lane.topic), this.#appender.producer),
    );
    // Redis's record, not lastAssigned: seqs of a batch that was refused or
    // failed (and rejected to its caller) are reused, leaving no gap. A
    // lookup that ran out of time sends nothing.
    flight.outcome = observed(bounded(lookup).then((last) => bounded(send((last === null ? 0 : Number(last)) + 1))));
    return flight;
  }

  /** Settles the oldest batch in flight; `behind` are those sent after it, still in flight. */
  async #settle(lane: Lane, head: Flight, behind: Flight[]): Promise<void> {
    try {
      const outcome = await head.outcome;
      if (outcome.unapplied) {
        // The batch in front of it failed and was handled. Those behind it
        // cannot have been appended either (each follows the one in front):
        // all go back first in line, in order, to be sent from a fresh seq.
        lane.nextSeq = undefined;
        const again = behind.splice(0);
        for (const f of again) f.outcome.catch(() => undefined);
        lane.queue.unshift(...head.batch, ...again.flatMap((f) => f.batch));
        return;
      }
      this.#acknowledged(lane, head.batch, head.firstSeq as number, outcome.before, outcome.entryIds);
    } catch (err) {
      lane.nextSeq = undefined;
      if (isQtError(err, 'QT_PUBLISH_OUT_OF_ORDER') || !this.#buffer) {
        // Refused or failed for sure; the batches behind it settle on their own (appended only if it was).
        this.#fail(lane, head.batch, err);
        return;
      }
      // Outcome unknown: park the batch with its seqs (in doubt), and everything behind it, in order.
      this.#log.warn(
        { topic: lane.topic, events: head.batch.length, err: (err as Error).message },
        'redis unavailable; buffering',
      );
      lane.mode = 'buffered';
      await this.#park(lane, head.batch, head.firstSeq);
      for (const f of behind.splice(0)) {
        f.outcome.catch(() => undefined);
        await this.#park(lane, f.batch, f.firstSeq);
      }
      await this.#park(lane, lane.queue.splice(0), undefined);
    }
  }

  /** The shortest deadline of a batch's events. */
  #deadline(batch: Pending[]): number {
    let ms = this.#appendTimeoutMs;
    for (const p of batch) if (p.deadlineMs !== undefined && p.deadlineMs < ms) ms = p.deadlineMs;
    return ms;
  }

  #acknowledged(
    lane: Lane,
    batch: Pending[],
    firstSeq: number,
    before: number,
    entryIds: (string | undefined)[],
  ): void {
    if (before < lane.lastAcked) {
      // Redis acknowledged seqs it no longer has: it restarted without them
      // or failed over to a replica that never got them.
      this.#log.error(
        { topic: lane.topic, producer: this.#appender.producer, lastAcked: lane.lastAcked, redisLast: before },
        'redis lost acknowledged events of this producer',
      );
    }
    let duplicates = 0;
    batch.forEach((p, i) => {
      const entryId = entryIds[i];
      if (entryId === undefined) duplicates++;
      p.resolve({ envelope: p.envelope, via: 'redis', entryId });
    });
    lane.lastAcked = firstSeq + batch.length - 1;
    this.#metrics.published.inc({ topic: lane.topic, outcome: 'redis' }, batch.length - duplicates);
    if (duplicates > 0) this.#metrics.published.inc({ topic: lane.topic, outcome: 'duplicate' }, duplicates);
  }

  #fail(lane: Lane, batch: Pending[], cause: unknown): void {
    this.#metrics.published.inc({ topic: lane.topic, outcome: 'failed' }, batch.length);
    this.#log.error({ topic: lane.topic, events: batch.length, err: (cause as Error).message }, 'publish failed');
    const err = isQtError(cause)
      ? cause
      : new QtError('QT_PUBLISH_FAILED', `publish to "${lane.topic}" failed: ${(cause as Error).message}`, { cause });
    for (const p of batch) p.reject(err);
  }

  /** Commits events to the disk buffer, then resolves them. `firstSeq` marks them in doubt. */
  async #park(lane: Lane, batch: Pending[], firstSeq: number | undefined): Promise<void> {
    if (batch.length === 0) return;
    const buffer = this.#buffer as EventBuffer;
    try {
      await buffer.append(
        batch.map((p, i) => ({
          topic: lane.topic,
          type: p.type,
          seq: firstSeq === undefined ? null : firstSeq + i,
          body: JSON.stringify({ ...p.envelope, seq: undefined }),
        })),
      );
    } catch (err) {
      // Buffer full or closed: the caller learns it; nothing is dropped silently.
      this.#fail(lane, batch, err);
      return;
    }
    for (const p of batch) p.resolve({ envelope: p.envelope, via: 'buffer', entryId: undefined });
    this.#metrics.published.inc({ topic: lane.topic, outcome: 'buffer' }, batch.length);
    for (const l of this.#parkedListeners) l(lane.topic);
  }
}

/**
 * `promise`, marked as handled: a batch behind the one being awaited may
 * fail first (a dropped connection fails them all at once, and parking the
 * first takes a turn of the event loop), and an unobserved rejection would
 * stop the process. Its outcome is still read, in order, by #settle.
 */
function observed<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}
