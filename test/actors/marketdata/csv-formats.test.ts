/**
 * The file formats the CSV replay reads (docs/market-data.md), each from a
 * file the test writes: Binance kline files in ms and µs (and the switch
 * between them across a month boundary), headed CSVs in any case and order
 * with extra columns and a pandas index, every time format, CRLF, a BOM, a
 * missing final newline, quoted cells; and the message of a bad row.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { OhlcvCsvError } from '../../../src/actors/marketdata/csv-error.js';
import { candlesOf } from '../../../src/actors/marketdata/csv-parse.js';
import { loadCsvSeries, readCsvFile } from '../../../src/actors/marketdata/csv-source.js';

const MIN = 60_000;
const DAY = 86_400_000;
const DEC31 = Date.UTC(2024, 11, 31, 23, 58);
const JAN1 = Date.UTC(2025, 0, 1);

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'qt-csv-formats-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function writeIn(dir: string, name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

/** A Binance kline row; `unit` 1 for ms, 1000 for µs. */
function binanceRow(openMs: number, o: number, h: number, l: number, c: number, v: number, unit = 1, interval = MIN) {
  const open = openMs * unit;
  const close = (openMs + interval) * unit - 1;
  return `${open},${o},${h},${l},${c},${v},${close},${v * c},12,${v / 2},${(v / 2) * c},0`;
}

/** The candles of a file as [openTime, open, high, low, close, volume] rows. */
async function rowsOf(path: string) {
  return candlesOf(await readCsvFile(path), 'BTCUSDT').map((c) => [
    c.openTime,
    c.open,
    c.high,
    c.low,
    c.close,
    c.volume,
  ]);
}

const TWO = [
  [JAN1, 100, 110, 95, 105, 8],
  [JAN1 + MIN, 105, 106, 90, 92, 4],
];

test('a Binance kline file in milliseconds and one in microseconds give the same candles and state their interval', async (t) => {
  const dir = await tempDir(t);
  const rows = (unit: number) => TWO.map(([at, o, h, l, c, v]) => binanceRow(at!, o!, h!, l!, c!, v!, unit)).join('\n');
  const ms = await writeIn(dir, 'ms.csv', `${rows(1)}\n`);
  const us = await writeIn(dir, 'us.csv', `${rows(1000)}\n`);
  t.deepEqual(await rowsOf(ms), TWO);
  t.deepEqual(await rowsOf(us), TWO);
  for (const path of [ms, us]) {
    const parsed = await readCsvFile(path);
    t.is(parsed.format, 'binance');
    t.is(parsed.statedIntervalMs, MIN);
  }
});

test('monthly Binance files switching from ms (2024) to µs (2025) join into one series across the month boundary', async (t) => {
  const dir = await tempDir(t);
  // Named so that name order and time order differ: the join goes by time.
  await writeIn(
    dir,
    'BTCUSDT-1m-2025-01.csv',
    `${binanceRow(JAN1, 3, 3, 3, 3, 1, 1000)}\n${binanceRow(JAN1 + MIN, 4, 4, 4, 4, 1, 1000)}\n`,
  );
  await writeIn(
    dir,
    'BTCUSDT-1m-2024-12.csv',
    `${binanceRow(DEC31, 1, 1, 1, 1, 1)}\n${binanceRow(DEC31 + MIN, 2, 2, 2, 2, 1)}\n`,
  );
  const [series] = await loadCsvSeries({ csvPath: dir, csvFiles: undefined, csvSymbol: undefined });
  t.truthy(series);
  t.is(series?.symbol, 'BTCUSDT');
  t.is(series?.intervalMs, MIN);
  t.deepEqual([...(series?.openTime ?? [])], [DEC31, DEC31 + MIN, JAN1, JAN1 + MIN]);
  t.deepEqual([...(series?.close ?? [])], [1, 2, 3, 4]);
  t.deepEqual(series?.files, [join(dir, 'BTCUSDT-1m-2024-12.csv'), join(dir, 'BTCUSDT-1m-2025-01.csv')]);
  // The same switch inside one file (the two months concatenated) reads the same.
  const one = await writeIn(
    dir,
    'joined.txt',
    [DEC31, DEC31 + MIN].map((at, i) => binanceRow(at, i + 1, i + 1, i + 1, i + 1, 1)).join('\n') +
      '\n' +
      [JAN1, JAN1 + MIN].map((at, i) => binanceRow(at, i + 3, i + 3, i + 3, i + 3, 1, 1000)).join('\n'),
  );
  t.deepEqual(
    (await rowsOf(one)).map((r) => r[0]),
    [DEC31, DEC31 + MIN, JAN1, JAN1 + MIN],
  );
});

