/**
 * The trade store's writer (docs/trade-store.md, "The writer"): the one path
 * by which orders and fills reach the store. It reads the `order` stream
 * through a consumer group of its own (`trade-store`) and records each
 * `order.reported` (the venue's whole answer, published by execution in the
 * same commit as the fills it causes). An entry is acked only after its rows
 * are committed, so whatever the store has not taken waits in Redis: a store
 * that is down holds up nothing but this group. While a write fails it is
 * tried again, with backoff, until it passes; the writes are idempotent
 * (fills keyed by venue and trade id), so one redelivered after a crash
 * changes nothing. A row the store refuses for what it holds (a data or
 * constraint error) is tried {@link LASTING_ATTEMPTS} times, then dead-lettered.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { Counter, Gauge, Registry } from 'prom-client';
import { type Backoff, backoffDelay } from '../../backoff.js';
import type { Envelope } from '../../events/envelope.js';
import type { VenueOrder } from '../../exchange/adapter.js';
import { isLastingStoreError, type TradeStore } from '../../exchange/trade-store.js';
import { type Logger, silentLogger } from '../../log.js';
import { perRegistry } from '../../metrics.js';
import { type DeliveryContext, StreamConsumer } from '../../streams/consumer.js';
import { writeDeadLetter } from '../../streams/dlq.js';
import { groupInfos } from '../../streams/group-lag.js';
import type { Keys } from '../../streams/keys.js';
import { compareStreamIds } from '../../streams/retention.js';

/** The writer's consumer group on the `order` stream. */
export const TRADE_STORE_GROUP = 'trade-store';
/** The default retry backoff (QT_PG_RETRY_BASE_MS, QT_PG_RETRY_MAX_MS), equal jitter. */
export const DEFAULT_WRITER_BACKOFF: Backoff = { baseMs: 250, maxMs: 10_000, jitter: 'equal' };
/** How long a clean stop waits for the writer to record what the stream already holds. */
export const DEFAULT_DRAIN_MS = 5_000;
/** Attempts at a row the store refuses for its content before it goes to the dlq. */
export const LASTING_ATTEMPTS = 3;
/** A failing write is logged at its first attempt, then every this many. */
const LOG_EVERY = 10;
/**
 * Deliveries never run out: a write is retried inside the handler for as long
 * as the store is down, and restarts in the meantime must not dead-letter it.
 */
const UNLIMITED_DELIVERIES = Number.MAX_SAFE_INTEGER;

const writerMetrics = perRegistry((registry) => {
  const metrics = {
    writes: new Counter({
      name: 'qt_trade_store_writes_total',
      help: 'Venue answers (order.reported) the trade-store writer handled, by outcome: written, retried, dead_lettered',
      labelNames: ['service', 'outcome'],
      registers: [registry],
    }),
    failing: new Gauge({
      name: 'qt_trade_store_writer_failing',
      help: '1 while the trade-store writer retries a write the store did not take, else 0',
      labelNames: ['service'],
      registers: [registry],
    }),
  };
  for (const outcome of ['written', 'retried', 'dead_lettered'])
    metrics.writes.inc({ service: 'execution', outcome }, 0);
  metrics.failing.set({ service: 'execution' }, 0);
  return metrics;
});

/** Settings of {@link TradeStoreWriter}. */
export interface TradeStoreWriterOptions {
  readonly redis: Redis;
  readonly keys: Keys;
  /** Stable consumer name (the process's producer id): a restart takes its own pending entries first. */
  readonly consumer: string;
  readonly store: TradeStore;
  readonly backoff?: Backoff;
  readonly drainMs?: number;
  readonly log?: Logger;
  readonly registry?: Registry;
  /** Passed to the consumer (tests use a short block). */
  readonly blockMs?: number;
}

/** What the writer is doing, for `/health`. */
export interface WriterStatus {
  /** Answers written since start. */
  readonly written: number;
  /** Epoch ms of the first failed attempt of the write in hand; absent while writes pass. */
  readonly failingSince?: number;
  readonly lastError?: string;
}

/** Consumes `order.reported` into the store; `start()` / `close()`. */
export class TradeStoreWriter {
  readonly #o: TradeStoreWriterOptions;
  readonly #log: Logger;
  readonly #consumer: StreamConsumer;
  readonly #backoff: Backoff;
  readonly #metrics: ReturnType<typeof writerMetrics>;
  readonly #abort = new AbortController();
  #started = false;
  #written = 0;
  #failingSince: number | undefined;
  #lastError: string | undefined;
  #closed: Promise<void> | undefined;

