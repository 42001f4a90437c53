/**
 * The live Binance feed against a fake Binance in the suite (a WebSocket
 * server sending Binance's combined-stream messages, an HTTP server
 * answering `GET /api/v3/klines` with Binance's rows) and a real Redis for
 * the shared weight budget: ticks and closed candles arrive, pings are
 * answered, a silent connection is replaced, a dropped connection is
 * reconnected with backoff and the candles missed meanwhile are back-filled
 * with no hole and no duplicate, a malformed message is counted and not
 * fatal, a renewal before the 24 h limit loses nothing, and close() stops
 * reconnecting.
 */
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import test, { type ExecutionContext } from 'ava';
import { createKlinesBackfill } from '../../../src/actors/marketdata/binance-backfill.js';
import { BinanceFeed, type BinanceFeedOptions } from '../../../src/actors/marketdata/binance-feed.js';
import type { FeedCandle, Tick } from '../../../src/actors/marketdata/feed.js';
import { createLogger } from '../../../src/log.js';
import { testKeys, waitFor } from '../../support/bus.js';
import {
  bookTickerMessage,
  type FakeCandle,
  fakeCandle,
  klineMessage,
  startFakeRest,
  startFakeStreams,
  tradeMessage,
} from '../../support/fake-binance-ws.js';
import { type RedisServer, startRedis } from '../../support/redis-fixture.js';

let server: RedisServer;
test.before(async () => {
  server = await startRedis({ name: 'binance-feed' });
});
test.after.always(() => server?.stop());

/** A minute boundary in 2027, so candles open on whole minutes as Binance's do. */
const T0 = 1_800_000_000_000 - (1_800_000_000_000 % 60_000);
const btc = (n: number): FakeCandle => fakeCandle('BTCUSDT', T0 + n * 60_000, n);

/** What the feed emits for a fake candle. */
function feedCandle(c: FakeCandle): FeedCandle {
  const { intervalMs: _ms, ...rest } = c;
  return rest;
}

/** A feed on the fakes, what it handed over so far (polled like the service does), and its log lines. */
async function rig(t: ExecutionContext, overrides: Partial<BinanceFeedOptions> = {}) {
  const streams = await startFakeStreams(t);
  const rest = await startFakeRest(t);
  const keys = testKeys('binance-feed');
  const redis = server.client();
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({
    level: 'debug',
    destination: new Writable({
      write(chunk, _enc, done) {
        for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
        done();
      },
    }),
  });
  const backfill = createKlinesBackfill({ restUrl: rest.url, venue: 'binance', redis, keys, log });
  const feed = new BinanceFeed({
    source: 'binance',
    symbols: ['BTCUSDT', 'ETHUSDT'],
    intervals: ['1m'],
    ticks: 'trades',
    wsUrl: streams.url,
    fetchGap: backfill.fetchGap,
    renewAfterMs: 3_600_000,
    staleAfterMs: 60_000,
    reconnect: { baseMs: 50, maxMs: 200, jitter: 'equal' },
    log,
    onClose: () => backfill.close(),
    ...overrides,
  });
  const ticks: Tick[] = [];
  const candles: FeedCandle[] = [];
  const poll = setInterval(() => {
    ticks.push(...feed.next(Date.now()));
    candles.push(...(feed.takeCandles?.() ?? []));
  }, 5);
  t.teardown(async () => {
    clearInterval(poll);
    await feed.close();
    redis.disconnect();
  });
  const details = () => feed.status().details as Record<string, number>;
  return { streams, rest, keys, redis, feed, ticks, candles, lines, details };
}

test('ticks from trades and closed candles arrive, each once; the URL carries the subscription', async (t) => {
  const { streams, rest, feed, ticks, candles, details } = await rig(t);
  await waitFor(() => streams.open().length === 1, 'the connection');
  const [conn] = streams.connections;
  t.is(conn?.path, '/stream');
  t.deepEqual(conn?.streams, ['btcusdt@kline_1m', 'btcusdt@trade', 'ethusdt@kline_1m', 'ethusdt@trade']);
  await waitFor(() => feed.status().connection === 'open', 'the feed open');

  streams.broadcast(klineMessage(btc(0), false));
  streams.broadcast(tradeMessage('BTCUSDT', 7, 65_000.5, 0.25, T0 + 1_000));
  streams.broadcast(tradeMessage('ETHUSDT', 3, 3_200.25, 1.5, T0 + 1_500));
  streams.broadcast(klineMessage(btc(0), true));
  streams.broadcast(klineMessage(btc(1), false));
  // Binance does not re-send a close on one connection; the feed still must not emit it twice.
  streams.broadcast(klineMessage(btc(0), true));
  streams.broadcast(tradeMessage('BTCUSDT', 7, 65_000.5, 0.25, T0 + 1_000));
  await waitFor(() => ticks.length === 2 && candles.length === 1 && details().duplicateTicksDropped === 1, 'data');

  t.deepEqual(ticks, [
    { symbol: 'BTCUSDT', price: 65_000.5, volume: 0.25, at: T0 + 1_000 },
    { symbol: 'ETHUSDT', price: 3_200.25, volume: 1.5, at: T0 + 1_500 },
  ]);
  t.deepEqual(candles, [feedCandle(btc(0))]);
  t.is(details().duplicateCandlesDropped, 1);
  t.is(rest.requests.length, 0, 'nothing was missed, nothing back-filled');
  const status = feed.status();
  t.is(status.source, 'binance');
  t.deepEqual(status.symbols, ['BTCUSDT', 'ETHUSDT']);
  t.is(status.connection, 'open');
});

