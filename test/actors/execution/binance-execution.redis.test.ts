/**
 * Execution in a real `main` process configured for Binance
 * (`QT_EXCHANGE=binance-testnet`, `BINANCE_BASE_URL` at the fake venue): an
 * approved order whose POST answers 503 after the venue created it is found
 * by its client order id and reported once, with no second POST; with the
 * ESS tripped, no order request reaches the venue at all.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { EventData } from '../../../src/events/catalog.js';
import { decodeEntry } from '../../../src/streams/codec.js';
import { createKeys } from '../../../src/streams/keys.js';
import { RedisPublisher } from '../../../src/streams/publisher.js';
import { uniquePrefix, waitFor } from '../../support/bus.js';
import { startFakeBinance } from '../../support/fake-binance.js';
import { startMain } from '../../support/main-process.js';
import { startRedis } from '../../support/redis-fixture.js';

const approved = (orderId: string): EventData<'order.approved'> => ({
  orderId,
  symbol: 'BTCUSDT',
  side: 'buy',
  type: 'market',
  quantity: 0.002,
  reduceOnly: false,
  notional: 100,
});

test('main with the Binance adapter: a 503 after the order was created yields one order and one fill; a trip sends nothing', async (t) => {
  const server = await startRedis({ name: 'binance-exec' });
  const fake = await startFakeBinance({ prices: { BTCUSDT: 50_000 } });
  const dataDir = await mkdtemp(join(tmpdir(), 'qt-binance-exec-'));
  t.teardown(async () => {
    await fake.close();
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
  });
  const prefix = uniquePrefix('bx');
  const keys = createKeys(prefix);
  const redis = server.client();
  const { run } = await startMain(t, ['--actors=execution'], {
    REDIS_URL: server.url,
    QT_DATA_DIR: dataDir,
    QT_KEY_PREFIX: prefix,
    QT_EXCHANGE: 'binance-testnet',
    BINANCE_BASE_URL: fake.url,
    BINANCE_API_KEY: fake.apiKey,
    BINANCE_API_SECRET: fake.apiSecret,
  });

  const risk = new RedisPublisher({ redis, keys, producer: 'risk', source: 'risk-safety' });
  const outcomes = async (orderId: string) =>
    (await redis.xrange(keys.stream('order'), '-', '+'))
      .map(([, f]) => decodeEntry(f))
      .filter(
        (e) =>
          e.type !== 'order.approved' &&
          e.type !== 'order.reported' &&
          (e.data as { orderId: string }).orderId === orderId,
      );

  fake.fail({ kind: 'error', status: 503, afterProcessing: true, method: 'POST', path: '/api/v3/order' });
  await risk.publish('order.approved', approved('ord-bx-1'));
  await waitFor(async () => (await outcomes('ord-bx-1')).length === 2, 'placed and filled', 20_000, 50);
  const events = await outcomes('ord-bx-1');
  t.deepEqual(
    events.map((e) => e.type),
    ['order.placed', 'order.filled'],
  );
  t.like(events[1]?.data, { venue: 'binance-testnet', quantity: 0.002 });
  t.is(fake.requestsTo('POST', '/api/v3/order').length, 1, 'one POST: the order was looked up, not resent');
  t.is(fake.orders.length, 1);
  t.true(fake.requestsTo('GET', '/api/v3/order').length >= 1, 'looked up by client order id');

  await redis.set(
    keys.projection('ess'),
    JSON.stringify({
      state: 'tripped',
      cooldownUntil: new Date(Date.now() + 60_000).toISOString(),
      updatedAt: new Date().toISOString(),
    }),
  );
  await risk.publish('order.approved', approved('ord-bx-2'));
  await waitFor(async () => (await outcomes('ord-bx-2')).length === 1, 'refused', 20_000, 50);
  t.is((await outcomes('ord-bx-2'))[0]?.type, 'order.cancelled');
  t.is(fake.requestsTo('POST', '/api/v3/order').length, 1, 'nothing sent while tripped');
  t.false(run.out().includes(fake.apiSecret), 'the secret is never logged');
  run.child.kill('SIGTERM');
  t.is(await run.exit, 0);
});
