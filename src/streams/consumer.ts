import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import {
  DEFAULT_BLOCK_MS,
  DEFAULT_CLAIM_IDLE_MS,
  DEFAULT_MAX_DELIVERIES,
  DEFAULT_READ_COUNT,
  DEFAULT_RETRY_DELAY_MS,
} from '../config/schema.js';
import type { Envelope } from '../events/envelope.js';
import { withCorrelation } from '../correlation.js';
import { type Logger, silentLogger } from '../log.js';
import { decodeEntry } from './codec.js';
import { type DeadLetterReason, writeDeadLetter } from './dlq.js';
import { assertKeyPart, type Keys } from './keys.js';
import { type BusMetrics, busMetrics } from './metrics.js';
import type { Mutex } from './mutex.js';
import { isNoGroupError, parseEntries, parseFlatRecord, type RawEntry } from './redis-replies.js';
import { withScripts } from './scripts.js';

/** What a handler learns about the entry besides the event itself. */
export interface DeliveryContext {
  readonly topic: string;
  readonly group: string;
  readonly entryId: string;
  /** How many times this entry has been delivered, this time included. */
  readonly deliveries: number;
}

/** Processes one event. Throwing (or rejecting) leaves the entry pending for redelivery. */
export type EventHandler = (event: Envelope, context: DeliveryContext) => void | Promise<void>;

/** A gap in a producer's sequence seen by a group: events that never arrived. */
export interface SequenceGap {
  readonly topic: string;
  readonly group: string;
  readonly producer: string;
  readonly missing: number;
  readonly afterSeq: number;
  readonly seenSeq: number;
}

/** Settings of {@link StreamConsumer}. */
export interface StreamConsumerOptions {
  /** Command connection (shared); the consumer makes its own blocking reader from it. */
  readonly redis: Redis;
  readonly keys: Keys;
  readonly topic: string;
  readonly group: string;
  /** Stable consumer name: a restarted process reclaims its own pending entries first. */
  readonly consumer: string;
  readonly handler: EventHandler;
  readonly maxDeliveries?: number;
  readonly claimIdleMs?: number;
  /** How often to look for entries of dead consumers; default claimIdleMs / 2. */
  readonly claimIntervalMs?: number;
  readonly blockMs?: number;
  readonly readCount?: number;
  readonly retryDelayMs?: number;
  /** Where a new group starts: '0' (all history, the default) or '$' (new entries only). */
  readonly startFrom?: '0' | '$';
  readonly log?: Logger;
  readonly registry?: Registry;
  readonly onGap?: (gap: SequenceGap) => void;
  /**
   * Extra commands committed atomically with the XACK of the events they
   * follow (MULTI/EXEC): an actor's snapshot, a projection. A crash before
   * the commit leaves both the ack and these writes undone, so the events are
   * redelivered and nothing is applied twice.
   */
  readonly commitWith?: (handled: readonly Envelope[]) => readonly CommitCommand[];
  /**
   * Held from the first handler of a batch until its commit settles. Share
   * one between consumers whose handlers feed one actor (see Mutex).
   */
  readonly lock?: Mutex;
  /** Told when a commit failed; its outcome is unknown, and the batch will be redelivered if it did not land. */
  readonly onCommitError?: (err: unknown) => void;
}

interface Delivery extends RawEntry {
  deliveries: number;
}

/** One Redis command, as `[name, ...args]`, run inside the ack transaction. */
export type CommitCommand = readonly [name: string, ...args: (string | number | Buffer)[]];

/** An entry ready to ack; `event` is set when its handler ran. */
interface Ack {
  readonly entryId: string;
  readonly producer: string;
  readonly seq: number;
  readonly handled?: Envelope;
}