test('book tickers give ticks at the mid price', async (t) => {
  const { streams, ticks } = await rig(t, { ticks: 'bookTicker', symbols: ['BNBUSDT'] });
  await waitFor(() => streams.open().length === 1, 'the connection');
  t.deepEqual(streams.connections[0]?.streams, ['bnbusdt@kline_1m', 'bnbusdt@bookTicker']);
  streams.broadcast(bookTickerMessage('BNBUSDT', 400_900_217, 25.3519, 25.3652));
  await waitFor(() => ticks.length === 1, 'the tick');
  t.is(ticks[0]?.symbol, 'BNBUSDT');
  t.is(ticks[0]?.price, (25.3519 + 25.3652) / 2);
  t.is(ticks[0]?.volume, 0);
});

test("the server's pings are answered with their payload", async (t) => {
  const { streams, details } = await rig(t);
  await waitFor(() => streams.open().length === 1, 'the connection');
  const conn = streams.connections[0];
  conn?.socket.ping('ping-1');
  conn?.socket.ping('ping-2');
  await waitFor(() => (conn?.pongs.length ?? 0) === 2, 'two pongs');
  t.deepEqual(conn?.pongs, ['ping-1', 'ping-2']);
  t.is(details().pingsAnswered, 2);
});

test('a dropped connection is reconnected with backoff; the candles missed are back-filled, no hole, no duplicate', async (t) => {
  const { streams, rest, keys, redis, feed, candles, lines, details } = await rig(t);
  streams.onConnection((conn) => {
    if (streams.connections.length !== 2) return;
    // After the reconnect: an already-delivered close re-sent, then the candle now forming, then its close.
    conn.socket.send(klineMessage(btc(1), true));
    conn.socket.send(klineMessage(btc(5), false));
    conn.socket.send(klineMessage(btc(5), true));
    conn.socket.send(klineMessage(btc(6), false));
  });
  await waitFor(() => streams.open().length === 1 && feed.status().connection === 'open', 'the connection');
  for (const n of [0, 1]) {
    streams.broadcast(klineMessage(btc(n), false));
    streams.broadcast(klineMessage(btc(n), true));
  }
  streams.broadcast(klineMessage(btc(2), false));
  await waitFor(() => candles.length === 2, 'the first two candles');

  // While the feed is cut off, candles 2, 3 and 4 close; Binance's database has them (and the earlier ones).
  rest.candles.push(...[0, 1, 2, 3, 4].map(btc));
  // The first back-fill call fails (HTTP 503): the REST client retries it.
  rest.failNext(1, 503);
  streams.connections[0]?.socket.terminate();

  await waitFor(() => candles.length === 6, 'candles 0 to 5');
  t.deepEqual(
    candles,
    [0, 1, 2, 3, 4, 5].map((n) => feedCandle(btc(n))),
  );
  t.is(feed.status().connection, 'open');
  t.is(details().reconnects, 1);
  t.is(details().backfilledCandles, 3);
  t.is(details().duplicateCandlesDropped, 1);
  t.is(details().backfillsPending, 0);
  // The gap is exactly the candles missed: open times 2 to 4 (endTime is the last one's close time).
  t.deepEqual(
    rest.requests.map((r) => ({ ...r })),
    [1, 2].map(() => ({
      symbol: 'BTCUSDT',
      interval: '1m',
      startTime: btc(2).openTime,
      endTime: btc(4).openTime + 59_999,
      limit: 1000,
    })),
  );
  // The back-fill spent weight 2 per call from the shared budget in Redis (the venue's limits hash).
  const limits = await redis.hgetall(keys.venueLimits('binance'));
  const weight = Object.entries(limits).find(([k]) => k.startsWith('weight:1M:'));
  t.truthy(weight, 'a 1-minute weight window was written');
  t.true(Number(weight?.[1]) >= 4);
  // The reconnect waited the backoff's first step: 50 ms with equal jitter, so 25 to 50 ms.
  const lost = lines.find((l) => l.msg === 'binance stream lost; reconnecting');
  t.is(lost?.attempt, 1);
  t.true((lost?.delayMs as number) >= 25 && (lost?.delayMs as number) <= 50);
});

