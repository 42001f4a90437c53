import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AdminGuard } from '../../http/auth.js';
import { type Logger, silentLogger } from '../../log.js';
import type { Publisher } from '../../streams/publisher.js';
import type { MarketFeed } from './feed.js';

/** How often the feed is asked for the ticks that are due. */
export const DEFAULT_POLL_MS = 50;

/** The body of `POST /scenario/flash-crash`. */
export const FlashCrashBodySchema = z
  .object({
    symbol: z.string().regex(/^[A-Z0-9]{2,20}$/),
    /** Fraction the price falls, e.g. 0.2 for 20 %. */
    drop: z.number().gt(0).lt(1).default(0.2),
  })
  .strict();

/** A feed that can be told to crash a symbol (the synthetic one can). */
export interface CrashableFeed extends MarketFeed {
  injectFlashCrash(symbol: string, drop: number, at: number): void;
}

/**
 * The marketdata service: asks its feed for due ticks every `pollMs` and
 * publishes them as `market.tick`, in order. The feed is pure (synthetic
 * random walk or CSV replay); this class owns the timer and the publishing.
 */
export class MarketDataService {
  readonly #publisher: Publisher;
  readonly #feed: MarketFeed;
  readonly #pollMs: number;
  readonly #now: () => number;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<unknown> = Promise.resolve();
  #published = 0;
  /** The symbols a flash crash may name: the configured ones, or else every one the feed has ticked. */
  readonly #symbols: Set<string>;

  constructor(options: {
    publisher: Publisher;
    feed: MarketFeed;
    pollMs?: number;
    now?: () => number;
    log?: Logger;
    /** The symbols the feed ticks, when known up front; otherwise learned from its ticks. */
    symbols?: readonly string[];
  }) {
    this.#publisher = options.publisher;
    this.#feed = options.feed;
    this.#pollMs = options.pollMs ?? DEFAULT_POLL_MS;
    this.#now = options.now ?? Date.now;
    this.#log = options.log ?? silentLogger;
    this.#symbols = new Set(options.symbols);
  }

  /** The symbols a flash crash may name, sorted. */
  get symbols(): string[] {
    return [...this.#symbols].sort();
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.#poll(), this.#pollMs);
  }

  #poll(): void {
    if (this.#feed.done) {
      clearInterval(this.#timer);
      this.#log.info({ published: this.#published }, 'market data feed finished');
      return;
    }
    const ticks = this.#feed.next(this.#now());
    if (ticks.length === 0) return;
    for (const tick of ticks) this.#symbols.add(tick.symbol);
    // publish() keeps call order per topic; failures are logged, never thrown into the timer.
    this.#inFlight = Promise.all(
      ticks.map((t) => this.#publisher.publish('market.tick', { symbol: t.symbol, price: t.price, volume: t.volume })),
    ).then(
      () => {
        this.#published += ticks.length;
      },
      (err) => this.#log.error({ err: (err as Error).message, ticks: ticks.length }, 'market ticks not published'),
    );
  }

  /**
   * The flash-crash scenario hook (docs/architecture.md §11.1): `unsupported`
   * when the feed cannot crash, `unknown_symbol` when it does not tick
   * `symbol` (see {@link symbols}), else `injected`.
   */
  injectFlashCrash(symbol: string, drop: number): 'injected' | 'unsupported' | 'unknown_symbol' {
    const feed = this.#feed as Partial<CrashableFeed>;
    if (typeof feed.injectFlashCrash !== 'function') return 'unsupported';
    if (!this.#symbols.has(symbol)) return 'unknown_symbol';
    feed.injectFlashCrash(symbol, drop, this.#now());
    this.#log.warn({ symbol, drop }, 'flash crash injected');
    return 'injected';
  }

  /**
   * `POST /scenario/flash-crash` (admin token; 400 on a bad body, 409 when
   * the feed cannot crash, 422 `unknown_symbol` with the known symbols when
   * it does not tick the symbol).
   */
  registerRoutes(app: FastifyInstance, guardAdmin: AdminGuard): void {
    app.get('/feed', async () => ({ published: this.#published, done: this.#feed.done }));
    app.post('/scenario/flash-crash', async (request, reply) => {
      if (!guardAdmin(request, reply)) return reply;
      const body = FlashCrashBodySchema.safeParse(request.body ?? {});
      if (!body.success) return reply.code(400).send({ error: 'invalid_body', issues: body.error.issues });
      const outcome = this.injectFlashCrash(body.data.symbol, body.data.drop);
      if (outcome === 'unsupported') {
        return reply.code(409).send({ error: 'unsupported', message: 'this feed cannot inject a flash crash' });
      }
      if (outcome === 'unknown_symbol') {
        const known = this.symbols;
        const list = known.length > 0 ? known.join(', ') : 'none has ticked yet';
        const message = `the feed does not tick ${body.data.symbol}; known: ${list}`;
        return reply.code(422).send({ error: 'unknown_symbol', message, known });
      }
      return reply.code(202).send({ injected: body.data });
    });
  }

  /** Stops polling and waits for the last ticks to be published. Idempotent. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#inFlight;
  }
}
