/**
 * The market-data feed contract (docs/architecture.md §11.1). Every source — the seeded
 * synthetic walk, CSV replay, and later a live exchange adapter — implements
 * {@link MarketFeed}, so the marketdata service can turn ticks into
 * `market.tick` events without knowing where they come from.
 *
 * Replay feeds do no I/O and never read the clock: the caller passes `now`,
 * so a test can drive a feed through an hour of market in microseconds. A
 * live feed (a WebSocket) does its I/O on its own and queues what arrives;
 * `next(now)` hands over what is queued.
 */

/** One trade print: a symbol's price and traded volume at an instant. */
export interface Tick {
  /** Symbol like `BTCUSDT` (matches the catalog's `^[A-Z0-9]{2,20}$`). */
  readonly symbol: string;
  /** Positive, finite price. */
  readonly price: number;
  /** Non-negative, finite volume (the synthetic feed always gives > 0). */
  readonly volume: number;
  /** When the tick happens, epoch ms. */
  readonly at: number;
}

/** One closed OHLCV bar, published as `market.candle`. */
export interface FeedCandle {
  readonly symbol: string;
  /** The bar's real interval, as the catalog writes it: `1m`, `5m`, `1h`, `1d`, ... */
  readonly interval: string;
  /** When the bar opened, epoch ms. */
  readonly openTime: number;
  readonly open: number;
  readonly high: number;
  readonly low: number;
  readonly close: number;
  readonly volume: number;
}

/** Where a feed's data comes from. */
export type FeedSource = 'synthetic' | 'csv' | 'binance' | 'binance-testnet';

/** What a feed says about itself, for `GET /feed`. */
export interface FeedStatus {
  readonly source: FeedSource;
  /** The symbols it ticks, sorted. */
  readonly symbols: readonly string[];
  /** A live feed's connection; `n/a` for replay and synthetic feeds. */
  readonly connection: 'n/a' | 'connecting' | 'open' | 'reconnecting' | 'closed';
  /** A replay's progress: candles replayed of the file's total; absent for endless feeds. */
  readonly candles?: { readonly replayed: number; readonly total: number };
  /** Anything else the source wants an operator to see (reconnects, back-filled candles, ...). */
  readonly details?: Readonly<Record<string, unknown>>;
}

/**
 * A source of ticks driven by the caller's clock.
 *
 * Contract: `next(now)` returns every tick with `at <= now` not returned
 * before, ordered by `at` (ties in a stable, deterministic order), and never
 * returns a tick twice. Calling it with a `now` earlier than a previous call
 * returns `[]`. How the calls are chunked never changes the ticks produced.
 */
export interface MarketFeed {
  /** Ticks due up to `now` (inclusive), in time order; advances the feed. */
  next(now: number): Tick[];
  /**
   * Candles closed since the previous call, in time order, each once; a
   * feed without candles (the synthetic walk) leaves it out. The service
   * calls it right after `next(now)` and publishes both.
   */
  takeCandles?(): FeedCandle[];
  /** True when a finite feed (CSV) has nothing left; always false for an endless one. */
  readonly done: boolean;
  /** For `GET /feed`; the service adds the age of each symbol's last tick. */
  status?(): FeedStatus;
  /** Releases what the feed holds open (a live feed's socket). */
  close?(): Promise<void>;
}