test('a connection silent for QT_FEED_BINANCE_STALE_MS (no message, no ping) is cut and replaced; pings keep one alive', async (t) => {
  const { streams, lines, details } = await rig(t, { staleAfterMs: 1_000 });
  await waitFor(() => streams.open().length === 1, 'the connection');
  // Pinged every 50 ms, the first connection stays; left silent, it is cut.
  const pinger = setInterval(() => streams.connections[0]?.socket.ping(), 50);
  await sleep(1_500);
  clearInterval(pinger);
  t.is(streams.connections.length, 1, 'pings keep the connection');
  await waitFor(() => streams.connections.length === 2, 'a new connection after the silence', 5_000);
  t.truthy(lines.find((l) => l.msg === 'binance stream silent; cutting it'));
  await waitFor(() => details().reconnects === 1, 'the reconnect counted');
});

test('a malformed message is logged and counted, and the feed carries on', async (t) => {
  const { streams, feed, ticks, lines, details } = await rig(t);
  await waitFor(() => streams.open().length === 1 && feed.status().connection === 'open', 'the connection');
  const bad = [
    'not json at all',
    JSON.stringify({ result: null, id: 1 }),
    JSON.stringify({ stream: 'btcusdt@trade', data: { e: 'trade', s: 'BTCUSDT', t: 1, p: 'abc', q: '1', T: T0 } }),
    JSON.stringify({ stream: 'btcusdt@kline_1m', data: { e: 'kline', s: 'BTCUSDT', k: { t: T0 } } }),
    tradeMessage('XRPUSDT', 1, 0.5, 10, T0),
  ];
  for (const message of bad) streams.broadcast(message);
  streams.broadcast(tradeMessage('BTCUSDT', 1, 65_000, 1, T0));
  await waitFor(() => ticks.length === 1, 'the good tick');
  t.is(details().malformedMessages, bad.length);
  t.is(streams.connections.length, 1, 'no reconnect');
  t.is(feed.status().connection, 'open');
  const reasons = lines.filter((l) => l.msg === 'binance message ignored').map((l) => l.reason);
  t.deepEqual(reasons, [
    'not JSON',
    'not a combined-stream message (stream: Invalid input: expected string, received undefined)',
    'btcusdt@trade: p: a decimal string',
    'btcusdt@kline_1m: k.T: Invalid input: expected number, received undefined',
    'symbol XRPUSDT not subscribed',
  ]);
});

test('renewal before the 24 h limit: the new connection opens before the old closes, nothing is lost or doubled', async (t) => {
  const { streams, rest, feed, ticks, candles, details } = await rig(t, { renewAfterMs: 300 });
  await waitFor(() => streams.open().length === 1 && feed.status().connection === 'open', 'the connection');
  // Binance sends the same data on every connection: a trade every 2 ms, a candle closing every 40 ms.
  let id = 0;
  let minute = 0;
  const market = setInterval(() => {
    id++;
    streams.broadcast(tradeMessage('BTCUSDT', id, 1_000 + id, 1, T0 + id));
    if (id % 20 === 0) {
      streams.broadcast(klineMessage(btc(minute), true));
      minute++;
      streams.broadcast(klineMessage(btc(minute), false));
    }
  }, 2);
  t.teardown(() => clearInterval(market));
  await waitFor(() => (details().renewals ?? 0) >= 2, 'two renewals', 20_000);
  clearInterval(market);
  await waitFor(() => ticks.length === id && candles.length === minute, 'every tick and candle sent', 5_000).catch(
    () => undefined,
  );
  t.deepEqual(
    ticks.map((k) => k.price - 1_000),
    Array.from({ length: id }, (_, i) => i + 1),
    'every trade once, in order',
  );
  t.deepEqual(
    candles.map((c) => c.openTime),
    Array.from({ length: minute }, (_, n) => btc(n).openTime),
    'every candle once, in order',
  );
  t.is(details().reconnects, 0);
  t.is(rest.requests.length, 0, 'nothing missed, nothing back-filled');
  await waitFor(() => streams.open().length === 1, 'the old connections closed');
});

test('close() closes the socket and stops reconnecting, also when called during a backoff wait', async (t) => {
  const first = await rig(t);
  await waitFor(() => first.streams.open().length === 1, 'the connection');
  await first.feed.close();
  t.is(first.feed.status().connection, 'closed');
  await waitFor(() => first.streams.open().length === 0, 'the socket closed');

  const second = await rig(t, { reconnect: { baseMs: 100, maxMs: 100 } });
  await waitFor(() => second.streams.open().length === 1 && second.feed.status().connection === 'open', 'connection');
  second.streams.connections[0]?.socket.terminate();
  await waitFor(() => second.feed.status().connection === 'reconnecting', 'the drop noticed');
  await second.feed.close();
  // Several times the backoff: no connection follows.
  await sleep(500);
  t.is(first.streams.connections.length, 1);
  t.is(second.streams.connections.length, 1);
  t.is(second.feed.status().connection, 'closed');
});
