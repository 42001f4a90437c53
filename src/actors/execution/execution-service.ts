import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import type { Backoff } from '../../backoff.js';
import { isQtError, QtError } from '../../errors.js';
import type { EssState } from '../../events/catalog.js';
import type { ExchangeAdapter } from '../../exchange/adapter.js';
import { SqliteTradeStore, TRADE_STORE_FILE } from '../../exchange/sqlite-trade-store.js';
import type { TradeStore } from '../../exchange/trade-store.js';
import type { DependencyHealth } from '../../http/health.js';
import { type Logger, silentLogger } from '../../log.js';
import type { Keys } from '../../streams/keys.js';
import { ActorHost } from '../host.js';
import { type EssProjection, parseEssProjection } from '../risk-safety/ess-projection.js';
import type { BracketConfig } from './execution-book.js';
import { createExecutionSpec, type ExecutionMachine } from './execution-machine.js';
import { OrderRunner } from './order-runner.js';
import { tradeStoreHealth } from './trade-store-health.js';
import { TradeStoreWriter } from './trade-store-writer.js';

/** Query of `GET /orders` and `GET /trades`. */
export const ListQuerySchema = z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) });

/** Settings of {@link ExecutionService}. */
export interface ExecutionServiceOptions {
  readonly redis: Redis;
  readonly keys: Keys;
  readonly producer: string;
  readonly consumer: string;
  /** Builds the venue; `priceOf` gives the latest price execution has seen (the paper exchange fills at it). */
  readonly venue: (priceOf: (symbol: string) => number | undefined) => ExchangeAdapter;
  readonly dataDir: string;
  /** Where orders and fills are recorded (`tradeStoreFromConfig`); default the SQLite store under `dataDir`. */
  readonly tradeStore?: TradeStore;
  /** The trade-store writer's retry backoff (QT_PG_RETRY_*); default `DEFAULT_WRITER_BACKOFF`. */
  readonly tradeStoreBackoff?: Backoff;
  /** How long a clean stop waits for the writer to catch up with the order stream (default 5 s). */
  readonly tradeStoreDrainMs?: number;
  readonly brackets?: Partial<BracketConfig>;
  readonly maxPendingMs?: number;
  readonly log?: Logger;
  readonly registry?: Registry;
  /** The clock of the actor and the order runner (epoch ms); default `Date.now`, a replay's event clock at max speed. */
  readonly now?: () => number;
}

/**
 * The execution service (docs/architecture.md §11.3): the execution actor on its consumer
 * groups (`order`, `ess`, `market`), the order runner that talks to the venue,
 * and the trade store (SQLite, PostgreSQL or both) with its writer, which records
 * the venue answers from the `order` stream (docs/trade-store.md). Serves
 * `GET /orders`, `GET /trades` and `GET /balances`.
 */
export class ExecutionService {
  readonly host: ActorHost<ExecutionMachine>;
  readonly venue: ExchangeAdapter;
  readonly trades: TradeStore;
  /** Records the `order` stream's venue answers into {@link trades}. */
  readonly writer: TradeStoreWriter;
  readonly #runner: OrderRunner;
  readonly #redis: Redis;
  readonly #keys: Keys;
  readonly #log: Logger;
  #closed: Promise<void> | undefined;