/**
 * Runs one consumer of one group on one topic stream.
 *
 * Contract:
 * - Entries are handled one at a time in stream order; an entry is XACKed
 *   only after its handler succeeded, together with the group's record of
 *   what it has processed (one Lua script).
 * - A failing handler is retried (after `retryDelayMs`, the delivery count
 *   raised with XCLAIM) before later entries, so per-producer order holds;
 *   after `maxDeliveries` deliveries the entry goes to `dlq` and is acked.
 * - An entry that is not a valid envelope goes to `dlq` at once.
 * - An event the group already processed (same producer and seq) is acked
 *   without reaching the handler. A seq that skips numbers is a gap: counted
 *   in `eventbus_sequence_gaps_total`, logged, and passed to `onGap`.
 * - On start it handles its own pending entries first; every
 *   `claimIntervalMs` it reclaims entries idle longer than `claimIdleMs` on
 *   other consumers (XAUTOCLAIM).
 * - A lost group (NOGROUP) is recreated from the start of the stream; the
 *   processed-record keeps already-handled entries from running twice.
 * - `close()` breaks a blocking read at once, lets the current entry finish,
 *   acks what was handled, and leaves the rest pending. Idempotent.
 */
export class StreamConsumer {
  readonly topic: string;
  readonly group: string;
  readonly consumer: string;
  readonly #redis: Redis;
  readonly #reader: Redis;
  readonly #keys: Keys;
  readonly #stream: string;
  readonly #handler: EventHandler;
  readonly #maxDeliveries: number;
  readonly #claimIdleMs: number;
  readonly #claimIntervalMs: number;
  readonly #blockMs: number;
  readonly #readCount: number;
  readonly #retryDelayMs: number;
  readonly #startFrom: '0' | '$';
  readonly #log: Logger;
  readonly #metrics: BusMetrics;
  readonly #handledTimer: { observe(seconds: number): void };
  readonly #count: Record<'handled' | 'duplicate' | 'retried' | 'dead_lettered', { inc(n?: number): void }>;
  readonly #onGap: ((gap: SequenceGap) => void) | undefined;
  readonly #commitWith: StreamConsumerOptions['commitWith'];
  readonly #lock: Mutex | undefined;
  readonly #onCommitError: StreamConsumerOptions['onCommitError'];
  readonly #abort = new AbortController();
  #loop: Promise<void> | undefined;
  #closed: Promise<void> | undefined;
  #ownPendingFirst = true;
  #lastClaimAt = 0;

