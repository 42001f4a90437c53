/**
 * `POST /scenario/flash-crash` on the service server: a well-formed symbol
 * the feed does not tick is 422 `unknown_symbol` naming the known ones (not
 * a 500); a known one is injected; a feed that cannot crash is 409.
 */
import test from 'ava';
import { Registry } from 'prom-client';
import { createCsvFeed } from '../../../src/actors/marketdata/csv-feed.js';
import { MarketDataService } from '../../../src/actors/marketdata/service.js';
import { createSyntheticFeed } from '../../../src/actors/marketdata/synthetic-feed.js';
import { createServiceServer } from '../../../src/http/service-server.js';
import { RedisPublisher } from '../../../src/streams/publisher.js';
import { testKeys, waitFor } from '../../support/bus.js';
import { type RedisServer, startRedis } from '../../support/redis-fixture.js';

const TOKEN = 'a-flash-crash-admin-token';

let server: RedisServer;
test.before(async () => {
  server = await startRedis({ name: 'flash-crash-route' });
});
test.after.always(() => server?.stop());

type Feed = ConstructorParameters<typeof MarketDataService>[0]['feed'];

/** A marketdata service on `feed` publishing to a fresh prefix, with its routes on a service server. */
async function rig(t: { teardown: (fn: () => unknown) => void }, feed: Feed, symbols?: string[]) {
  const redis = server.client();
  const keys = testKeys('flash-crash-route');
  const publisher = new RedisPublisher({ redis, keys, producer: 'md', source: 'marketdata' });
  const service = new MarketDataService({ publisher, feed, pollMs: 10, ...(symbols ? { symbols } : {}) });
  const { app, guardAdmin } = createServiceServer({
    service: 'marketdata',
    version: '0.0.0',
    registry: new Registry(),
    dependencies: async () => ({}),
    adminToken: TOKEN,
    onShutdown: () => undefined,
  });
  service.registerRoutes(app, guardAdmin);
  await app.ready();
  t.teardown(async () => {
    await app.close();
    await service.close();
    await publisher.close();
    const leftovers = await redis.keys(`${keys.prefix}:*`);
    if (leftovers.length > 0) await redis.del(...leftovers);
  });
  const crash = (body: unknown) =>
    app.inject({
      method: 'POST',
      url: '/scenario/flash-crash',
      headers: { authorization: `Bearer ${TOKEN}` },
      payload: body as object,
    });
  const published = async () => (await app.inject({ method: 'GET', url: '/feed' })).json().published as number;
  return { service, crash, published };
}

const synthetic = () =>
  createSyntheticFeed({
    seed: 7,
    symbols: [
      { symbol: 'ETHUSDT', startPrice: 3_000 },
      { symbol: 'BTCUSDT', startPrice: 60_000 },
    ],
    ticksPerSecond: 50,
    startAt: Date.now(),
  });

test('an unknown symbol is 422 unknown_symbol naming the symbols the feed ticks; a known one is injected', async (t) => {
  const { service, crash, published } = await rig(t, synthetic());
  service.start();
  await waitFor(async () => (await published()) > 0, 'ticks published', 10_000, 10);

  const unknown = await crash({ symbol: 'DOGEUSDT', drop: 0.3 });
  t.is(unknown.statusCode, 422);
  t.deepEqual(unknown.json(), {
    error: 'unknown_symbol',
    message: 'the feed does not tick DOGEUSDT; known: BTCUSDT, ETHUSDT',
    known: ['BTCUSDT', 'ETHUSDT'],
  });
  const ok = await crash({ symbol: 'BTCUSDT', drop: 0.3 });
  t.is(ok.statusCode, 202);
  t.deepEqual(ok.json(), { injected: { symbol: 'BTCUSDT', drop: 0.3 } });
  t.is((await crash({ symbol: 'btc', drop: 2 })).statusCode, 400, 'a malformed body is still 400');
});

test('with the symbols given up front, an unknown one is refused before the first tick', async (t) => {
  const { crash } = await rig(t, synthetic(), ['BTCUSDT', 'ETHUSDT']);
  const res = await crash({ symbol: 'SOLUSDT' });
  t.is(res.statusCode, 422);
  t.deepEqual(res.json().known, ['BTCUSDT', 'ETHUSDT']);
  t.is((await crash({ symbol: 'ETHUSDT' })).statusCode, 202);
});

test('a feed that cannot crash (CSV replay) is 409 unsupported, whatever the symbol', async (t) => {
  const candle = { openTime: 0, open: 1, high: 2, low: 0.5, close: 1.5, volume: 10, symbol: 'BTCUSDT' };
  const { crash } = await rig(t, createCsvFeed([candle], { startAt: Date.now(), speed: 1 }));
  for (const symbol of ['BTCUSDT', 'DOGEUSDT']) {
    const res = await crash({ symbol });
    t.is(res.statusCode, 409, symbol);
    t.is(res.json().error, 'unsupported');
  }
});
