/**
 * Where a CSV replay's files come from (src/actors/marketdata/csv-source.ts,
 * src/config/csv-replay.ts): QT_FEED_CSV as one file, a directory of
 * `SYMBOL-*.csv` files or `SYMBOL=path` pairs, each validated with a message
 * naming the key; a symbol's files joined in time order, refused when they
 * overlap or disagree on the interval.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { csvFilesOf, loadCsvSeries, openCsvFeed } from '../../../src/actors/marketdata/csv-source.js';
import { loadConfig } from '../../../src/config/load.js';

const MIN = 60_000;
const T0 = Date.UTC(2025, 0, 1);
const HEADER = 'timestamp,open,high,low,close,volume';

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'qt-csv-source-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A headed file of `count` one-minute candles from `from`, priced `price`. */
function minutes(from: number, count: number, price: number, stepMs = MIN): string {
  const rows = Array.from({ length: count }, (_, i) => `${from + i * stepMs},${price},${price},${price},${price},1`);
  return `${HEADER}\n${rows.join('\n')}\n`;
}

const single = (csvPath: string) => ({ csvPath, csvFiles: undefined, csvSymbol: undefined });

test('a directory gives each SYMBOL-*.csv file its symbol, joins a symbol’s files in time order, ignores other files', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'ETHUSDT-1m-2025-01.csv'), minutes(T0, 2, 3));
  await writeFile(join(dir, 'BTCUSDT-1m-2025-02.csv'), minutes(T0 + 2 * MIN, 2, 2));
  await writeFile(join(dir, 'BTCUSDT-1m-2025-01.csv'), minutes(T0, 2, 1));
  await writeFile(join(dir, 'BTCUSDT-1m-2025-01.zip.CHECKSUM'), 'not a csv');
  await mkdir(join(dir, 'nested'));
  const series = await loadCsvSeries(single(dir));
  t.deepEqual(
    series.map((s) => [s.symbol, [...s.close], s.intervalMs]),
    [
      ['BTCUSDT', [1, 1, 2, 2], MIN],
      ['ETHUSDT', [3, 3], MIN],
    ],
  );
  t.deepEqual(series.find((s) => s.symbol === 'BTCUSDT')?.files, [
    join(dir, 'BTCUSDT-1m-2025-01.csv'),
    join(dir, 'BTCUSDT-1m-2025-02.csv'),
  ]);
});

test('a directory problem is QT_CONFIG_INVALID naming the key', async (t) => {
  const empty = await tempDir(t);
  await t.throwsAsync(csvFilesOf(single(empty)), {
    message: /QT_FEED_CSV: .* has no SYMBOL-\*\.csv file/,
    code: 'QT_CONFIG_INVALID',
  } as never);
  const lower = await tempDir(t);
  await writeFile(join(lower, 'btcusdt-1m.csv'), minutes(T0, 1, 1));
  await t.throwsAsync(csvFilesOf(single(lower)), {
    message: /QT_FEED_CSV: .*btcusdt-1m\.csv: a file name must start with its symbol, like BTCUSDT-1m-2025-01\.csv/,
  });
  await t.throwsAsync(csvFilesOf({ csvPath: lower, csvFiles: undefined, csvSymbol: 'ETHUSDT' }), {
    message: /QT_FEED_CSV_SYMBOL: applies to a single file/,
  });
  await t.throwsAsync(csvFilesOf(single(join(empty, 'missing.csv'))), {
    message: /QT_FEED_CSV: .*missing\.csv: no such file or directory/,
  });
});

test('a single file takes QT_FEED_CSV_SYMBOL, else BTCUSDT', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'prices.csv');
  await writeFile(path, minutes(T0, 3, 5));
  t.deepEqual(await csvFilesOf(single(path)), [{ symbol: 'BTCUSDT', path }]);
  t.deepEqual(await csvFilesOf({ csvPath: path, csvFiles: undefined, csvSymbol: 'SOLUSDT' }), [
    { symbol: 'SOLUSDT', path },
  ]);
});

