import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { v7 as uuidv7 } from 'uuid';
import { z } from 'zod';
import { DEFAULT_PUBLISH_BATCH } from '../config/schema.js';
import { isQtError, QtError } from '../errors.js';
import {
  EVENT_CATALOG,
  EVENT_SCHEMA_VERSION,
  type EventData,
  type EventType,
  isEventType,
  topicOf,
} from '../events/catalog.js';
import type { Envelope } from '../events/envelope.js';
import { type Logger, silentLogger } from '../log.js';
import { assertKeyPart, type Keys } from './keys.js';
import { type BusMetrics, busMetrics } from './metrics.js';
import { withScripts } from './scripts.js';

/** Who an event is caused by: carried from the event or request being handled. */
export interface PublishOptions {
  readonly correlationId?: string | undefined;
  readonly causationId?: string | undefined;
}

/** What `publish()` resolves with. */
export interface Published<T extends EventType = EventType> {
  readonly envelope: Envelope<T>;
  /** The stream entry id; undefined when Redis already held this event. */
  readonly entryId: string | undefined;
}

/**
 * Publishes events to their topic streams.
 *
 * Contract:
 * - `publish()` resolves only once Redis has acknowledged the event; it
 *   rejects with a coded `QtError` otherwise, never silently dropping.
 * - For one publisher and one topic, events reach the stream in call order,
 *   each with the next `seq` of this producer on that topic. Seqs continue
 *   across restarts (they are read back from Redis).
 * - Appends are idempotent per `(producer, seq)`: re-sending a batch never
 *   duplicates an entry.
 * - Invalid data rejects at once with QT_ENVELOPE_INVALID; nothing is sent.
 */
export interface Publisher {
  publish<T extends EventType>(type: T, data: EventData<T>, options?: PublishOptions): Promise<Published<T>>;
  /** Waits for queued publishes, then refuses new ones. Idempotent. */
  close(): Promise<void>;
}

/** Settings of {@link RedisPublisher}. */
export interface RedisPublisherOptions {
  readonly redis: Redis;
  readonly keys: Keys;
  /** Stable producer id: unique per process, the same across its restarts. */
  readonly producer: string;
  /** The service name written into `source`. */
  readonly source: string;
  readonly batchSize?: number;
  readonly log?: Logger;
  readonly registry?: Registry;
  readonly now?: () => Date;
}

interface Pending {
  readonly type: EventType;
  readonly data: unknown;
  readonly correlationId: string | undefined;
  readonly causationId: string | undefined;
  readonly time: string;
  readonly resolve: (p: Published) => void;
  readonly reject: (err: unknown) => void;
}

interface Lane {
  readonly topic: string;
  readonly queue: Pending[];
  /** Next seq to assign; unknown until read back from Redis. */
  nextSeq: number | undefined;
  /** Highest seq Redis acknowledged in this process. */
  lastAcked: number;
  draining: Promise<void> | undefined;
}

const CausalIdSchema = z.string().min(1).max(128).optional();

/**
 * The direct-to-Redis publisher. Each topic is a lane with at most one batch
 * in flight: publishes made while a batch is in flight form the next batch
 * (one Lua call), so a lone publish goes out at once and a burst is sent in
 * large batches without a timer.
 */
export class RedisPublisher implements Publisher {
  readonly #redis: Redis;
  readonly #keys: Keys;
  readonly #producer: string;
  readonly #source: string;
  readonly #batchSize: number;
  readonly #log: Logger;
  readonly #metrics: BusMetrics;
  readonly #now: (() => Date) | undefined;
  #isoMs = -1;
  #iso = '';
  readonly #lanes = new Map<string, Lane>();
  /** Identifies this process's instance of the producer in Redis. */
  readonly #instance = uuidv7();
  #closing: Promise<void> | undefined;

  constructor(options: RedisPublisherOptions) {
    this.#redis = withScripts(options.redis);
    this.#keys = options.keys;
    this.#producer = assertKeyPart('producer', options.producer);
    this.#source = options.source;
    this.#batchSize = options.batchSize ?? DEFAULT_PUBLISH_BATCH;
    this.#log = options.log ?? silentLogger;
    this.#metrics = busMetrics(options.registry ?? new Registry());
    this.#now = options.now;
  }

  publish<T extends EventType>(type: T, data: EventData<T>, options: PublishOptions = {}): Promise<Published<T>> {
    if (this.#closing) {
      return Promise.reject(new QtError('QT_PUBLISHER_CLOSED', 'publisher is closed'));
    }
    if (!isEventType(type)) {
      return Promise.reject(new QtError('QT_UNKNOWN_EVENT_TYPE', `unknown event type "${String(type)}"`));
    }
    const parsed = EVENT_CATALOG[type].safeParse(data);
    const ids = CausalIdSchema.safeParse(options.correlationId);
    const cause = CausalIdSchema.safeParse(options.causationId);
    if (!parsed.success || !ids.success || !cause.success) {
      const error = parsed.error ?? ids.error ?? cause.error;
      return Promise.reject(
        new QtError('QT_ENVELOPE_INVALID', `invalid ${type}: ${error ? z.prettifyError(error) : 'bad ids'}`, {
          details: { issues: error?.issues },
        }),
      );
    }
    const lane = this.#lane(topicOf(type));
    return new Promise<Published<T>>((resolve, reject) => {
      lane.queue.push({
        type,
        data: parsed.data,
        correlationId: options.correlationId,
        causationId: options.causationId,
        time: this.#isoNow(),
        resolve: resolve as (p: Published) => void,
        reject,
      });
      this.#kick(lane);
    });
  }

