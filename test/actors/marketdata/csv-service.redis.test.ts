/**
 * The marketdata service's `GET /feed` on a simulated clock, publishing to a
 * real Redis: the age of each symbol's last published tick (null before its
 * first), a replay's candles replayed / total and `done`; and the synthetic
 * feed's own report (no candles, connection n/a).
 */
import test from 'ava';
import { Registry } from 'prom-client';
import { createCsvFeed } from '../../../src/actors/marketdata/csv-feed.js';
import type { MarketFeed } from '../../../src/actors/marketdata/feed.js';
import { MarketDataService } from '../../../src/actors/marketdata/service.js';
import { createSyntheticFeed } from '../../../src/actors/marketdata/synthetic-feed.js';
import { createServiceServer } from '../../../src/http/service-server.js';
import { decodeEntry } from '../../../src/streams/codec.js';
import { RedisPublisher } from '../../../src/streams/publisher.js';
import { testKeys, waitFor } from '../../support/bus.js';
import { type RedisServer, startRedis } from '../../support/redis-fixture.js';

const MIN = 60_000;
const T0 = Date.UTC(2025, 0, 1);
const START = 1_800_000_000_000;

let server: RedisServer;
test.before(async () => {
  server = await startRedis({ name: 'csv-service' });
});
test.after.always(() => server?.stop());

async function rig(t: import('ava').ExecutionContext, feed: MarketFeed, clock: { now: number }, label: string) {
  const redis = server.client();
  const keys = testKeys(label);
  const publisher = new RedisPublisher({ redis, keys, producer: 'md', source: 'marketdata' });
  const service = new MarketDataService({ publisher, feed, pollMs: 5, now: () => clock.now });
  const { app, guardAdmin } = createServiceServer({
    service: 'marketdata',
    version: '0.0.0',
    registry: new Registry(),
    dependencies: async () => ({}),
    adminToken: undefined,
    onShutdown: () => undefined,
  });
  service.registerRoutes(app, guardAdmin);
  await app.ready();
  t.teardown(async () => {
    await app.close();
    await service.close();
    await publisher.close();
    redis.disconnect();
  });
  const entries = async () => (await redis.xrange(keys.stream('market'), '-', '+')).map(([, f]) => decodeEntry(f));
  const report = async () => (await app.inject({ method: 'GET', url: '/feed' })).json();
  return { service, entries, report };
}

test('GET /feed: last tick age per symbol from the service clock, candles replayed / total, done at the end', async (t) => {
  const clock = { now: START };
  const candle = (symbol: string, openTime: number, price: number) => ({
    symbol,
    openTime,
    open: price,
    high: price,
    low: price,
    close: price,
    volume: 4,
  });
  // ETHUSDT starts two minutes after BTCUSDT; one candle replays in a second (speed 60).
  const feed = createCsvFeed(
    [candle('BTCUSDT', T0, 100), candle('BTCUSDT', T0 + MIN, 101), candle('ETHUSDT', T0 + 2 * MIN, 10)],
    { startAt: START, speed: 60 },
  );
  const { service, entries, report } = await rig(t, feed, clock, 'csv-service-report');
  t.like(await report(), {
    source: 'csv',
    symbols: ['BTCUSDT', 'ETHUSDT'],
    lastTickAgeMs: { BTCUSDT: null, ETHUSDT: null },
    candles: { replayed: 0, total: 3 },
    done: false,
  });
  service.start();
  clock.now = START + 1_000; // BTCUSDT's first candle (4 ticks) closes as the second opens (its first tick)
  await waitFor(async () => (await report()).candlesPublished === 1, 'the first candle and its ticks');
  t.deepEqual(
    (await entries()).map((e) => e.type),
    ['market.tick', 'market.tick', 'market.tick', 'market.tick', 'market.tick', 'market.candle'],
    'the candles of a poll after its ticks',
  );
  clock.now = START + 1_400;
  t.like(await report(), {
    lastTickAgeMs: { BTCUSDT: 400, ETHUSDT: null },
    candles: { replayed: 1, total: 3 },
    published: 5,
    candlesPublished: 1,
  });
  clock.now = START + 3_000;
  await waitFor(async () => (await report()).candlesPublished === 3, 'the end of the replay');
  t.is((await entries()).length, 15);
  const end = await report();
  t.like(end, { candles: { replayed: 3, total: 3 }, published: 12, candlesPublished: 3, done: true });
  t.is(end.lastTickAgeMs.ETHUSDT, 0);
  t.is(end.details.replayedUntil, new Date(T0 + 2 * MIN + 45_000).toISOString());
  const last = (await entries()).at(-1);
  t.is(last?.type, 'market.candle');
  t.like(last?.data, { symbol: 'ETHUSDT', interval: '1m', openTime: new Date(T0 + 2 * MIN).toISOString() });
});

test('GET /feed of the synthetic feed: its symbols, connection n/a, no candles, never done', async (t) => {
  const clock = { now: START };
  const feed = createSyntheticFeed({
    seed: 1,
    symbols: [
      { symbol: 'SOLUSDT', startPrice: 150 },
      { symbol: 'BTCUSDT', startPrice: 65_000 },
    ],
    ticksPerSecond: 10,
    startAt: START,
  });
  const { service, entries, report } = await rig(t, feed, clock, 'csv-service-synthetic');
  service.start();
  clock.now = START + 500;
  await waitFor(async () => (await report()).published === 12, 'half a second of ticks');
  t.is((await entries()).length, 12);
  clock.now = START + 600;
  const body = await report();
  t.like(body, {
    source: 'synthetic',
    symbols: ['BTCUSDT', 'SOLUSDT'],
    connection: 'n/a',
    candles: null,
    lastTickAgeMs: { BTCUSDT: 100, SOLUSDT: 100 },
    published: 12,
    candlesPublished: 0,
    done: false,
  });
  t.deepEqual(body.details, { seed: 1, ticksPerSecond: 10 });
});