test('QT_FEED_CSV as SYMBOL=path pairs: parsed by the config, several files per symbol allowed, mistakes named', async (t) => {
  const dir = await tempDir(t);
  const a = join(dir, 'a.csv');
  const b = join(dir, 'b.csv');
  await writeFile(a, minutes(T0, 2, 1));
  await writeFile(b, minutes(T0 + MIN / 2, 2, 2));
  const config = loadConfig({ QT_FEED_CSV: `BTCUSDT=${a}, ETHUSDT=${b}` });
  t.deepEqual(config.feed.csvFiles, [
    { symbol: 'BTCUSDT', path: a },
    { symbol: 'ETHUSDT', path: b },
  ]);
  t.is(loadConfig({ QT_FEED_CSV: a }).feed.csvFiles, undefined, 'a plain path is not a list');
  t.is(loadConfig({ QT_FEED_CSV: '/data/run=1/btc.csv' }).feed.csvFiles, undefined, 'nor a path with = in a folder');
  const feed = await openCsvFeed(config.feed, { speed: 60, now: () => 0 });
  t.deepEqual(
    feed
      .next(10_000)
      .map((x) => `${x.at} ${x.symbol}`)
      .slice(0, 4),
    ['0 BTCUSDT', '250 BTCUSDT', '500 BTCUSDT', '500 ETHUSDT'],
  );
  const invalid = (env: Record<string, string>) =>
    t.throws(() => loadConfig(env), { code: 'QT_CONFIG_INVALID' } as never);
  t.regex(
    invalid({ QT_FEED_CSV: `BTCUSDT=${a},${b}` })?.message ?? '',
    /QT_FEED_CSV: entry ".*b\.csv" must be SYMBOL=path/,
  );
  t.regex(
    invalid({ QT_FEED_CSV: `btc=${a}` })?.message ?? '',
    /QT_FEED_CSV: entry "btc=.*a\.csv": the symbol must be like BTCUSDT/,
  );
  t.regex(invalid({ QT_FEED_CSV: 'BTCUSDT=' })?.message ?? '', /QT_FEED_CSV: entry "BTCUSDT=" names no file/);
  t.regex(
    invalid({ QT_FEED_CSV: `BTCUSDT=${a}`, QT_FEED_CSV_SYMBOL: 'ETHUSDT' })?.message ?? '',
    /QT_FEED_CSV_SYMBOL: applies to a single file/,
  );
  t.regex(
    invalid({ QT_FEED_CSV: a, QT_FEED_CSV_SYMBOL: 'eth' })?.message ?? '',
    /QT_FEED_CSV_SYMBOL: must be a symbol like BTCUSDT/,
  );
});

test('files of one symbol that overlap, or disagree on the interval, are refused naming both', async (t) => {
  const dir = await tempDir(t);
  const jan = join(dir, 'jan.csv');
  const overlap = join(dir, 'overlap.csv');
  await writeFile(jan, minutes(T0, 3, 1));
  await writeFile(overlap, minutes(T0 + 2 * MIN, 3, 1));
  const files = (...paths: string[]) => ({
    csvPath: 'list',
    csvFiles: paths.map((path) => ({ symbol: 'BTCUSDT', path })),
    csvSymbol: undefined,
  });
  const error = await t.throwsAsync(loadCsvSeries(files(overlap, jan)), { code: 'QT_FEED_INVALID' } as never);
  t.is(
    error?.message,
    `${overlap} line 2, column 1 (timestamp): time 2025-01-01T00:02:00.000Z is not after 2025-01-01T00:02:00.000Z, ` +
      `the last candle of ${jan} (line 4); the files of one symbol must not overlap`,
  );
  const b1 = join(dir, 'b1.csv');
  const b2 = join(dir, 'b2.csv');
  await writeFile(b1, `${T0},1,1,1,1,1,${T0 + MIN - 1},0,0,0,0,0\n`);
  await writeFile(b2, `${T0 + MIN},1,1,1,1,1,${T0 + MIN + 3_600_000 - 1},0,0,0,0,0\n`);
  await t.throwsAsync(loadCsvSeries(files(b1, b2)), {
    message: `BTCUSDT: ${b1} has 1m candles but ${b2} has 1h; one interval per symbol`,
  });
  const empty = join(dir, 'empty.csv');
  await writeFile(empty, `${HEADER}\n`);
  await t.throwsAsync(loadCsvSeries(files(empty)), { message: `BTCUSDT: no candles in ${empty}` });
});

test('the interval is the most common gap between opens, so gaps do not change it', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'hourly.csv');
  const hour = 3_600_000;
  const times = [0, 1, 2, 5, 6, 7, 9].map((h) => T0 + h * hour);
  await writeFile(path, `${HEADER}\n${times.map((at) => `${at},1,1,1,1,1`).join('\n')}\n`);
  const [series] = await loadCsvSeries(single(path));
  t.is(series?.intervalMs, hour);
  const feed = await openCsvFeed(single(path), { speed: 3_600, now: () => 0 });
  t.deepEqual(feed.status().details?.intervals, { BTCUSDT: '1h' });
});
