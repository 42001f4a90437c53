import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { backoffDelay } from '../backoff.js';
import { withCorrelation } from '../correlation.js';
import type { Envelope } from '../events/envelope.js';
import { type Logger, silentLogger } from '../log.js';
import { BlockingReader } from './blocking-reader.js';
import { decodeEntry } from './codec.js';
import { type Ack, type Committer, parseGaps, recordCommitter } from './commit-record.js';
import { signalCommit } from './commit-signal.js';
import {
  type ConsumerTiming,
  consumerTiming,
  type EventHandler,
  type SequenceGap,
  type StreamConsumerOptions,
} from './consumer-settings.js';
import { alreadyProcessed, eventKey } from './dedup.js';
import { DEAD_LETTER_REASONS, type DeadLetterReason, writeDeadLetter } from './dlq.js';
import { groupInfos, groupLag } from './group-lag.js';
import { assertKeyPart, type Keys } from './keys.js';
import { type BusMetrics, busMetrics } from './metrics.js';
import type { Mutex } from './mutex.js';
import { type Delivery, type PendingWork, reclaimIdle, replayOwnPending } from './reclaim.js';
import { isNoGroupError, type RawEntry } from './redis-replies.js';
import { withScripts } from './scripts.js';

export type { CommitCommand } from './commit-record.js';
export type { DeliveryContext, EventHandler, SequenceGap, StreamConsumerOptions } from './consumer-settings.js';

