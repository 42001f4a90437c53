import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { currentCorrelationId } from '../../correlation.js';
import type { AdminGuard } from '../../http/auth.js';
import { type Logger, silentLogger } from '../../log.js';
import type { Publisher } from '../../streams/publisher.js';
import type { FeedCandle, FeedStatus, MarketFeed, Tick } from './feed.js';
import type { ReplayPacer } from './replay-pacer.js';
import { FLASH_CRASH_SPREAD_MS } from './synthetic-feed.js';

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

/** An injected crash still under way: its ticks carry the correlation id of the request that injected it. */
interface CrashInFlight {
  readonly symbol: string;
  readonly at: number;
  readonly correlationId: string;
}

/** A feed that can be told to crash a symbol (the synthetic one can). */
export interface CrashableFeed extends MarketFeed {
  injectFlashCrash(symbol: string, drop: number, at: number): void;
}

/** What `GET /feed` answers (docs/market-data.md). */
export interface FeedReport {
  readonly source: FeedStatus['source'] | 'unknown';
  readonly symbols: readonly string[];
  readonly connection: FeedStatus['connection'];
  /** Per symbol, ms since the service published its last tick; null before the first. */
  readonly lastTickAgeMs: Readonly<Record<string, number | null>>;
  /** A replay's progress; null for an endless feed. */
  readonly candles: { readonly replayed: number; readonly total: number } | null;
  readonly details: Readonly<Record<string, unknown>>;
  /** Ticks published. */
  readonly published: number;
  readonly candlesPublished: number;
  readonly done: boolean;
  /** At max speed: looks at the pipeline so far and the largest lag of a group seen. */
  readonly pipeline?: { readonly looks: number; readonly maxLag: number };
}

/** A replay at max speed: a feed that says when its next instant is, and the pacer that waits for the pipeline. */
export interface MaxSpeedReplay {
  readonly feed: MarketFeed & { nextAt(): number | undefined };
  readonly pacer: ReplayPacer;
}

