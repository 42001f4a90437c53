/**
 * The market-data feed contract (docs/architecture.md §11.1). Every source — the seeded
 * synthetic walk, CSV replay, and later a live exchange adapter — implements
 * {@link MarketFeed}, so the marketdata service can turn ticks into
 * `market.tick` events without knowing where they come from.
 *
 * Feeds do no I/O and never read the clock: the caller passes `now`, so a
 * test can drive a feed through an hour of market in microseconds.
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
  /** True when a finite feed (CSV) has nothing left; always false for an endless one. */
  readonly done: boolean;
}