  constructor(options: TradeStoreWriterOptions) {
    this.#o = options;
    this.#log = (options.log ?? silentLogger).child({ component: 'trade-store-writer', store: options.store.kind });
    this.#backoff = options.backoff ?? DEFAULT_WRITER_BACKOFF;
    this.#metrics = writerMetrics(options.registry ?? new Registry());
    this.#consumer = new StreamConsumer({
      redis: options.redis,
      keys: options.keys,
      topic: 'order',
      group: TRADE_STORE_GROUP,
      consumer: options.consumer,
      handler: (event, context) => this.#handle(event, context),
      maxDeliveries: UNLIMITED_DELIVERIES,
      log: this.#log,
      ...(options.registry ? { registry: options.registry } : {}),
      ...(options.blockMs === undefined ? {} : { blockMs: options.blockMs }),
    });
  }

  /** Creates the group (from the start of the stream) if needed and starts consuming. */
  async start(): Promise<void> {
    await this.#consumer.start();
    this.#started = true;
  }

  status(): WriterStatus {
    return {
      written: this.#written,
      ...(this.#failingSince === undefined ? {} : { failingSince: this.#failingSince }),
      ...(this.#lastError === undefined || this.#failingSince === undefined ? {} : { lastError: this.#lastError }),
    };
  }

  /**
   * Stops the writer. While the store takes writes, it first records what
   * the `order` stream holds now (up to `drainMs`); with the store down the
   * rest stays in Redis for the next start. Idempotent.
   */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      if (this.#started)
        await this.#drain().catch((err: Error) => this.#log.warn({ err: err.message }, 'trade store: drain failed'));
      const closing = this.#consumer.close();
      this.#abort.abort();
      await closing;
    })();
    return this.#closed;
  }

  async #drain(): Promise<void> {
    const { redis, keys } = this.#o;
    const stream = keys.stream('order');
    const [last] = await redis.xrevrange(stream, '+', '-', 'COUNT', 1);
    if (!last) return;
    const deadline = Date.now() + (this.#o.drainMs ?? DEFAULT_DRAIN_MS);
    while (Date.now() < deadline && this.#failingSince === undefined) {
      const group = (await groupInfos(redis, stream))?.find((g) => g.name === TRADE_STORE_GROUP);
      if (!group) return;
      if (group.pending === 0 && compareStreamIds(group.lastDeliveredId, last[0]) >= 0) return;
      await sleep(20);
    }
    const left = this.#failingSince === undefined ? 'the drain timed out' : 'the store is failing';
    this.#log.info({ reason: left }, 'trade store: stopping with venue answers left in the order stream');
  }

  async #handle(event: Envelope, context: DeliveryContext): Promise<void> {
    if (event.type !== 'order.reported') return;
    const d = event.data;
    const answer: VenueOrder = {
      venue: d.venue,
      venueOrderId: d.venueOrderId,
      clientOrderId: d.orderId,
      symbol: d.symbol,
      side: d.side,
      type: d.type,
      status: d.status,
      quantity: d.quantity,
      ...(d.price === undefined ? {} : { price: d.price }),
      executedQuantity: d.executedQuantity,
      ...(d.averagePrice === undefined ? {} : { averagePrice: d.averagePrice }),
      fills: d.fills,
    };
    let lasting = 0;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#o.store.record(answer, d.purpose, d.reportedAt);
        this.#written++;
        this.#metrics.writes.inc({ service: 'execution', outcome: 'written' });
        this.#recovered(attempt);
        return;
      } catch (err) {
        const message = (err as Error).message;
        if (this.#abort.signal.aborted) throw err;
        if (isLastingStoreError(err) && ++lasting >= LASTING_ATTEMPTS) {
          await this.#deadLetter(context, attempt, message);
          this.#recovered(attempt);
          return;
        }
        this.#failing(attempt, message, d.orderId);
        await sleep(backoffDelay(this.#backoff, attempt), undefined, { signal: this.#abort.signal }).catch(() => {
          throw err;
        });
      }
    }
  }

  #failing(attempt: number, message: string, orderId: string): void {
    this.#failingSince ??= Date.now();
    this.#lastError = message;
    this.#metrics.writes.inc({ service: 'execution', outcome: 'retried' });
    this.#metrics.failing.set({ service: 'execution' }, 1);
    if (attempt === 1 || attempt % LOG_EVERY === 0) {
      this.#log.warn(
        { err: message, attempt, orderId },
        'trade store: write failed; the order stream keeps it, retrying',
      );
    }
  }

  #recovered(attempts: number): void {
    if (this.#failingSince === undefined) return;
    const failedForMs = Date.now() - this.#failingSince;
    this.#failingSince = undefined;
    this.#metrics.failing.set({ service: 'execution' }, 0);
    this.#log.info({ attempts, failedForMs }, 'trade store: writes pass again; catching up from the order stream');
  }

  async #deadLetter(context: DeliveryContext, attempts: number, error: string): Promise<void> {
    const { redis, keys } = this.#o;
    const [entry] = await redis.xrange(keys.stream('order'), context.entryId, context.entryId);
    await writeDeadLetter(redis, keys, {
      topic: 'order',
      entryId: context.entryId,
      group: TRADE_STORE_GROUP,
      consumer: this.#o.consumer,
      deliveries: attempts,
      reason: 'max_deliveries',
      error: `the trade store refused the rows ${attempts} times: ${error}`,
      fields: entry?.[1] ?? [],
    });
    this.#metrics.writes.inc({ service: 'execution', outcome: 'dead_lettered' });
    this.#log.error({ entryId: context.entryId, err: error }, 'trade store: rows refused; the answer went to the dlq');
  }
}
