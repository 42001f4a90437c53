import test from 'ava';
import {
  type Candle,
  createCsvFeed,
  DEFAULT_CANDLE_INTERVAL_MS,
  OhlcvCsvError,
  parseOhlcvCsv,
} from '../../../src/actors/marketdata/csv-feed.js';

const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);
const MIN = 60_000;

const EPOCH_CSV = `timestamp,open,high,low,close,volume
${T0},100,110,95,105,8
${T0 + MIN},105,106,90,92,4
`;
const ISO_CSV = `Timestamp, Open, High, Low, Close, Volume\r
2026-01-05T12:00:00Z,100,110,95,105,8\r
\r
2026-01-05T12:01:00.000+00:00,105,106,90,92,4\r
`;

function badLine(text: string): OhlcvCsvError {
  let error: unknown;
  try {
    parseOhlcvCsv(text, 'BTCUSDT');
  } catch (err) {
    error = err;
  }
  if (!(error instanceof OhlcvCsvError)) throw new Error(`expected an OhlcvCsvError, got ${String(error)}`);
  return error;
}

test('parses epoch-ms and ISO-8601 timestamps to the same candles', (t) => {
  const expected: Candle[] = [
    { symbol: 'BTCUSDT', openTime: T0, open: 100, high: 110, low: 95, close: 105, volume: 8 },
    { symbol: 'BTCUSDT', openTime: T0 + MIN, open: 105, high: 106, low: 90, close: 92, volume: 4 },
  ];
  t.deepEqual(parseOhlcvCsv(EPOCH_CSV, 'BTCUSDT'), expected);
  t.deepEqual(parseOhlcvCsv(ISO_CSV, 'BTCUSDT'), expected);
});

test('a header line is required unless the file is a Binance kline file', (t) => {
  const err = badLine(`${T0},100,110,95,105,8\n`);
  t.is(err.line, 1);
  t.is(err.code, 'QT_FEED_INVALID');
  t.regex(err.message, /^CSV line 1: no header, and not a Binance kline row \(12 columns, got 6\)/);
  t.regex(badLine('\n\n').message, /^CSV line 1: empty file/);
});

test('errors name the bad line and say what is wrong', (t) => {
  const cases: [string, RegExp][] = [
    [`${T0},100,110,95,105`, /^column 6 \(volume\): missing \(the row has 5 columns\)$/],
    [`${T0},abc,110,95,105,8`, /^column 2 \(open\): "abc" is not a number$/],
    [`yesterday,100,110,95,105,8`, /^column 1 \(timestamp\): "yesterday" is not a time \(epoch s\/ms\/µs, ISO-8601/],
    [`2026-02-30 12:00,100,110,95,105,8`, /^column 1 \(timestamp\): "2026-02-30 12:00" is not a time/],
    [`${T0},-1,110,95,105,8`, /^column 2 \(open\): -1 is not a price \(must be > 0\)$/],
    [`${T0},100,110,95,105,-8`, /^column 6 \(volume\): -8 is negative$/],
    [`${T0},100,99,95,105,8`, /^column 3 \(high\): high 99 is below open 100 or close 105$/],
    [`${T0 + 2 * MIN},100,110,101,105,8`, /^column 4 \(low\): low 101 is above open 100 or close 105$/],
    [
      `${T0},100,110,95,105,8`,
      /^column 1 \(timestamp\): time 2026-01-05T12:00:00.000Z is not after 2026-01-05T12:01:00.000Z \(line 3\)/,
    ],
  ];
  for (const [row, message] of cases) {
    const err = badLine(`${EPOCH_CSV}\n${row}\n`);
    t.is(err.line, 5, row); // header, 2 rows, the blank line, then the bad row
    t.is(err.file, 'CSV');
    t.true(err.message.startsWith('CSV line 5, '), err.message);
    t.regex(err.message.slice('CSV line 5, '.length), message, row);
  }
});

test('an invalid symbol is refused', (t) => {
  t.throws(() => parseOhlcvCsv(EPOCH_CSV, 'btc/usdt'), {
    code: 'QT_FEED_INVALID',
    message: /must be like BTCUSDT/,
  } as never);
});

test('replay gives four ticks a candle along O-L-H-C (up) or O-H-L-C (down), in time order, then done', (t) => {
  const candles = parseOhlcvCsv(EPOCH_CSV, 'BTCUSDT');
  const startAt = T0 + 1_000_000;
  const feed = createCsvFeed(candles, { startAt, speed: 60 }); // a minute candle replays in a second
  t.false(feed.done);
  t.deepEqual(feed.next(startAt - 1), []);
  const first = feed.next(startAt + 499);
  t.deepEqual(
    first.map((x) => [x.price, x.at]),
    [
      [100, startAt],
      [95, startAt + 250],
    ],
  );
  const rest = feed.next(startAt + 10_000);
  t.deepEqual(
    rest.map((x) => [x.price, x.at]),
    [
      [110, startAt + 500],
      [105, startAt + 750],
      [105, startAt + 1000],
      [106, startAt + 1250],
      [90, startAt + 1500],
      [92, startAt + 1750],
    ],
  );
  t.true([...first, ...rest].every((x) => x.symbol === 'BTCUSDT'));
  t.is(
    [...first, ...rest].reduce((s, x) => s + x.volume, 0),
    12,
  );
  t.true(feed.done);
  t.deepEqual(feed.next(startAt + 100_000), []);
  t.deepEqual(
    feed.takeCandles().map((c) => [c.interval, c.openTime, c.close]),
    [
      ['1m', T0, 105],
      ['1m', T0 + MIN, 92],
    ],
  );
});

test('a single candle uses intervalMs, or the default interval, for its duration', (t) => {
  const one = parseOhlcvCsv(`timestamp,open,high,low,close,volume\n${T0},1,2,0.5,1.5,1\n`, 'ETHUSDT');
  const last = (intervalMs?: number) =>
    createCsvFeed(one, intervalMs === undefined ? { startAt: 0, speed: 1 } : { startAt: 0, speed: 1, intervalMs })
      .next(Number.MAX_SAFE_INTEGER)
      .at(-1)?.at;
  t.is(last(), (DEFAULT_CANDLE_INTERVAL_MS * 3) / 4);
  t.is(last(4_000), 3_000);
});

test('an empty file (header only) is a feed that is done at once', (t) => {
  const feed = createCsvFeed(parseOhlcvCsv('timestamp,open,high,low,close,volume\n', 'BTCUSDT'), { startAt: 0 });
  t.true(feed.done);
  t.deepEqual(feed.next(T0), []);
});

test('invalid replay options or unordered candles are refused', (t) => {
  const candles = parseOhlcvCsv(EPOCH_CSV, 'BTCUSDT');
  t.throws(() => createCsvFeed(candles, { startAt: 0, speed: 0 }));
  t.throws(() => createCsvFeed([...candles].reverse(), { startAt: 0 }), { code: 'QT_FEED_INVALID' } as never);
});
