/**
 * The settings of the live Binance feed and the rule that picks the feed:
 * `QT_FEED` names it; unset, it is csv when `QT_FEED_CSV` is set, else
 * synthetic; contradictions and impossible values are QT_CONFIG_INVALID
 * naming the key, in `loadConfig` and in `main` (exit 2, no stack trace).
 */
import test from 'ava';
import { DEFAULT_BINANCE_FEED_RENEW_MS } from '../../../src/config/live-feed.js';
import { loadConfig } from '../../../src/config/load.js';
import { QtError } from '../../../src/errors.js';
import { spawnMain } from '../../support/main-process.js';

const SAMPLE = 'data/sample/BTCUSDT-1m.csv';

/** The issues loadConfig reports for `env`, as `KEY: message`. */
function issues(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (!(err instanceof QtError) || err.code !== 'QT_CONFIG_INVALID') throw err;
    const list = (err.details?.issues ?? []) as { key: string; message: string }[];
    return list.map((i) => `${i.key}: ${i.message}`);
  }
  return [];
}

test('the feed: QT_FEED when set, else csv with QT_FEED_CSV, else synthetic', (t) => {
  t.is(loadConfig({}).feed.source, 'synthetic');
  t.is(loadConfig({ QT_FEED_CSV: SAMPLE }).feed.source, 'csv');
  t.is(loadConfig({ QT_FEED: 'csv', QT_FEED_CSV: SAMPLE }).feed.source, 'csv');
  t.is(loadConfig({ QT_FEED: 'binance' }).feed.source, 'binance');
  t.is(loadConfig({ QT_FEED: 'binance-testnet' }).feed.source, 'binance-testnet');
});

test('the live feed settings and their defaults', (t) => {
  t.deepEqual(loadConfig({ QT_FEED: 'binance' }).feed.binance, {
    symbols: ['BTCUSDT', 'ETHUSDT', 'SOLUSDT'],
    intervals: ['1m'],
    ticks: 'trades',
    wsUrl: undefined,
    restUrl: undefined,
    renewAfterMs: DEFAULT_BINANCE_FEED_RENEW_MS,
    staleAfterMs: 60_000,
    reconnectBaseMs: 500,
    reconnectMaxMs: 30_000,
  });
  const custom = loadConfig({
    QT_FEED: 'binance-testnet',
    QT_FEED_BINANCE_SYMBOLS: 'BNBUSDT, XRPUSDT',
    QT_FEED_BINANCE_INTERVALS: '1m,5m,1h',
    QT_FEED_BINANCE_TICKS: 'bookTicker',
    QT_FEED_BINANCE_WS_URL: 'ws://127.0.0.1:9000',
    QT_FEED_BINANCE_REST_URL: 'http://127.0.0.1:9001',
    QT_FEED_BINANCE_RENEW_MS: '3600000',
  }).feed.binance;
  t.deepEqual(custom.symbols, ['BNBUSDT', 'XRPUSDT']);
  t.deepEqual(custom.intervals, ['1m', '5m', '1h']);
  t.is(custom.ticks, 'bookTicker');
  t.is(custom.wsUrl, 'ws://127.0.0.1:9000');
  t.is(custom.restUrl, 'http://127.0.0.1:9001');
  t.is(custom.renewAfterMs, 3_600_000);
});

test('conflicting feed settings name the key', (t) => {
  t.deepEqual(issues({ QT_FEED: 'binance', QT_FEED_CSV: SAMPLE }), [
    'QT_FEED: is binance but QT_FEED_CSV is set too: unset QT_FEED_CSV, or set QT_FEED=csv (or leave QT_FEED unset) to replay it',
  ]);
  t.deepEqual(issues({ QT_FEED: 'synthetic', QT_FEED_CSV: SAMPLE }).length, 1);
  t.deepEqual(issues({ QT_FEED: 'csv' }), ['QT_FEED_CSV: is required when QT_FEED is csv']);
  t.deepEqual(issues({ QT_FEED_BINANCE_RECONNECT_BASE_MS: '5000', QT_FEED_BINANCE_RECONNECT_MAX_MS: '1000' }), [
    'QT_FEED_BINANCE_RECONNECT_BASE_MS: must not exceed QT_FEED_BINANCE_RECONNECT_MAX_MS',
  ]);
});

test('impossible live feed values name the key and what is allowed', (t) => {
  t.deepEqual(
    issues({ QT_FEED: 'kraken' }).map((i) => i.split(':')[0]),
    ['QT_FEED'],
  );
  t.deepEqual(issues({ QT_FEED_BINANCE_INTERVALS: '1m,1w' }), [
    'QT_FEED_BINANCE_INTERVALS: each interval must be one of 1s, 1m, 3m, 5m, 15m, 30m, 1h, 2h, 4h, 6h, 8h, 12h, 1d, 3d',
  ]);
  t.deepEqual(issues({ QT_FEED_BINANCE_SYMBOLS: 'BTCUSDT,btcusdt' }), [
    'QT_FEED_BINANCE_SYMBOLS: each symbol must be upper-case letters and digits, e.g. BTCUSDT',
  ]);
  t.deepEqual(issues({ QT_FEED_BINANCE_SYMBOLS: 'BTCUSDT,BTCUSDT' }), ['QT_FEED_BINANCE_SYMBOLS: lists BTCUSDT twice']);
  t.deepEqual(issues({ QT_FEED_BINANCE_RENEW_MS: '86400000' }), [
    'QT_FEED_BINANCE_RENEW_MS: must be below 86400000 (Binance cuts a connection at 24 h)',
  ]);
  t.deepEqual(issues({ QT_FEED_BINANCE_WS_URL: 'https://stream.binance.com' }), [
    'QT_FEED_BINANCE_WS_URL: must be a ws:// or wss:// URL',
  ]);
  t.deepEqual(issues({ QT_FEED_BINANCE_REST_URL: 'ftp://x' }), [
    'QT_FEED_BINANCE_REST_URL: must be an http:// or https:// URL',
  ]);
  const many = Array.from({ length: 400 }, (_, i) => `S${String(i).padStart(3, '0')}USDT`).join(',');
  t.deepEqual(issues({ QT_FEED_BINANCE_SYMBOLS: many, QT_FEED_BINANCE_INTERVALS: '1m,5m' }), [
    'QT_FEED_BINANCE_SYMBOLS: makes 1200 streams (a kline stream per interval and a tick stream per symbol); Binance allows 1024 on one connection',
  ]);
});

test('main refuses a conflicting feed with exit 2, naming the keys, without a stack trace', async (t) => {
  const run = spawnMain(['--actors=marketdata'], { QT_FEED: 'binance-testnet', QT_FEED_CSV: SAMPLE });
  t.is(await run.exit, 2);
  t.regex(run.out(), /QT_FEED: is binance-testnet but QT_FEED_CSV is set too/);
  t.notRegex(run.out(), /\n\s+at /);
});
