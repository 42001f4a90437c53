/**
 * The CSV replay through a real `main`: two symbols from two files in two
 * formats (a Binance kline file in µs, a headed CSV with a gap and a
 * maintenance bar) replayed into Redis as `market.tick` and `market.candle`,
 * both symbols merged in time order and each candle after its own ticks, and
 * `GET /feed` reporting the replay; and a bad file stopping `main` with exit
 * 2 and a message naming file, line, column and why (no stack trace).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { createCsvFeed } from '../../../src/actors/marketdata/csv-feed.js';
import { parseOhlcvCsv } from '../../../src/actors/marketdata/csv-parse.js';
import type { FeedReport } from '../../../src/actors/marketdata/service.js';
import { decodeEntry } from '../../../src/streams/codec.js';
import { waitFor } from '../../support/bus.js';
import { spawnMain, startMain } from '../../support/main-process.js';
import { redisRig } from '../../support/rig.js';

const MIN = 60_000;
const T0 = Date.UTC(2025, 0, 1);
const CANDLES = 12;

/** BTCUSDT: a Binance kline file (no header, open and close times in µs), one candle a minute. */
function binanceFile(): string {
  return Array.from({ length: CANDLES }, (_, i) => {
    const open = 60_000 + i * 10;
    const close = i % 2 === 0 ? open + 7 : open - 3;
    const at = (T0 + i * MIN) * 1000;
    return `${at},${open},${open + 12},${open - 9},${close},${i + 1},${at + MIN * 1000 - 1},0,0,0,0,0`;
  }).join('\n');
}

/** ETHUSDT: a headed CSV (ISO times, CRLF), opening 30 s after BTCUSDT, with three bars missing and a maintenance bar. */
function headedFile(): string {
  const rows = Array.from({ length: CANDLES }, (_, i) => i)
    .filter((i) => i < 4 || i > 6)
    .map((i) => {
      const at = new Date(T0 + MIN / 2 + i * MIN).toISOString();
      return i === 8
        ? `${at},3000,3000,3000,3000,0`
        : `${at},${3000 + i},${3004 + i},${2998 + i},${3001 + i},${2 * i + 1}`;
    });
  return `Date,Open,High,Low,Close,Adj Close,Volume\r\n${rows.map((r) => r.replace(/,([^,]*)$/, ',0,$1')).join('\r\n')}\r\n`;
}

interface Entry {
  type: string;
  data: Record<string, unknown> & { symbol: string };
}

test('a two-symbol replay reaches Redis as ticks and candles in time order, and GET /feed reports it', async (t) => {
  const rig = await redisRig(t, 'csv-main');
  const btc = join(rig.dataDir, 'btc.csv');
  const eth = join(rig.dataDir, 'eth.csv');
  await writeFile(btc, binanceFile());
  await writeFile(eth, headedFile());
  const { run, port } = await startMain(t, ['--actors=marketdata'], {
    ...rig.env,
    QT_PRODUCER_ID: 'csv-main',
    QT_FEED_CSV: `BTCUSDT=${btc},ETHUSDT=${eth}`,
    QT_FEED_CSV_SPEED: '600', // a minute candle in 100 ms
  });
  const url = `http://127.0.0.1:${port(8006)}/feed`;
  const feed = async () => (await (await fetch(url)).json()) as FeedReport;
  await waitFor(async () => (await feed()).done === true, 'the replay to finish', 30_000);
  const total = CANDLES + (CANDLES - 3);
  await waitFor(async () => (await feed()).candlesPublished === total, 'every candle published', 10_000);
  const report = await feed();
  t.like(report, {
    source: 'csv',
    symbols: ['BTCUSDT', 'ETHUSDT'],
    connection: 'n/a',
    candles: { replayed: total, total },
    published: total * 4,
    candlesPublished: total,
    done: true,
  });
  t.deepEqual(report.details.intervals, { BTCUSDT: '1m', ETHUSDT: '1m' });
  for (const symbol of ['BTCUSDT', 'ETHUSDT']) t.true((report.lastTickAgeMs[symbol] ?? -1) >= 0, symbol);

  const redis = rig.server.client();
  t.teardown(() => redis.disconnect());
  const entries = (await redis.xrange(rig.keys.stream('market'), '-', '+')).map(
    ([, fields]) => decodeEntry(fields) as unknown as Entry,
  );
  // The ticks and candles the same files give through the pure replay, in the order it merges them.
  const candles = [...parseOhlcvCsv(binanceFile(), 'BTCUSDT'), ...parseOhlcvCsv(headedFile(), 'ETHUSDT')];
  const expected = createCsvFeed(candles, { startAt: 0, speed: 600, intervalMs: MIN });
  const expectedTicks = expected.next(Number.MAX_SAFE_INTEGER).map((x) => [x.symbol, x.price, x.volume]);
  const expectedCandles = expected.takeCandles().map((c) => [c.symbol, new Date(c.openTime).toISOString(), c.volume]);
  const ticks = entries.filter((e) => e.type === 'market.tick');
  const published = entries.filter((e) => e.type === 'market.candle');
  t.deepEqual(
    ticks.map((e) => [e.data.symbol, e.data.price, e.data.volume]),
    expectedTicks,
  );
  t.deepEqual(
    published.map((e) => [e.data.symbol, e.data.openTime, e.data.volume]),
    expectedCandles,
  );
  t.true(new Set(ticks.map((e) => e.data.symbol)).size === 2 && published.every((e) => e.data.interval === '1m'));
  // The gap stays a gap (no ETHUSDT candle from 00:04:30 to 00:06:30), the maintenance bar is there with volume 0.
  const ethOpens = published.filter((e) => e.data.symbol === 'ETHUSDT').map((e) => e.data.openTime);
  t.false(ethOpens.includes(new Date(T0 + MIN / 2 + 5 * MIN).toISOString()));
  t.like(published.find((e) => e.data.openTime === new Date(T0 + MIN / 2 + 8 * MIN).toISOString())?.data, {
    symbol: 'ETHUSDT',
    open: 3000,
    close: 3000,
    volume: 0,
  });
  // Each candle comes after the last of its own ticks.
  for (const [k, candle] of entries.entries()) {
    if (candle.type !== 'market.candle') continue;
    const own = entries.slice(0, k).filter((e) => e.type === 'market.tick' && e.data.symbol === candle.data.symbol);
    t.true(own.length >= 4, `${candle.data.symbol} ${candle.data.openTime} after its ticks`);
  }
  run.child.kill('SIGTERM');
  t.is(await run.exit, 0);
});

test('a bad row stops main with exit 2 and a message naming file, line, column and why', async (t) => {
  const rig = await redisRig(t, 'csv-main-bad');
  const dir = await mkdtemp(join(tmpdir(), 'qt-csv-main-bad-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const bad = join(dir, 'bad.csv');
  await writeFile(
    bad,
    'timestamp,open,high,low,close,volume\n2025-01-01T00:00:00Z,1,2,0.5,1.5,3\n2025-01-01T00:01:00Z,1,oops,0.5,1.5,3\n',
  );
  const run = spawnMain(['--actors=marketdata'], { ...rig.env, QT_PRODUCER_ID: 'csv-main-bad', QT_FEED_CSV: bad });
  t.teardown(() => run.child.kill('SIGKILL'));
  t.is(await run.exit, 2);
  t.true(
    run.out().includes(`cannot start services: ${bad} line 3, column 3 (high): "oops" is not a number\n`),
    run.out(),
  );
  t.notRegex(run.out(), /\n\s+at /, 'no stack trace');
});
