/**
 * The CSV replay (src/actors/marketdata/csv-feed.ts) over parsed series:
 * symbols merged in time order, a gap replayed as a gap (no candle stretched
 * across it), a maintenance bar as ticks of volume 0, candles handed over
 * once closed, the status GET /feed shows; and the parser giving the same
 * candles however its input is chunked.
 */
import test from 'ava';
import { type CsvFeed, createCsvFeed } from '../../../src/actors/marketdata/csv-feed.js';
import { type Candle, CsvParser, parseCsvText } from '../../../src/actors/marketdata/csv-parse.js';

const MIN = 60_000;
const T0 = Date.UTC(2025, 0, 1);

function candle(symbol: string, openTime: number, o: number, h: number, l: number, c: number, v: number): Candle {
  return { symbol, openTime, open: o, high: h, low: l, close: c, volume: v };
}

/** Everything a feed gives up to `until`, polled every `stepMs` like the service does. */
function drain(feed: CsvFeed, from: number, until: number, stepMs: number) {
  const ticks = [];
  const candles = [];
  for (let now = from; now <= until; now += stepMs) {
    ticks.push(...feed.next(now));
    candles.push(...feed.takeCandles());
  }
  return { ticks, candles };
}

test('two symbols replay merged in time order, ties in symbol order, each candle after its own ticks', (t) => {
  const feed = createCsvFeed(
    [
      candle('ETHUSDT', T0, 10, 11, 9, 10.5, 4),
      candle('ETHUSDT', T0 + MIN, 10.5, 10.6, 10, 10.1, 8),
      candle('BTCUSDT', T0 + MIN / 2, 100, 110, 95, 105, 8), // opens half a minute later
      candle('BTCUSDT', T0 + (3 * MIN) / 2, 105, 106, 90, 92, 4),
    ],
    { startAt: 0, speed: 60 },
  );
  t.deepEqual(feed.status().symbols, ['BTCUSDT', 'ETHUSDT']);
  const { ticks, candles } = drain(feed, 0, 5_000, 50);
  t.true(feed.done);
  t.deepEqual(
    ticks.map((x) => `${x.at} ${x.symbol} ${x.price}`),
    [
      '0 ETHUSDT 10',
      '250 ETHUSDT 9',
      '500 BTCUSDT 100', // a tie at 500: BTCUSDT first
      '500 ETHUSDT 11',
      '750 BTCUSDT 95',
      '750 ETHUSDT 10.5',
      '1000 BTCUSDT 110',
      '1000 ETHUSDT 10.5',
      '1250 BTCUSDT 105',
      '1250 ETHUSDT 10.6',
      '1500 BTCUSDT 105',
      '1500 ETHUSDT 10',
      '1750 BTCUSDT 106',
      '1750 ETHUSDT 10.1',
      '2000 BTCUSDT 90',
      '2250 BTCUSDT 92',
    ],
  );
  t.deepEqual(
    candles.map((c) => `${c.symbol} ${new Date(c.openTime).toISOString()} ${c.interval}`),
    [
      'ETHUSDT 2025-01-01T00:00:00.000Z 1m',
      'BTCUSDT 2025-01-01T00:00:30.000Z 1m',
      'ETHUSDT 2025-01-01T00:01:00.000Z 1m',
      'BTCUSDT 2025-01-01T00:01:30.000Z 1m',
    ],
  );
  t.deepEqual(feed.status().candles, { replayed: 4, total: 4 });
});

test('a gap replays as a gap: the candle before it lasts its interval, not until the next one opens', (t) => {
  const feed = createCsvFeed(
    [
      candle('BTCUSDT', T0, 100, 101, 99, 100.5, 4),
      candle('BTCUSDT', T0 + MIN, 100.5, 102, 100, 101, 4),
      candle('BTCUSDT', T0 + 10 * MIN, 101, 103, 100, 102, 4), // eight bars missing
    ],
    { startAt: 0, speed: 60 },
  );
  const { ticks, candles } = drain(feed, 0, 20_000, 50);
  t.deepEqual(
    ticks.map((x) => x.at),
    [0, 250, 500, 750, 1000, 1250, 1500, 1750, 10_000, 10_250, 10_500, 10_750],
  );
  t.is(candles.length, 3);
  t.true(candles.every((c) => c.interval === '1m'));
});

