import test from 'ava';
import { generateSampleCsv, type SampleCsvOptions } from '../../../scripts/sample-data/sample-data.js';
import { createCsvFeed, parseOhlcvCsv } from '../../../src/actors/marketdata/csv-feed.js';

const T0 = Date.UTC(2026, 0, 5, 0, 0, 0);
const options: SampleCsvOptions = {
  seed: 1,
  symbol: 'BTCUSDT',
  candles: 500,
  intervalMs: 60_000,
  startAt: T0,
  startPrice: 60_000,
};

test('sample CSV is deterministic per seed', (t) => {
  t.is(generateSampleCsv(options), generateSampleCsv(options));
  t.not(generateSampleCsv(options), generateSampleCsv({ ...options, seed: 2 }));
});

test('sample CSV round-trips through parseOhlcvCsv with consistent candles', (t) => {
  for (const timestampFormat of ['iso', 'epoch'] as const) {
    const text = generateSampleCsv({ ...options, timestampFormat });
    t.true(text.startsWith('timestamp,open,high,low,close,volume\n'));
    const candles = parseOhlcvCsv(text, 'BTCUSDT');
    t.is(candles.length, 500);
    candles.forEach((c, i) => {
      t.is(c.openTime, T0 + i * 60_000);
      t.true(c.volume > 0);
    });
    t.true(Math.abs(candles[0]!.open - 60_000) / 60_000 < 0.01);
    // Each candle opens one tick after the previous close: close to it, not equal to it.
    for (let i = 1; i < candles.length; i++) {
      const gap = Math.abs(candles[i]!.open / candles[i - 1]!.close - 1);
      t.true(gap < 0.05, `candle ${i} gap ${gap}`);
    }
  }
  t.deepEqual(
    parseOhlcvCsv(generateSampleCsv({ ...options, timestampFormat: 'iso' }), 'BTCUSDT'),
    parseOhlcvCsv(generateSampleCsv({ ...options, timestampFormat: 'epoch' }), 'BTCUSDT'),
  );
});

test('sample CSV replays to the end through the CSV feed', (t) => {
  const feed = createCsvFeed(parseOhlcvCsv(generateSampleCsv({ ...options, candles: 10 }), 'BTCUSDT'), {
    startAt: 0,
    speed: 600,
  });
  t.is(feed.next(1_000).length, 40);
  t.true(feed.done);
});

test('zero candles give just the header; bad options are refused', (t) => {
  t.is(generateSampleCsv({ ...options, candles: 0 }), 'timestamp,open,high,low,close,volume\n');
  t.throws(() => generateSampleCsv({ ...options, intervalMs: 10 }));
  t.throws(() => generateSampleCsv({ ...options, symbol: 'btc' }));
});
