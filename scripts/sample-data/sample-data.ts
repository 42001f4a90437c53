import { z } from 'zod';
import { OHLCV_HEADER } from '../../src/actors/marketdata/csv-feed.js';
import { createSyntheticFeed, DEFAULT_VOLATILITY } from '../../src/actors/marketdata/synthetic-feed.js';

/**
 * Sample OHLCV data for newcomers: candles aggregated from the seeded
 * synthetic walk, as CSV text that `parseOhlcvCsv`
 * (src/actors/marketdata/csv-feed.ts) reads back. Pure and deterministic;
 * writing the text to disk is the caller's business. Tooling only: the
 * runtime never imports it (`npm run sample-data` does).
 */

/** Synthetic ticks aggregated into each candle. */
export const SAMPLE_TICKS_PER_CANDLE = 60;

/** Options of {@link generateSampleCsv}. */
export const SampleCsvOptionsSchema = z.object({
  seed: z.number().int(),
  symbol: z.string().regex(/^[A-Z0-9]{2,20}$/, 'symbol like BTCUSDT'),
  candles: z.number().int().nonnegative().max(1_000_000),
  /** Candle length; at least {@link SAMPLE_TICKS_PER_CANDLE} ms so each tick has its own ms. */
  intervalMs: z.number().int().min(SAMPLE_TICKS_PER_CANDLE),
  startAt: z.number().int().nonnegative(),
  startPrice: z.number().positive().finite(),
  /** Per-tick log-return stdev of the underlying walk. */
  volatility: z.number().nonnegative().max(1).finite().default(DEFAULT_VOLATILITY),
  timestampFormat: z.enum(['iso', 'epoch']).default('iso'),
});
export type SampleCsvOptions = z.input<typeof SampleCsvOptionsSchema>;

/** Ten significant digits: readable, and rounding keeps low <= open, close <= high. */
const num = (x: number): string => String(Number(x.toPrecision(10)));

/** Generates `candles` OHLCV rows (with header and trailing newline) from the synthetic walk. */
export function generateSampleCsv(options: SampleCsvOptions): string {
  const o = SampleCsvOptionsSchema.parse(options);
  const feed = createSyntheticFeed({
    seed: o.seed,
    symbols: [{ symbol: o.symbol, startPrice: o.startPrice }],
    ticksPerSecond: (SAMPLE_TICKS_PER_CANDLE * 1000) / o.intervalMs,
    volatility: o.volatility,
    startAt: o.startAt,
  });
  const rows = [OHLCV_HEADER];
  let lastClose = o.startPrice;
  for (let c = 0; c < o.candles; c++) {
    const openTime = o.startAt + c * o.intervalMs;
    const ticks = feed.next(openTime + o.intervalMs - 1);
    const prices = ticks.length > 0 ? ticks.map((t) => t.price) : [lastClose];
    const open = prices[0]!;
    const close = prices.at(-1)!;
    const volume = ticks.reduce((sum, t) => sum + t.volume, 0);
    lastClose = close;
    const ts = o.timestampFormat === 'iso' ? new Date(openTime).toISOString() : String(openTime);
    rows.push([ts, num(open), num(Math.max(...prices)), num(Math.min(...prices)), num(close), num(volume)].join(','));
  }
  return `${rows.join('\n')}\n`;
}
