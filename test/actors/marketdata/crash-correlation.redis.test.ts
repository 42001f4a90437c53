/**
 * The ticks an injected flash crash moves carry the correlation id of the
 * request that injected it (`X-Correlation-ID`), so `qt trace` follows the
 * request into what the crash causes; other symbols' ticks, and the crashed
 * symbol's ticks after the crash, carry their own.
 */
import test from 'ava';
import { Registry } from 'prom-client';
import { MarketDataService } from '../../../src/actors/marketdata/service.js';
import { createSyntheticFeed, FLASH_CRASH_SPREAD_MS } from '../../../src/actors/marketdata/synthetic-feed.js';
import { createServiceServer } from '../../../src/http/service-server.js';
import { decodeEntry } from '../../../src/streams/codec.js';
import { RedisPublisher } from '../../../src/streams/publisher.js';
import { testKeys, waitFor } from '../../support/bus.js';
import { type RedisServer, startRedis } from '../../support/redis-fixture.js';

const TOKEN = 'a-crash-correlation-token';

let server: RedisServer;
test.before(async () => {
  server = await startRedis({ name: 'crash-correlation' });
});
test.after.always(() => server?.stop());

test('the crash ticks carry the request correlation id, from the crash until its drop is complete', async (t) => {
  const redis = server.client();
  const keys = testKeys('crash-correlation');
  const publisher = new RedisPublisher({ redis, keys, producer: 'md', source: 'marketdata' });
  let clock = 1_800_000_000_000;
  const feed = createSyntheticFeed({
    seed: 3,
    symbols: [
      { symbol: 'BTCUSDT', startPrice: 60_000 },
      { symbol: 'ETHUSDT', startPrice: 3_000 },
    ],
    ticksPerSecond: 10,
    startAt: clock,
  });
  const service = new MarketDataService({ publisher, feed, pollMs: 5, now: () => clock });
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
  });
  service.start();
  const ticks = async () =>
    (await redis.xrange(keys.stream('market'), '-', '+')).map(
      ([, f]) => decodeEntry(f) as ReturnType<typeof decodeEntry> & { data: { symbol: string; price: number } },
    );
  // One second of market before the crash.
  clock += 1_000;
  await waitFor(async () => (await ticks()).length === 22, 'the first second of ticks');
  const crashAt = clock;
  const res = await app.inject({
    method: 'POST',
    url: '/scenario/flash-crash',
    headers: { authorization: `Bearer ${TOKEN}`, 'x-correlation-id': 'crash-req-1' },
    payload: { symbol: 'BTCUSDT', drop: 0.3 },
  });
  t.is(res.statusCode, 202);
  // The crash and two seconds after it, stepped so every poll sees a few ticks.
  const end = crashAt + FLASH_CRASH_SPREAD_MS + 2_000;
  while (clock < end) {
    clock += 100;
    const due = 2 * (Math.floor((clock - 1_800_000_000_000) / 100) + 1);
    await waitFor(async () => (await ticks()).length === due, `ticks up to ${clock}`);
  }
  const all = await ticks();
  const at = (e: (typeof all)[number], i: number) => ({ e, i, time: 1_800_000_000_000 + Math.floor(i / 2) * 100 });
  const placed = all.map(at);
  const tagged = placed.filter((p) => p.e.correlationId === 'crash-req-1');
  t.true(tagged.length > 0);
  t.true(
    tagged.every((p) => p.e.data.symbol === 'BTCUSDT'),
    'only the crashed symbol',
  );
  // The tick at crashAt itself was out before the request: the crash starts on the next one.
  const btcInCrash = placed.filter(
    (p) => p.e.data.symbol === 'BTCUSDT' && p.time > crashAt && p.time <= crashAt + FLASH_CRASH_SPREAD_MS,
  );
  t.deepEqual(
    tagged.map((p) => p.i),
    btcInCrash.map((p) => p.i),
    'every crash tick, from the crash to its full drop, and no other',
  );
  const last = tagged.at(-1);
  t.true((last?.e.data.price ?? Infinity) < 60_000 * 0.8, 'the last tagged tick is at the crashed level');
  const after = placed.filter((p) => p.e.data.symbol === 'BTCUSDT' && p.time > crashAt + FLASH_CRASH_SPREAD_MS);
  t.true(after.length >= 10, `${after.length} BTCUSDT ticks after the crash`);
  t.true(
    after.every((p) => p.e.correlationId === p.e.id),
    'after the crash, ticks start their own chains again',
  );
});