test('a zero-volume maintenance bar replays as flat ticks of volume 0 and a candle of volume 0', (t) => {
  const feed = createCsvFeed(
    [
      candle('BTCUSDT', T0, 100, 101, 99, 100, 4),
      candle('BTCUSDT', T0 + MIN, 100, 100, 100, 100, 0),
      candle('BTCUSDT', T0 + 2 * MIN, 100, 102, 99, 101, 8),
    ],
    { startAt: 0, speed: 60 },
  );
  const { ticks, candles } = drain(feed, 0, 5_000, 100);
  t.deepEqual(
    ticks.slice(4, 8).map((x) => [x.price, x.volume]),
    [
      [100, 0],
      [100, 0],
      [100, 0],
      [100, 0],
    ],
  );
  t.is(candles[1]?.volume, 0);
  t.deepEqual(
    ticks.map((x) => x.volume),
    [1, 1, 1, 1, 0, 0, 0, 0, 2, 2, 2, 2],
  );
});

test('a candle closes at the end of its interval, so done waits for the last close', (t) => {
  const feed = createCsvFeed([candle('BTCUSDT', T0, 1, 2, 0.5, 1.5, 4)], { startAt: 1_000, speed: 1 });
  t.is(feed.next(1_000 + (3 * MIN) / 4).length, 4, 'all four ticks by ¾ of the minute');
  t.deepEqual(feed.takeCandles(), []);
  t.false(feed.done);
  t.deepEqual(feed.next(1_000 + MIN - 1), []);
  t.false(feed.done);
  t.deepEqual(feed.next(1_000 + MIN), []);
  t.true(feed.done);
  t.deepEqual(feed.takeCandles(), [{ ...candle('BTCUSDT', T0, 1, 2, 0.5, 1.5, 4), interval: '1m' }]);
  t.deepEqual(feed.takeCandles(), [], 'each candle once');
  const status = feed.status();
  t.is(status.source, 'csv');
  t.is(status.connection, 'n/a');
  t.deepEqual(status.candles, { replayed: 1, total: 1 });
  t.is(status.details?.replayedUntil, new Date(T0 + (3 * MIN) / 4).toISOString());
});

test('candles opening closer than the interval never make ticks go back in time', (t) => {
  const feed = createCsvFeed(
    [
      candle('BTCUSDT', T0, 1, 2, 0.5, 1.5, 4),
      candle('BTCUSDT', T0 + MIN, 1, 2, 0.5, 1.5, 4),
      candle('BTCUSDT', T0 + MIN + 1_000, 1, 2, 0.5, 1.5, 4),
    ],
    { startAt: 0, speed: 1 },
  );
  const ats = feed.next(10 * MIN).map((x) => x.at);
  t.deepEqual(
    ats,
    [...ats].sort((a, b) => a - b),
  );
  t.deepEqual(ats.slice(4, 8), [MIN, MIN + 250, MIN + 500, MIN + 750]);
});

test('the parser gives the same candles however its input is chunked', (t) => {
  const text = `\uFEFFDate,Open,High,Low,Close,Volume\r\n${Array.from({ length: 50 }, (_, i) => `${new Date(T0 + i * MIN).toISOString()},${100 + i},${102 + i},${99 + i},${101 + i},${i}`).join('\r\n')}`;
  const whole = parseCsvText(text, 'x.csv');
  t.is(whole.length, 50);
  for (const size of [1, 2, 7, 64, 1000]) {
    const parser = new CsvParser('x.csv');
    for (let i = 0; i < text.length; i += size) parser.push(text.slice(i, i + size));
    t.deepEqual(parser.end(), whole, `chunks of ${size}`);
  }
});
