/**
 * The live Binance feed through a real `main` (`QT_FEED=binance`, the
 * stream and REST URLs pointed at the fake Binance of the suite): trades
 * become `market.tick`s and closed klines `market.candle`s in Redis; after
 * the server drops the connection, the candles missed are back-filled from
 * REST on the shared weight budget of `main`'s key prefix, so the candles in
 * the stream have no hole and no duplicate; `GET /feed` shows the
 * connection and the counts; SIGTERM stops it cleanly.
 */
import test from 'ava';
import type { Envelope } from '../../../src/events/envelope.js';
import { decodeEntry } from '../../../src/streams/codec.js';
import { waitFor } from '../../support/bus.js';
import {
  fakeCandle,
  klineMessage,
  startFakeRest,
  startFakeStreams,
  tradeMessage,
} from '../../support/fake-binance-ws.js';
import { startMain } from '../../support/main-process.js';
import { redisRig } from '../../support/rig.js';

const T0 = 1_800_000_000_000 - (1_800_000_000_000 % 60_000);
const eth = (n: number) => fakeCandle('ETHUSDT', T0 + n * 60_000, n);

test('main with QT_FEED=binance publishes ticks and gap-free candles from the fake Binance', async (t) => {
  const rig = await redisRig(t, 'binance-feed-main');
  const streams = await startFakeStreams(t);
  const rest = await startFakeRest(t);
  streams.onConnection((conn) => {
    if (streams.connections.length === 1) {
      conn.socket.send(klineMessage(eth(0), false));
      conn.socket.send(tradeMessage('ETHUSDT', 1, 3_200.5, 0.5, T0 + 1_000));
      conn.socket.send(tradeMessage('ETHUSDT', 2, 3_201.25, 0.25, T0 + 2_000));
      conn.socket.send(klineMessage(eth(0), true));
      conn.socket.send(klineMessage(eth(1), false));
    } else {
      // Back after the drop: candle 0 re-sent, candles 1 and 2 missed, candle 3 forming.
      conn.socket.send(klineMessage(eth(0), true));
      conn.socket.send(klineMessage(eth(3), false));
      conn.socket.send(tradeMessage('ETHUSDT', 3, 3_190, 1, T0 + 180_500));
    }
  });
  rest.candles.push(eth(0), eth(1), eth(2));
  const { run, port } = await startMain(t, ['--actors=marketdata'], {
    ...rig.env,
    QT_FEED: 'binance',
    QT_FEED_BINANCE_SYMBOLS: 'ETHUSDT',
    QT_FEED_BINANCE_INTERVALS: '1m',
    QT_FEED_BINANCE_WS_URL: streams.url,
    QT_FEED_BINANCE_REST_URL: rest.url,
    QT_FEED_BINANCE_RECONNECT_BASE_MS: '50',
    QT_FEED_BINANCE_RECONNECT_MAX_MS: '200',
    QT_SUMMARY_INTERVAL_MS: '0',
  });
  const redis = rig.server.client();
  const market = async (): Promise<Envelope[]> =>
    (await redis.xrange(rig.keys.stream('market'), '-', '+')).map(([, f]) => decodeEntry(f));
  const ofType = (all: Envelope[], type: string) => all.filter((e) => e.type === type).map((e) => e.data);

  await waitFor(async () => ofType(await market(), 'market.tick').length === 2, 'the first two ticks', 30_000);
  t.deepEqual(streams.connections[0]?.streams, ['ethusdt@kline_1m', 'ethusdt@trade']);
  streams.connections[0]?.socket.terminate();
  await waitFor(async () => ofType(await market(), 'market.candle').length === 3, 'candles 0 to 2', 30_000);
  await waitFor(async () => ofType(await market(), 'market.tick').length === 3, 'the third tick', 30_000);

  const all = await market();
  t.deepEqual(ofType(all, 'market.tick'), [
    { symbol: 'ETHUSDT', price: 3_200.5, volume: 0.5 },
    { symbol: 'ETHUSDT', price: 3_201.25, volume: 0.25 },
    { symbol: 'ETHUSDT', price: 3_190, volume: 1 },
  ]);
  t.deepEqual(
    ofType(all, 'market.candle'),
    [0, 1, 2].map((n) => {
      const c = eth(n);
      return {
        symbol: 'ETHUSDT',
        interval: '1m',
        openTime: new Date(c.openTime).toISOString(),
        open: c.open,
        high: c.high,
        low: c.low,
        close: c.close,
        volume: c.volume,
      };
    }),
  );
  t.is(rest.requests.length, 1);
  t.is(rest.requests[0]?.startTime, eth(1).openTime);
  // The back-fill spent from the shared budget under main's prefix, the hash the Binance venue uses too.
  const limits = await redis.hgetall(rig.keys.venueLimits('binance'));
  t.true(Object.keys(limits).some((k) => k.startsWith('weight:1M:')));

  // GET /feed on marketdata shows the live feed's state.
  const feed = (await (await fetch(`http://127.0.0.1:${port(8006)}/feed`)).json()) as Record<string, unknown>;
  t.like(feed, {
    source: 'binance',
    symbols: ['ETHUSDT'],
    connection: 'open',
    published: 3,
    candlesPublished: 3,
    done: false,
    details: { reconnects: 1, backfilledCandles: 2, duplicateCandlesDropped: 1, malformedMessages: 0 },
  });
  t.is(typeof (feed.lastTickAgeMs as Record<string, unknown>).ETHUSDT, 'number');

  run.child.kill('SIGTERM');
  t.is(await run.exit, 0);
  t.is(streams.open().length, 0, 'the socket is closed on stop');
  t.is(streams.connections.length, 2, 'no reconnect after the stop');
});