/**
 * The marketdata service: asks its feed for due ticks every `pollMs` and
 * publishes them as `market.tick`, in order, then the candles the feed
 * closed meanwhile as `market.candle`. The feed is synthetic, a replay or
 * live; this class owns the timer and the publishing. A replay at max
 * speed has no timer: each instant goes out once the pipeline has finished
 * with the one before ({@link MaxSpeedReplay}, docs/market-data.md).
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
  #candlesPublished = 0;
  /** When (this service's clock) each symbol's last tick was published. */
  readonly #lastTickAt = new Map<string, number>();
  #finished = false;
  readonly #maxSpeed: MaxSpeedReplay | undefined;
  #maxSpeedLoop: Promise<void> | undefined;
  readonly #stop = new AbortController();
  /** The symbols a flash crash may name: the configured ones, or else every one the feed has ticked. */
  readonly #symbols: Set<string>;
  #crashes: CrashInFlight[] = [];

  constructor(options: {
    publisher: Publisher;
    feed: MarketFeed;
    pollMs?: number;
    now?: () => number;
    log?: Logger;
    /** The symbols the feed ticks, when known up front; otherwise learned from its ticks. */
    symbols?: readonly string[];
    /** Replay at max speed, paced by the pipeline (the feed must be `maxSpeed.feed`). */
    maxSpeed?: MaxSpeedReplay;
  }) {
    this.#maxSpeed = options.maxSpeed;
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
    if (this.#timer || this.#maxSpeedLoop) return;
    if (this.#maxSpeed) {
      this.#maxSpeedLoop = this.#runAtMaxSpeed(this.#maxSpeed);
      return;
    }
    this.#timer = setInterval(() => this.#poll(), this.#pollMs);
  }

  /**
   * Publishes instant after instant: waits until the pipeline has finished
   * with everything before (and its consumer groups exist), moves the event
   * clock to the next instant, publishes its ticks and candles. When the
   * feed is done and the pipeline drained, hands the run over (ReplayRun.finish).
   */
  async #runAtMaxSpeed({ feed, pacer }: MaxSpeedReplay): Promise<void> {
    const signal = this.#stop.signal;
    if (!(await pacer.drained(signal))) return;
    const startIds = await pacer.startIds(signal);
    if (startIds === undefined) return;
    const wallStartedAt = Date.now();
    const firstAt = feed.nextAt() ?? 0;
    let lastAt = firstAt;
    this.#log.info({ from: new Date(firstAt).toISOString(), startIds }, 'replay at max speed started');
    for (let at = feed.nextAt(); at !== undefined; at = feed.nextAt()) {
      pacer.run.advanceTo(at);
      lastAt = at;
      const ticks = feed.next(at);
      const candles = feed.takeCandles?.() ?? [];
      this.#publish(ticks, candles);
      await this.#inFlight;
      if (!(await pacer.drained(signal))) return;
    }
    this.#finished = true;
    this.#log.info({ published: this.#published, candles: this.#candlesPublished }, 'market data feed finished');
    pacer.run.finish({
      startIds,
      ticks: this.#published,
      candles: this.#candlesPublished,
      firstAt,
      lastAt,
      wallStartedAt,
      wallFinishedAt: Date.now(),
    });
  }

  #poll(): void {
    if (this.#finished) return;
    const ticks = this.#feed.next(this.#now());
    const candles = this.#feed.takeCandles?.() ?? [];
    if (ticks.length > 0 || candles.length > 0) this.#publish(ticks, candles);
    if (this.#feed.done) {
      this.#finished = true;
      clearInterval(this.#timer);
      void this.#inFlight.then(() =>
        this.#log.info({ published: this.#published, candles: this.#candlesPublished }, 'market data feed finished'),
      );
    }
  }

  /** Publishes the ticks, then the candles: publish() keeps call order per topic (both are `market`). */
  #publish(ticks: readonly Tick[], candles: readonly FeedCandle[]): void {
    for (const tick of ticks) this.#symbols.add(tick.symbol);
    const sent = ticks.map((t) =>
      this.#publisher
        .publish(
          'market.tick',
          { symbol: t.symbol, price: t.price, volume: t.volume },
          { correlationId: this.#crashOf(t) },
        )
        .then(() => {
          this.#published++;
          this.#lastTickAt.set(t.symbol, this.#now());
        }),
    );
    const closed = candles.map((c) =>
      this.#publisher
        .publish('market.candle', {
          symbol: c.symbol,
          interval: c.interval,
          openTime: new Date(c.openTime).toISOString(),
          open: c.open,
          high: c.high,
          low: c.low,
          close: c.close,
          volume: c.volume,
        })
        .then(() => {
          this.#candlesPublished++;
        }),
    );
    // Failures are logged, never thrown into the timer.
    this.#inFlight = Promise.all([...sent, ...closed]).then(
      () => undefined,
      (err) =>
        this.#log.error(
          { err: (err as Error).message, ticks: ticks.length, candles: candles.length },
          'market data not published',
        ),
    );
  }

  /** What `GET /feed` answers: the feed's own status, and the age of each symbol's last published tick. */
  report(): FeedReport {
    const status = this.#feed.status?.();
    const symbols = status?.symbols ?? this.symbols;
    const now = this.#now();
    const lastTickAgeMs = Object.fromEntries(
      symbols.map((s) => {
        const at = this.#lastTickAt.get(s);
        return [s, at === undefined ? null : Math.max(0, now - at)];
      }),
    );
    return {
      source: status?.source ?? 'unknown',
      symbols,
      connection: status?.connection ?? 'n/a',
      lastTickAgeMs,
      candles: status?.candles ?? null,
      details: status?.details ?? {},
      published: this.#published,
      candlesPublished: this.#candlesPublished,
      done: this.#feed.done,
      ...(this.#maxSpeed ? { pipeline: this.#maxSpeed.pacer.stats } : {}),
    };
  }

  /**
   * The correlation id of the crash `tick` belongs to, if any: the ticks the
   * synthetic feed moves for a crash (from its `at` until the drop is
   * complete, {@link FLASH_CRASH_SPREAD_MS} later) carry the id of the request
   * that injected it, so `qt trace` follows the request into what the crash
   * caused (the ESS trip, exits). A crash is forgotten after its last tick.
   */
  #crashOf(tick: Tick): string | undefined {
    const crash = this.#crashes.find((c) => c.symbol === tick.symbol && tick.at >= c.at);
    if (crash === undefined) return undefined;
    if (tick.at >= crash.at + FLASH_CRASH_SPREAD_MS) this.#crashes = this.#crashes.filter((c) => c !== crash);
    return crash.correlationId;
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
    const at = this.#now();
    feed.injectFlashCrash(symbol, drop, at);
    const correlationId = currentCorrelationId();
    if (correlationId !== undefined) this.#crashes.push({ symbol, at, correlationId });
    this.#log.warn({ symbol, drop }, 'flash crash injected');
    return 'injected';
  }

  /**
   * `GET /feed` ({@link report}) and `POST /scenario/flash-crash` (admin token; 400 on a bad body, 409 when
   * the feed cannot crash, 422 `unknown_symbol` with the known symbols when
   * it does not tick the symbol).
   */
  registerRoutes(app: FastifyInstance, guardAdmin: AdminGuard): void {
    app.get('/feed', async () => this.report());
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

  /** Stops polling, waits for the last ticks and candles to be published, and closes the feed. Idempotent. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#stop.abort();
    await this.#maxSpeedLoop;
    await this.#inFlight;
    await this.#feed.close?.();
  }
}