/** Retry delays of the loop after an error: 200 ms doubling to 5 s. */
const LOOP_BACKOFF = { baseMs: 200, maxMs: 5_000 } as const;

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
  readonly #reader: BlockingReader;
  readonly #keys: Keys;
  readonly #stream: string;
  readonly #handler: EventHandler;
  readonly #timing: Readonly<ConsumerTiming>;
  readonly #now: () => number;
  readonly #log: Logger;
  readonly #metrics: BusMetrics;
  readonly #handledTimer: { observe(seconds: number): void };
  readonly #count: Record<'handled' | 'duplicate' | 'retried' | 'dead_lettered', { inc(n?: number): void }>;
  readonly #onGap: ((gap: SequenceGap) => void) | undefined;
  readonly #committer: Committer;
  readonly #dedupAtCommit: boolean;
  readonly #lock: Mutex | undefined;
  readonly #onCommitError: StreamConsumerOptions['onCommitError'];
  readonly #pendingWork: PendingWork;
  readonly #abort = new AbortController();
  #loop: Promise<void> | undefined;
  #closed: Promise<void> | undefined;
  #ownPendingFirst = true;
  #lastClaimAt = Number.NEGATIVE_INFINITY;

  constructor(options: StreamConsumerOptions) {
    this.topic = assertKeyPart('topic', options.topic);
    this.group = assertKeyPart('group', options.group);
    this.consumer = assertKeyPart('consumer', options.consumer);
    this.#timing = consumerTiming(options);
    this.#redis = withScripts(options.redis);
    this.#keys = options.keys;
    this.#stream = options.keys.stream(this.topic);
    this.#handler = options.handler;
    this.#now = options.now ?? Date.now;
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
    // Series that exist from the start at 0, so a rate or an increase over them is defined before the first event.
    for (const outcome of Object.keys(this.#count)) this.#metrics.consumed.inc({ ...labels, outcome }, 0);
    this.#metrics.gaps.inc(labels, 0);
    for (const reason of DEAD_LETTER_REASONS) this.#metrics.deadLettered.inc({ ...labels, reason }, 0);
    this.#onGap = options.onGap;
    this.#committer = options.committer ?? recordCommitter(this.#redis, options.commitWith);
    this.#lock = options.lock;
    this.#dedupAtCommit = options.dedupAtCommit === true && options.committer !== undefined;
    this.#onCommitError = options.onCommitError;
    this.#pendingWork = {
      redis: this.#redis,
      stream: this.#stream,
      group: this.group,
      consumer: this.consumer,
      readCount: this.#timing.readCount,
      claimIdleMs: this.#timing.claimIdleMs,
      log: this.#log,
      closing: () => this.#closing,
      handle: async (entry) => {
        await (await this.#process([entry])).committed;
      },
    };
    // After any reconnect, entries a lost reply delivered to us sit in our
    // pending list: read those first.
    this.#reader = new BlockingReader(options.redis, {
      group: this.group,
      consumer: this.consumer,
      blockMs: this.#timing.blockMs,
      log: this.#log,
      onReady: () => {
        this.#ownPendingFirst = true;
      },
    });
  }

  /** Creates the group if needed and starts the loop. Resolves once the group exists. */
  async start(): Promise<void> {
    if (this.#loop) return;
    await this.#ensureGroup(this.#timing.startFrom);
    await this.#reader.connect();
    this.#loop = this.#run();
  }

  /** Stops the consumer; see the class contract. Returns the same promise on repeat calls. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#abort.abort();
      this.#reader.close();
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
          await replayOwnPending(this.#pendingWork);
          this.#ownPendingFirst = false;
        }
        if (reading === undefined && this.#claimDue()) {
          await committing;
          await reclaimIdle(this.#pendingWork);
          await this.#updateLag();
          this.#lastClaimAt = this.#now();
        }
        const fresh = await (reading ?? this.#readNew());
        reading = undefined;
        // No read-ahead when a reclaim is due, so a busy stream still gets one.
        if (fresh.length > 0 && !this.#closing && !this.#claimDue()) {
          reading = this.#readNew();
          reading.catch(() => undefined); // observed when awaited; never unhandled
        }
        if (fresh.length > 0) {
          const batch = fresh.map((entry): Delivery => ({ id: entry.id, fields: entry.fields, deliveries: 1 }));
          committing = (await this.#process(batch, committing, this.#dedupAtCommit)).committed;
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
        const delay = backoffDelay(LOOP_BACKOFF, failures);
        this.#log.warn({ err, retryInMs: delay }, 'consumer loop error');
        await this.#pause(delay);
      }
    }
    await committing.catch((err) => this.#log.warn({ err }, 'final commit failed; entries stay pending'));
  }

  #claimDue(): boolean {
    return this.#now() - this.#lastClaimAt >= this.#timing.claimIntervalMs;
  }

  #readNew(): Promise<RawEntry[]> {
    return this.#reader.read(this.#stream, this.#timing.readCount);
  }

  /**
   * Handles a batch in order and starts its commit. The commit promise is
   * returned wrapped, not awaited, so the caller can overlap it with the next
   * batch; `previousCommit` must succeed before this batch is handled.
   */
  async #process(
    batch: Delivery[],
    previousCommit?: Promise<void>,
    unchecked = false,
  ): Promise<{ committed: Promise<void> }> {
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
    // Unchecked (dedupAtCommit, fresh entries): the commit checks instead.
    const [seen] = await Promise.all([
      unchecked
        ? new Set<string>()
        : alreadyProcessed(this.#redis, this.#keys.groupSeqs(this.topic, this.group), eventsOf(decoded)),
      previousCommit,
    ]);
    const release = await this.#lock?.acquire();
    try {
      const { committed } = await this.#handleBatch(decoded, seen, unchecked);
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
    unchecked: boolean,
  ): Promise<{ committed: Promise<void> }> {
    const acks: Ack[] = [];
    const doneHere = new HandledInBatch();
    // Counted once for the batch: a counter's inc() costs more than the rest of an event's bookkeeping.
    let handled = 0;
    try {
      for (const item of decoded) {
        if (this.#closing) break;
        const { entry } = item;
        if (!item.event) {
          if (entry.fields !== null)
            await this.#deadLetter(entry, entry.deliveries, 'invalid', item.error ?? 'invalid');
          acks.push({ entryId: entry.id, producer: '', seq: 0 });
          continue;
        }
        const event = item.event;
        if (event.replayOf !== undefined && event.replayOf.group !== this.group) {
          // A dead letter put back for another group: not ours to handle again.
          acks.push({ entryId: entry.id, producer: event.producer, seq: event.seq });
          continue;
        }
        if ((seen.size > 0 && seen.has(eventKey(event))) || doneHere.has(event)) {
          this.#count.duplicate.inc();
          this.#log.debug({ id: entry.id, producer: event.producer, seq: event.seq }, 'duplicate acked');
          acks.push({ entryId: entry.id, producer: event.producer, seq: event.seq });
          continue;
        }
        const run = this.#handle(entry, event, acks, unchecked);
        const outcome = typeof run === 'string' ? run : await run;
        if (outcome === 'stopped') break;
        if (outcome === 'gone') continue;
        doneHere.add(event);
        if (outcome === 'handled') {
          handled++;
          acks.push({ entryId: entry.id, producer: event.producer, seq: event.seq, handled: event });
        } else acks.push({ entryId: entry.id, producer: event.producer, seq: event.seq });
      }
    } finally {
      if (handled > 0) this.#count.handled.inc(handled);
    }
    const committed = this.#commit(acks, unchecked);
    // Observed now, awaited later (with the next batch): a commit that fails
    // while the loop waits on a read must not be an unhandled rejection.
    committed.catch(() => undefined);
    return { committed };
  }

  /**
   * Runs the handler until it succeeds, the entry is dead-lettered, or we
   * are closing. A synchronous handler that succeeds at once (the common
   * case) is answered synchronously: no promise and no microtask per event.
   */
  #handle(entry: Delivery, event: Envelope, acks: Ack[], unchecked: boolean): Outcome | Promise<Outcome> {
    const deliveries = entry.deliveries;
    if (deliveries > this.#timing.maxDeliveries) {
      return this.#deadLetter(
        entry,
        deliveries,
        'max_deliveries',
        `delivered ${deliveries} times without success`,
      ).then(() => 'dead' as const);
    }
    const started = performance.now();
    let result: unknown;
    try {
      result = this.#invoke(entry, event, deliveries);
    } catch (err) {
      return this.#redeliver(entry, event, acks, unchecked, deliveries, err);
    }
    if (!isThenable(result)) {
      this.#observe(started);
      return 'handled';
    }
    return Promise.resolve(result).then(
      () => {
        this.#observe(started);
        return 'handled' as const;
      },
      (err: unknown) => this.#redeliver(entry, event, acks, unchecked, deliveries, err),
    );
  }

  /** After a failed run: redelivers (XCLAIM, after `retryDelayMs`) and runs again, or dead-letters after `maxDeliveries`. */
  async #redeliver(
    entry: Delivery,
    event: Envelope,
    acks: Ack[],
    unchecked: boolean,
    failedDelivery: number,
    failure: unknown,
  ): Promise<Outcome> {
    const { maxDeliveries, retryDelayMs } = this.#timing;
    let deliveries = failedDelivery;
    let err = failure;
    for (;;) {
      const message = err instanceof Error ? err.message : String(err);
      if (deliveries >= maxDeliveries) {
        await this.#deadLetter(entry, deliveries, 'max_deliveries', message);
        return 'dead';
      }
      this.#count.retried.inc();
      this.#log.warn({ id: entry.id, type: event.type, deliveries, err }, 'handler failed; will redeliver');
      // Make what was handled before this entry durable before waiting.
      await this.#commit(acks.splice(0), unchecked);
      await this.#pause(retryDelayMs);
      if (this.#closing) return 'stopped';
      const claimed = await this.#redis.xclaim(this.#stream, this.group, this.consumer, 0, entry.id);
      if (claimed.length === 0) return 'gone'; // acked or trimmed meanwhile: nothing to redeliver
      deliveries++;
      const started = performance.now();
      try {
        const result = this.#invoke(entry, event, deliveries);
        if (isThenable(result)) await result;
        this.#observe(started);
        return 'handled';
      } catch (next) {
        err = next;
      }
    }
  }

  /** One run of the handler; logs written and events published meanwhile carry the event's correlation id. */
  #invoke(entry: Delivery, event: Envelope, deliveries: number): unknown {
    const context = { topic: this.topic, group: this.group, entryId: entry.id, deliveries };
    return withCorrelation(event.correlationId, () => this.#handler(event, context));
  }

  #observe(started: number): void {
    this.#handledTimer.observe((performance.now() - started) / 1000);
  }

  /** Commits acks (and what the committer adds); reports gaps. A failure is passed on, and to onCommitError. */
  async #commit(acks: Ack[], unchecked = false): Promise<void> {
    if (acks.length === 0) return;
    let flat: readonly unknown[];
    try {
      flat = await this.#committer({
        stream: this.#stream,
        groupSeqs: this.#keys.groupSeqs(this.topic, this.group),
        group: this.group,
        acks,
        handled: handledOf(acks),
        ...(unchecked ? { unchecked } : {}),
      });
    } catch (err) {
      this.#onCommitError?.(err);
      throw err;
    }
    signalCommit();
    for (const raw of parseGaps(flat)) {
      const gap: SequenceGap = { topic: this.topic, group: this.group, ...raw };
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

  /** Sets `eventbus_queue_lag` and `eventbus_queue_lag_seconds` from XINFO GROUPS (counted when Redis cannot say). */
  async #updateLag(): Promise<void> {
    const info = (await groupInfos(this.#redis, this.#stream))?.find((g) => g.name === this.group);
    if (!info) return;
    // Entry ids carry Redis's wall-clock time, so the age is taken on the wall clock.
    const lag = await groupLag(this.#redis, this.#stream, info, Date.now());
    const labels = { topic: this.topic, group: this.group };
    this.#metrics.lag.set(labels, lag.lag);
    this.#metrics.lagSeconds.set(labels, lag.lagMs / 1000);
  }

  async #pause(ms: number): Promise<void> {
    try {
      await sleep(ms, undefined, { signal: this.#abort.signal });
    } catch {
      // aborted by close()
    }
  }
}

/** The decoded events of a batch, in order. */
function eventsOf(decoded: readonly { event?: Envelope }[]): Envelope[] {
  const events: Envelope[] = [];
  for (const d of decoded) if (d.event) events.push(d.event);
  return events;
}

/** The events whose handlers ran, in order. */
function handledOf(acks: readonly Ack[]): Envelope[] {
  const handled: Envelope[] = [];
  for (const a of acks) if (a.handled) handled.push(a.handled);
  return handled;
}

/**
 * The events of one batch handled so far, per producer the seqs, so a
 * repeat within the batch is acked as a duplicate (no string key per event).
 */
class HandledInBatch {
  readonly #seqs = new Map<string, Set<number>>();

  has(event: Envelope): boolean {
    return this.#seqs.get(event.producer)?.has(event.seq) === true;
  }

  add(event: Envelope): void {
    const seqs = this.#seqs.get(event.producer);
    if (seqs) seqs.add(event.seq);
    else this.#seqs.set(event.producer, new Set([event.seq]));
  }
}

/** How handling an entry ended. */
type Outcome = 'handled' | 'dead' | 'stopped' | 'gone';

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | undefined)?.then === 'function';
}