  constructor(options: ExecutionServiceOptions) {
    this.#redis = options.redis;
    this.#keys = options.keys;
    this.#log = options.log ?? silentLogger;
    const spec = createExecutionSpec(options.brackets);
    this.host = new ActorHost({
      spec: {
        ...spec,
        toEvents: (event, delivery) => {
          // Logged while the trip is handled, so the line carries the trip's correlation id.
          if (event.type === 'ess.tripped') {
            this.#log.info({ trigger: event.data.trigger }, 'ESS tripped: cancelling resting orders, holding new ones');
          }
          return spec.toEvents(event, delivery);
        },
      },
      redis: options.redis,
      keys: options.keys,
      producer: options.producer,
      source: 'execution',
      consumer: options.consumer,
      log: this.#log,
      ...(options.registry ? { registry: options.registry } : {}),
      ...(options.now ? { now: options.now } : {}),
    });
    this.venue = options.venue((symbol) => {
      const prices = this.host.snapshot.context.lastPrice;
      return Object.hasOwn(prices, symbol) ? prices[symbol] : undefined;
    });
    this.trades = options.tradeStore ?? new SqliteTradeStore(join(options.dataDir, TRADE_STORE_FILE));
    this.writer = new TradeStoreWriter({
      redis: options.redis,
      keys: options.keys,
      consumer: options.consumer,
      store: this.trades,
      log: this.#log,
      ...(options.tradeStoreBackoff ? { backoff: options.tradeStoreBackoff } : {}),
      ...(options.tradeStoreDrainMs === undefined ? {} : { drainMs: options.tradeStoreDrainMs }),
      ...(options.registry ? { registry: options.registry } : {}),
    });
    this.#runner = new OrderRunner({
      host: this.host,
      venue: this.venue,
      essView: () => this.essView(),
      log: this.#log,
      ...(options.registry ? { registry: options.registry } : {}),
      ...(options.maxPendingMs === undefined ? {} : { maxPendingMs: options.maxPendingMs }),
      ...(options.now ? { now: options.now } : {}),
    });
  }

  /** Whether orders wait for a venue call now, and the runner's steps so far (see OrderRunner.work); held until started. */
  async work(): Promise<{ held: boolean; done: number }> {
    try {
      return await this.#runner.work();
    } catch (err) {
      if ((err as { code?: unknown }).code === 'QT_ACTOR_NOT_STARTED') return { held: true, done: 0 };
      throw err;
    }
  }

  /**
   * The ESS state as risk-safety projects it. No projection yet means the ESS
   * never ran a transition: it starts armed. Throws when Redis cannot be read
   * or the projection is malformed, so the runner sends nothing it could not
   * check.
   */
  async essState(): Promise<EssState> {
    return (await this.essView()).state;
  }

  /** The ESS projection's state and trip cause (what the runner gates on and names in a refusal); see {@link essState}. */
  async essView(): Promise<Pick<EssProjection, 'state' | 'trip'>> {
    const raw = await this.#redis.get(this.#keys.projection('ess'));
    if (raw === null) return { state: 'armed' };
    const projection = parseEssProjection(raw);
    // Unreadable is not armed: the runner sends nothing and tries again.
    if (!projection) {
      const key = this.#keys.projection('ess');
      throw new QtError('QT_PROJECTION_INVALID', `the ESS projection ${key} is unreadable`, { details: { key } });
    }
    return { state: projection.state, ...(projection.trip ? { trip: projection.trip } : {}) };
  }

  /**
   * Opens the store, then starts the actor, the writer and the runner. A
   * store that cannot be reached does not hold execution back: the venue
   * answers wait in the `order` stream and the writer records them once it
   * answers. A store this build must not write (QT_STORE_INCOMPATIBLE) does.
   */
  async start(): Promise<void> {
    await this.trades.open().catch((err: unknown) => {
      if (isQtError(err)) throw err;
      this.#log.warn(
        { err: (err as Error).message, store: this.trades.kind },
        'trade store unreachable at start; orders go on, the writer records them from the order stream once it answers',
      );
    });
    await this.host.start();
    await this.writer.start();
    this.#runner.start();
  }

  /** Execution's own dependencies in `/health`: the trade store and its writer (see {@link tradeStoreHealth}). */
  dependencies(): Promise<Record<string, DependencyHealth>> {
    return tradeStoreHealth(this.trades, this.writer.status());
  }

  registerRoutes(app: FastifyInstance): void {
    const list =
      (kind: 'orders' | 'trades') => async (request: { query: unknown }, reply: { code(n: number): unknown }) => {
        const query = ListQuerySchema.safeParse(request.query);
        if (!query.success) {
          reply.code(400);
          return { error: 'invalid query', issues: query.error.issues };
        }
        try {
          return await (kind === 'orders'
            ? this.trades.orders(query.data.limit)
            : this.trades.trades(query.data.limit));
        } catch (err) {
          if (isQtError(err)) throw err;
          // The store is down: say so, and that nothing is lost (the writer records from the stream once it is back).
          reply.code(503);
          return { error: 'trade store unavailable', store: this.trades.kind, detail: (err as Error).message };
        }
      };
    app.get('/orders', list('orders'));
    app.get('/trades', list('trades'));
    app.get('/balances', async () => this.venue.balances());
  }

  /**
   * Stops the runner (after its call in hand), the actor, the writer (after
   * recording what the stream holds, while the store takes writes), the venue
   * and the store. Idempotent.
   */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      await this.#runner.close();
      await this.host.close();
      await this.writer.close();
      await this.venue.close();
      await this.trades.close();
    })();
    return this.#closed;
  }
}