  constructor(options: StreamConsumerOptions) {
    this.topic = assertKeyPart('topic', options.topic);
    this.group = assertKeyPart('group', options.group);
    this.consumer = assertKeyPart('consumer', options.consumer);
    this.#redis = withScripts(options.redis);
    this.#keys = options.keys;
    this.#stream = options.keys.stream(this.topic);
    this.#handler = options.handler;
    this.#maxDeliveries = options.maxDeliveries ?? DEFAULT_MAX_DELIVERIES;
    this.#claimIdleMs = options.claimIdleMs ?? DEFAULT_CLAIM_IDLE_MS;
    this.#claimIntervalMs = options.claimIntervalMs ?? Math.max(100, Math.floor(this.#claimIdleMs / 2));
    this.#blockMs = options.blockMs ?? DEFAULT_BLOCK_MS;
    this.#readCount = options.readCount ?? DEFAULT_READ_COUNT;
    this.#retryDelayMs = options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS;
    this.#startFrom = options.startFrom ?? '0';
    this.#log = (options.log ?? silentLogger).child({ topic: this.topic, group: this.group, consumer: this.consumer });
    this.#metrics = busMetrics(options.registry ?? new Registry());
    const labels = { topic: this.topic, group: this.group };
    this.#handledTimer = this.#metrics.processing.labels(labels);
    this.#count = {
      handled: this.#metrics.consumed.labels({ ...labels, outcome: 'handled' }),
      duplicate: this.#metrics.consumed.labels({ ...labels, outcome: 'duplicate' }),
      retried: this.#metrics.consumed.labels({ ...labels, outcome: 'retried' }),
      dead_lettered: this.#metrics.consumed.labels({ ...labels, outcome: 'dead_lettered' }),
    };
    this.#onGap = options.onGap;
    this.#commitWith = options.commitWith;
    this.#lock = options.lock;
    this.#onCommitError = options.onCommitError;
    // A dedicated connection: a blocking XREADGROUP holds its connection. The
    // command timeout is the watchdog for a read that a silent reconnect or a
    // failover left hanging; replies that never come are not re-sent blindly.
    this.#reader = options.redis.duplicate({
      commandTimeout: this.#blockMs + 5_000,
      autoResendUnfulfilledCommands: false,
      connectionName: `qt:${this.group}:${this.consumer}`,
    });
    this.#reader.on('error', (err) => this.#log.debug({ err }, 'reader connection error'));
    // After any reconnect, entries a lost reply delivered to us sit in our
    // pending list: read those first.
    this.#reader.on('ready', () => {
      this.#ownPendingFirst = true;
    });
  }

  /** Creates the group if needed and starts the loop. Resolves once the group exists. */
  async start(): Promise<void> {
    if (this.#loop) return;
    await this.#ensureGroup(this.#startFrom);
    // The reader inherits lazyConnect and no offline queue: connect it now, or
    // its first blocking read fails. A failure here is not fatal; the loop
    // retries (and ioredis keeps reconnecting).
    if (this.#reader.status === 'wait') await this.#reader.connect().catch(() => undefined);
    this.#loop = this.#run();
  }

  /** Stops the consumer; see the class contract. Returns the same promise on repeat calls. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#abort.abort();
      this.#reader.disconnect();
      await this.#loop;
    })();
    return this.#closed;
  }

  get #closing(): boolean {
    return this.#abort.signal.aborted;
  }

  async #ensureGroup(from: '0' | '$'): Promise<void> {
    try {
      await this.#redis.xgroup('CREATE', this.#stream, this.group, from, 'MKSTREAM');
      this.#log.info({ from }, 'consumer group created');
    } catch (err) {
      if (!String((err as Error).message).startsWith('BUSYGROUP')) throw err;
    }
  }

  async #run(): Promise<void> {
    let failures = 0;
    // Two overlaps keep Redis and this process busy at once: the next batch
    // is read (on the reader connection) while this one is handled, and a
    // batch's commit is still in flight while the next seen-check goes out
    // behind it on the same connection, so Redis applies the commit first.
    let committing: Promise<void> = Promise.resolve();
    let reading: Promise<RawEntry[]> | undefined;
    while (!this.#closing) {
      try {
        if (this.#ownPendingFirst) {
          await committing;
          // Whatever an in-flight read delivered is in our PEL: the replay takes it, in order.
          await reading?.catch(() => []);
          reading = undefined;
          await this.#replayOwnPending();
          this.#ownPendingFirst = false;
        }
        if (reading === undefined && this.#claimDue()) {
          await committing;
          await this.#reclaim();
          this.#lastClaimAt = Date.now();
        }
        const fresh = await (reading ?? this.#readNew());
        reading = undefined;
        // No read-ahead when a reclaim is due, so a busy stream still gets one.
        if (fresh.length > 0 && !this.#closing && !this.#claimDue()) {
          reading = this.#readNew();
          reading.catch(() => undefined); // observed when awaited; never unhandled
        }
        if (fresh.length > 0) {
          const batch = fresh as Delivery[];
          for (const entry of batch) entry.deliveries = 1;
          committing = (await this.#process(batch, committing)).committed;
        }
        failures = 0;
      } catch (err) {
        committing = Promise.resolve();
        if (this.#closing) break;
        this.#ownPendingFirst = true;
        if (isNoGroupError(err)) {
          this.#log.warn('consumer group lost; recreating it from the start of the stream');
          await this.#ensureGroup('0').catch((e) => this.#log.warn({ err: e }, 'recreating group failed'));
          continue;
        }
        failures++;
        const delay = Math.min(5_000, 100 * 2 ** Math.min(failures, 6));
        this.#log.warn({ err, retryInMs: delay }, 'consumer loop error');
        await this.#pause(delay);
      }
    }
    await committing.catch((err) => this.#log.warn({ err }, 'final commit failed; entries stay pending'));
  }

  #claimDue(): boolean {
    return Date.now() - this.#lastClaimAt >= this.#claimIntervalMs;
  }

  async #readNew(): Promise<RawEntry[]> {
    try {
      const reply = await this.#reader.xreadgroup(
        'GROUP',
        this.group,
        this.consumer,
        'COUNT',
        this.#readCount,
        'BLOCK',
        this.#blockMs,
        'STREAMS',
        this.#stream,
        '>',
      );
      return parseEntries(reply);
    } catch (err) {
      if (!this.#closing && needsNewReaderConnection(err)) {
        // A read that outlived BLOCK by the watchdog margin sits on a dead
        // socket; one unblocked by a role change (failover) talks to a
        // replica. Reconnecting re-resolves the master through Sentinel.
        this.#log.warn({ err: (err as Error).message }, 'blocking read lost; reconnecting the reader');
        this.#reader.disconnect(true);
      }
      throw err;
    }
  }

  /**
   * Handles our own pending entries, oldest first, before anything new.
   *
   * The PEL is listed with XPENDING, which has no side effects, and each entry
   * is XCLAIMed (raising its delivery count) only right before its attempt.
   * Re-reading the PEL with XREADGROUP would charge a delivery to every entry
   * read, so a few crashes would dead-letter entries never even attempted.
   */
  async #replayOwnPending(): Promise<void> {
    let start = '-';
    while (!this.#closing) {
      const rows = (await this.#redis.xpending(
        this.#stream,
        this.group,
        start,
        '+',
        this.#readCount,
        this.consumer,
      )) as [string, string, number, number][];
      if (rows.length === 0) return;
      for (const [id, , , count] of rows) {
        if (this.#closing) return;
        const claimed = (await this.#redis.xclaim(this.#stream, this.group, this.consumer, 0, id)) as [
          string,
          string[],
        ][];
        const fields = claimed[0]?.[1] ?? null;
        await (await this.#process([{ id, fields, deliveries: Number(count) + 1 }])).committed;
      }
      start = `(${(rows.at(-1) as [string, ...unknown[]])[0]}`;
    }
  }

  /**
   * Takes over entries that other (dead) consumers left idle past
   * claimIdleMs. JUSTID moves ownership without charging a delivery; the
   * replay then charges each one as it is attempted.
   */
  async #reclaim(): Promise<void> {
    let cursor = '0-0';
    let claimed = 0;
    do {
      const [next, ids, deleted] = (await this.#redis.xautoclaim(
        this.#stream,
        this.group,
        this.consumer,
        this.#claimIdleMs,
        cursor,
        'COUNT',
        this.#readCount,
        'JUSTID',
      )) as [string, string[], string[]?];
      cursor = next;
      claimed += ids.length;
      if (deleted && deleted.length > 0) {
        this.#log.warn({ entries: deleted }, 'pending entries were trimmed before they were processed');
      }
    } while (cursor !== '0-0' && !this.#closing);
    if (claimed > 0) {
      this.#log.info({ entries: claimed }, 'reclaimed idle entries');
      await this.#replayOwnPending();
    }
    await this.#updateLag();
  }

  /**
   * Handles a batch in order and starts its commit. The commit promise is
   * returned wrapped, not awaited, so the caller can overlap it with the next
   * batch; `previousCommit` must succeed before this batch is handled.
   */
  async #process(batch: Delivery[], previousCommit?: Promise<void>): Promise<{ committed: Promise<void> }> {
    const acks: Ack[] = [];
    const decoded = batch.map((entry) => {
      if (entry.fields === null) return { entry, error: 'entry was deleted from the stream' };
      try {
        return { entry, event: decodeEntry(entry.fields) };
      } catch (err) {
        return { entry, error: (err as Error).message };
      }
    });
    // The seen-check is sent now, behind the previous commit; nothing is
    // handled until that commit is confirmed, or a failed commit could let
    // this batch overtake the one before it.
    const [seen] = await Promise.all([this.#seen(decoded.flatMap((d) => (d.event ? [d.event] : []))), previousCommit]);
    const release = await this.#lock?.acquire();
    try {
      const { committed } = await this.#handleBatch(decoded, seen, acks);
      if (release) committed.then(release, release);
      return { committed };
    } catch (err) {
      release?.();
      throw err;
    }
  }

  async #handleBatch(
    decoded: { entry: Delivery; event?: Envelope; error?: string }[],
    seen: Set<string>,
    acks: Ack[],
  ): Promise<{ committed: Promise<void> }> {
    const doneHere = new Set<string>();
    for (const item of decoded) {
      if (this.#closing) break;
      const { entry } = item;
      if (!item.event) {
        if (entry.fields !== null) await this.#deadLetter(entry, entry.deliveries, 'invalid', item.error ?? 'invalid');
        acks.push({ entryId: entry.id, producer: '', seq: 0 });
        continue;
      }
      const event = item.event;
      const key = `${event.producer}#${event.seq}`;
      if (seen.has(key) || doneHere.has(key)) {
        this.#count.duplicate.inc();
        this.#log.debug({ id: entry.id, producer: event.producer, seq: event.seq }, 'duplicate acked');
        acks.push({ entryId: entry.id, producer: event.producer, seq: event.seq });
        continue;
      }
      const outcome = await this.#handle(entry, event, acks);
      if (outcome === 'stopped') break;
      if (outcome === 'gone') continue;
      doneHere.add(key);
      acks.push({
        entryId: entry.id,
        producer: event.producer,
        seq: event.seq,
        ...(outcome === 'handled' ? { handled: event } : {}),
      });
    }
    const committed = this.#commit(acks);
    // Observed now, awaited later (with the next batch): a commit that fails
    // while the loop waits on a read must not be an unhandled rejection.
    committed.catch(() => undefined);
    return { committed };
  }

  /** Runs the handler until it succeeds, the entry is dead-lettered, or we are closing. */
  async #handle(entry: Delivery, event: Envelope, acks: Ack[]): Promise<'handled' | 'dead' | 'stopped' | 'gone'> {
    let deliveries = entry.deliveries;
    if (deliveries > this.#maxDeliveries) {
      await this.#deadLetter(entry, deliveries, 'max_deliveries', `delivered ${deliveries} times without success`);
      return 'dead';
    }
    for (;;) {
      const started = performance.now();
      try {
        const context = { topic: this.topic, group: this.group, entryId: entry.id, deliveries };
        // Logs written and events published while handling carry the event's correlation id.
        await withCorrelation(event.correlationId, () => this.#handler(event, context));
        this.#handledTimer.observe((performance.now() - started) / 1000);
        this.#count.handled.inc();
        return 'handled';
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        if (deliveries >= this.#maxDeliveries) {
          await this.#deadLetter(entry, deliveries, 'max_deliveries', message);
          return 'dead';
        }
        this.#count.retried.inc();
        this.#log.warn({ id: entry.id, type: event.type, deliveries, err }, 'handler failed; will redeliver');
        // Make what was handled before this entry durable before waiting.
        await this.#commit(acks.splice(0));
        await this.#pause(this.#retryDelayMs);
        if (this.#closing) return 'stopped';
        const claimed = await this.#redis.xclaim(this.#stream, this.group, this.consumer, 0, entry.id);
        if (claimed.length === 0) return 'gone'; // acked or trimmed meanwhile: nothing to redeliver
        deliveries++;
      }
    }
  }

  async #seen(events: Envelope[]): Promise<Set<string>> {
    const out = new Set<string>();
    if (events.length === 0) return out;
    const args: (string | number)[] = [events.length];
    for (const e of events) args.push(e.producer, e.seq);
    const flags = await this.#redis.qtSeen(this.#keys.groupSeqs(this.topic, this.group), ...args);
    events.forEach((e, i) => {
      if (Number(flags[i]) === 1) out.add(`${e.producer}#${e.seq}`);
    });
    return out;
  }

  async #commit(acks: Ack[]): Promise<void> {
    try {
      await this.#commitOnce(acks);
    } catch (err) {
      this.#onCommitError?.(err);
      throw err;
    }
  }

  async #commitOnce(acks: Ack[]): Promise<void> {
    if (acks.length === 0) return;
    const args: (string | number)[] = [this.group, acks.length];
    for (const a of acks) args.push(a.entryId, a.producer, a.seq);
    const stream = this.#stream;
    const groupSeqs = this.#keys.groupSeqs(this.topic, this.group);
    const handled = acks.flatMap((a) => (a.handled ? [a.handled] : []));
    const extra = this.#commitWith && handled.length > 0 ? this.#commitWith(handled) : [];
    let gaps: (string | number)[];
    if (extra.length === 0) {
      gaps = await this.#redis.qtCommit(stream, groupSeqs, ...args);
    } else {
      const tx = this.#redis.multi().qtCommit(stream, groupSeqs, ...args);
      for (const [name, ...cmdArgs] of extra) tx.call(name, ...cmdArgs);
      const results = await tx.exec();
      if (!results) throw new Error('commit transaction was discarded');
      const failed = results.find(([err]) => err);
      if (failed) throw failed[0];
      gaps = results[0]?.[1] as (string | number)[];
    }
    for (let i = 0; i + 3 < gaps.length; i += 4) {
      const gap: SequenceGap = {
        topic: this.topic,
        group: this.group,
        producer: String(gaps[i]),
        missing: Number(gaps[i + 1]),
        afterSeq: Number(gaps[i + 2]),
        seenSeq: Number(gaps[i + 3]),
      };
      this.#metrics.gaps.inc({ topic: this.topic, group: this.group }, gap.missing);
      this.#log.error({ ...gap }, 'sequence gap: events of this producer are missing');
      this.#onGap?.(gap);
    }
  }

  async #deadLetter(entry: Delivery, deliveries: number, reason: DeadLetterReason, error: string): Promise<void> {
    await writeDeadLetter(this.#redis, this.#keys, {
      topic: this.topic,
      entryId: entry.id,
      group: this.group,
      consumer: this.consumer,
      deliveries,
      reason,
      error,
      fields: entry.fields ?? [],
    });
    this.#metrics.deadLettered.inc({ topic: this.topic, group: this.group, reason });
    this.#count.dead_lettered.inc();
    this.#log.warn({ id: entry.id, reason, error }, 'entry moved to dlq');
  }

  async #updateLag(): Promise<void> {
    const groups = (await this.#redis.xinfo('GROUPS', this.#stream)) as unknown[][];
    for (const g of groups) {
      const info = parseFlatRecord(g);
      if (info.name === this.group && typeof info.lag === 'number') {
        this.#metrics.lag.set({ topic: this.topic, group: this.group }, info.lag);
      }
    }
  }

  async #pause(ms: number): Promise<void> {
    try {
      await sleep(ms, undefined, { signal: this.#abort.signal });
    } catch {
      // aborted by close()
    }
  }
}

/** Errors after which the blocking reader's connection cannot be trusted. */
export function needsNewReaderConnection(err: unknown): boolean {
  const message = err instanceof Error ? err.message : '';
  return /^(UNBLOCKED|READONLY|LOADING|MASTERDOWN)|Command timed out/.test(message);
}