test('headed files: names in any case and order, extra columns ignored, Binance futures header, quoted cells', async (t) => {
  const dir = await tempDir(t);
  const files: Record<string, string> = {
    'yahoo.csv': `Date,Open,High,Low,Close,Adj Close,Volume\n2025-01-01,100,110,95,105,104.5,8\n2025-01-02,105,106,90,92,91.9,4\n`,
    'backtrader.csv': `datetime,open,high,low,close,volume,openinterest\n2025-01-01 00:00:00,100,110,95,105,8,0\n2025-01-02 00:00:00,105,106,90,92,4,0\n`,
    'shuffled.csv': `VOLUME,Close,TIME,Low,High,Open\n8,105,2025-01-01T00:00:00Z,95,110,100\n4,92,2025-01-02T00:00:00Z,90,106,105\n`,
    'futures.csv':
      `open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore\n` +
      `${JAN1},100,110,95,105,8,${JAN1 + DAY - 1},0,0,0,0,0\n${JAN1 + DAY},105,106,90,92,4,${JAN1 + 2 * DAY - 1},0,0,0,0,0\n`,
    'quoted.csv': `"Timestamp","Open","High","Low","Close","Volume"\n"2025-01-01","100","110","95","105","8"\n"2025-01-02","105","106","90","92","4"\n`,
  };
  const daily = TWO.map(([, ...rest], i) => [JAN1 + i * DAY, ...rest]);
  for (const [name, text] of Object.entries(files)) {
    const path = await writeIn(dir, name, text);
    t.deepEqual(await rowsOf(path), daily, name);
    t.is((await readCsvFile(path)).format, 'headed', name);
  }
  t.is((await readCsvFile(join(dir, 'futures.csv'))).statedIntervalMs, DAY);
  t.is((await readCsvFile(join(dir, 'yahoo.csv'))).statedIntervalMs, undefined);
});

test('a pandas index column: an unnamed first column is the time when no column is named so, else ignored', async (t) => {
  const dir = await tempDir(t);
  const datetimeIndex = await writeIn(
    dir,
    'dt-index.csv',
    `,Open,High,Low,Close,Volume\n2025-01-01 00:00:00,100,110,95,105,8\n2025-01-01 00:01:00,105,106,90,92,4\n`,
  );
  const rangeIndex = await writeIn(
    dir,
    'range-index.csv',
    `,timestamp,open,high,low,close,volume\n0,${JAN1},100,110,95,105,8\n1,${JAN1 + MIN},105,106,90,92,4\n`,
  );
  t.deepEqual(await rowsOf(datetimeIndex), TWO);
  t.deepEqual(await rowsOf(rangeIndex), TWO);
});

test('every time format reads to the same instant; a date-time without a zone is UTC', async (t) => {
  const dir = await tempDir(t);
  const at = Date.UTC(2025, 0, 1, 12, 30);
  const cells = [
    String(at / 1000),
    String(at),
    String(at * 1000),
    '2025-01-01T12:30:00Z',
    '2025-01-01T12:30:00.000Z',
    '2025-01-01T14:30:00+02:00',
    '2025-01-01T07:30:00-0500',
    '2025-01-01 12:30:00',
    '2025-01-01 12:30',
    '2025-01-01 12:30:00 UTC',
  ];
  for (const [i, cell] of cells.entries()) {
    const path = await writeIn(dir, `t${i}.csv`, `time,open,high,low,close,volume\n${cell},1,1,1,1,0\n`);
    t.deepEqual(
      (await rowsOf(path)).map((r) => r[0]),
      [at],
      cell,
    );
  }
  const date = await writeIn(dir, 'date.csv', `date,open,high,low,close,volume\n2025-01-01,1,1,1,1,0\n`);
  t.deepEqual(
    (await rowsOf(date)).map((r) => r[0]),
    [JAN1],
  );
});

test('CRLF, LF, a BOM, blank lines and a missing final newline read the same', async (t) => {
  const dir = await tempDir(t);
  const lines = ['timestamp,open,high,low,close,volume', `${JAN1},100,110,95,105,8`, `${JAN1 + MIN},105,106,90,92,4`];
  const variants = {
    lf: `${lines.join('\n')}\n`,
    crlf: `${lines.join('\r\n')}\r\n`,
    bom: `\uFEFF${lines.join('\r\n')}\r\n`,
    noFinalNewline: lines.join('\r\n'),
    blankLines: `\n${lines[0]}\n\n${lines[1]}\r\n  \n${lines[2]}\n\n`,
  };
  for (const [name, text] of Object.entries(variants)) {
    t.deepEqual(await rowsOf(await writeIn(dir, `${name}.csv`, text)), TWO, name);
  }
});

