import type { SampleCsvOptions } from './sample-data.js';

/** Where the project's sample OHLCV file lives, relative to the repository root. */
export const SHIPPED_SAMPLE_PATH = 'data/sample/BTCUSDT-1m.csv';

/**
 * The exact options the shipped sample was generated with, so anyone can
 * regenerate it (`npm run sample-data`) and a test can check the file was.
 */
export const SHIPPED_SAMPLE_OPTIONS: SampleCsvOptions = {
  seed: 20_261_122,
  symbol: 'BTCUSDT',
  candles: 240,
  intervalMs: 60_000,
  startAt: Date.UTC(2026, 0, 5, 0, 0, 0),
  startPrice: 65_000,
  volatility: 0.0008,
};