  /** The event time; formatting a date is costly, so it is reused within a millisecond. */
  #isoNow(): string {
    if (this.#now) return this.#now().toISOString();
    const ms = Date.now();
    if (ms !== this.#isoMs) {
      this.#isoMs = ms;
      this.#iso = new Date(ms).toISOString();
    }
    return this.#iso;
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const lane of this.#lanes.values()) await lane.draining;
    })();
    return this.#closing;
  }

  #lane(topic: string): Lane {
    let lane = this.#lanes.get(topic);
    if (!lane) {
      lane = { topic, queue: [], nextSeq: undefined, lastAcked: 0, draining: undefined };
      this.#lanes.set(topic, lane);
    }
    return lane;
  }

  #kick(lane: Lane): void {
    if (lane.draining) return;
    // Start on the next microtask so publishes made in the same tick share a batch.
    lane.draining = Promise.resolve()
      .then(() => this.#drain(lane))
      .finally(() => {
        lane.draining = undefined;
        if (lane.queue.length > 0) this.#kick(lane);
      });
  }

  async #drain(lane: Lane): Promise<void> {
    while (lane.queue.length > 0) {
      const batch = lane.queue.splice(0, this.#batchSize);
      try {
        if (lane.nextSeq === undefined) lane.nextSeq = (await this.#lastSeq(lane.topic)) + 1;
        const envelopes = batch.map((p) => this.#envelope(p, (lane.nextSeq as number)++));
        await this.#append(lane, envelopes, batch);
      } catch (cause) {
        if (isQtError(cause, 'QT_PUBLISH_OUT_OF_ORDER')) {
          lane.nextSeq = undefined;
          this.#metrics.published.inc({ topic: lane.topic, outcome: 'failed' }, batch.length);
          this.#log.error({ topic: lane.topic, producer: this.#producer }, cause.message);
          for (const p of batch) p.reject(cause);
          continue;
        }
        // The batch may or may not have landed. Re-read the seq from Redis so a
        // batch that did not land leaves no gap, and one that did is not reused.
        lane.nextSeq = undefined;
        this.#metrics.published.inc({ topic: lane.topic, outcome: 'failed' }, batch.length);
        this.#log.error({ topic: lane.topic, events: batch.length, err: cause }, 'publish failed');
        const err = new QtError('QT_PUBLISH_FAILED', `publish to "${lane.topic}" failed: ${(cause as Error).message}`, {
          cause,
        });
        for (const p of batch) p.reject(err);
      }
    }
  }

  async #lastSeq(topic: string): Promise<number> {
    const raw = await this.#redis.hget(this.#keys.producerSeqs(topic), this.#producer);
    return raw === null ? 0 : Number(raw);
  }

  #envelope(p: Pending, seq: number): Envelope {
    const id = uuidv7();
    return {
      id,
      type: p.type,
      source: this.#source,
      producer: this.#producer,
      seq,
      time: p.time,
      correlationId: p.correlationId ?? id,
      ...(p.causationId === undefined ? {} : { causationId: p.causationId }),
      version: EVENT_SCHEMA_VERSION,
      data: p.data,
    } as Envelope;
  }

  async #append(lane: Lane, envelopes: Envelope[], batch: Pending[]): Promise<void> {
    const first = envelopes[0] as Envelope;
    const args: (string | number)[] = [this.#producer, this.#instance, first.seq, envelopes.length];
    for (const env of envelopes) args.push(env.type, JSON.stringify(env));
    const reply = await this.#redis.qtAppend(
      this.#keys.stream(lane.topic),
      this.#keys.producerSeqs(lane.topic),
      this.#keys.gaps(lane.topic),
      ...args,
    );
    const before = Number(reply[0]);
    if (Number(reply[1]) === -1) {
      throw new QtError(
        'QT_PUBLISH_OUT_OF_ORDER',
        `another process is publishing to "${lane.topic}" as producer "${this.#producer}" (Redis is at seq ${before})`,
      );
    }
    if (before < lane.lastAcked) {
      // Redis acknowledged seqs it no longer has: it restarted without them or
      // failed over to a replica that never got them.
      this.#log.error(
        { topic: lane.topic, producer: this.#producer, lastAcked: lane.lastAcked, redisLast: before },
        'redis lost acknowledged events of this producer',
      );
    }
    let duplicates = 0;
    for (let i = 0; i < batch.length; i++) {
      const id = reply[i + 2];
      const entryId = typeof id === 'string' ? id : undefined;
      if (entryId === undefined) duplicates++;
      (batch[i] as Pending).resolve({ envelope: envelopes[i] as Envelope, entryId });
    }
    lane.lastAcked = (envelopes.at(-1) as Envelope).seq;
    this.#metrics.published.inc({ topic: lane.topic, outcome: 'redis' }, batch.length - duplicates);
    if (duplicates > 0) this.#metrics.published.inc({ topic: lane.topic, outcome: 'duplicate' }, duplicates);
  }
}