test('gaps and zero-volume maintenance bars are read as they are', async (t) => {
  const dir = await tempDir(t);
  const path = await writeIn(
    dir,
    'gap.csv',
    `${[
      binanceRow(JAN1, 100, 101, 99, 100, 5),
      binanceRow(JAN1 + MIN, 100, 100, 100, 100, 0), // maintenance: flat, nothing traded
      binanceRow(JAN1 + 5 * MIN, 100, 102, 98, 101, 6), // three bars missing before it
      binanceRow(JAN1 + 6 * MIN, 101, 103, 100, 102, 7),
    ].join('\n')}\n`,
  );
  const [series] = await loadCsvSeries({ csvPath: path, csvFiles: undefined, csvSymbol: undefined });
  t.deepEqual([...(series?.openTime ?? [])], [JAN1, JAN1 + MIN, JAN1 + 5 * MIN, JAN1 + 6 * MIN]);
  t.deepEqual([...(series?.volume ?? [])], [5, 0, 6, 7]);
  t.is(series?.intervalMs, MIN, 'the gap does not change the interval');
});

/** The error reading `text` gives. */
async function errorOf(t: ExecutionContext, text: string): Promise<{ error: OhlcvCsvError; path: string }> {
  const dir = await tempDir(t);
  const path = await writeIn(dir, 'bad.csv', text);
  const error = await t.throwsAsync(readCsvFile(path), { instanceOf: OhlcvCsvError });
  if (!error) throw new Error('no error');
  return { error: error as OhlcvCsvError, path };
}

test("a bad row's error names the file, the line, the column and why", async (t) => {
  const good = binanceRow(JAN1, 100, 110, 95, 105, 8);
  const cases: [string, number, number | undefined, RegExp][] = [
    [
      `${good}\r\n${binanceRow(JAN1 + MIN, 100, 110, 95, 105, 8).replace(',110,', ',x1,')}\r\n`,
      2,
      3,
      /column 3 \(high\): "x1" is not a number$/,
    ],
    [
      `${good}\n\n${good}\n`,
      3,
      1,
      /column 1 \(open_time\): time 2025-01-01T00:00:00.000Z is not after 2025-01-01T00:00:00.000Z \(line 1\); rows must be in time order$/,
    ],
    [
      `${good}\n${binanceRow(JAN1 + MIN, 100, 110, 95, 0, 8)}\n`,
      2,
      5,
      /column 5 \(close\): 0 is not a price \(must be > 0\)$/,
    ],
    [
      `${good}\n${good.split(',').slice(0, 5).join(',')}\n`,
      2,
      6,
      /column 6 \(volume\): missing \(the row has 5 columns\)$/,
    ],
    [`Date,Open,High,Low,Close,Volume\n2025-01-01,1,2,0.5,1.5,\n`, 2, 6, /column 6 \(volume\): empty$/],
    [
      `Date,Open,High,Low,Close,Volume\n2025-13-01,1,2,0.5,1.5,3\n`,
      2,
      1,
      /column 1 \(date\): "2025-13-01" is not a time/,
    ],
    [
      `Date,Open,High,Low,Close\n2025-01-01,1,2,0.5,1.5\n`,
      1,
      undefined,
      /line 1: header "Date","Open","High","Low","Close" has no volume;/,
    ],
    [`1,2,3\n`, 1, undefined, /line 1: no header, and not a Binance kline row \(12 columns, got 3\)/],
  ];
  for (const [text, line, column, why] of cases) {
    const { error, path } = await errorOf(t, text);
    t.is(error.code, 'QT_FEED_INVALID');
    t.is(error.file, path);
    t.is(error.line, line, why.source);
    t.is(error.column?.index, column, why.source);
    t.true(error.message.startsWith(`${path} line ${line}`), error.message);
    t.regex(error.message, why);
  }
});

test('a file that cannot be read is named', async (t) => {
  const dir = await tempDir(t);
  const error = await t.throwsAsync(readCsvFile(dir), { message: new RegExp(`^cannot read ${dir}: `) });
  t.is((error as OhlcvCsvError | undefined)?.code, 'QT_FEED_INVALID');
});
