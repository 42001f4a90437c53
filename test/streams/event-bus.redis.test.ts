import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import test from 'ava';
import { DEFAULT_RISK_POLICY } from '../../src/actors/risk-safety/policy.js';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { createRedis } from '../../src/streams/connection.js';
import { StreamConsumer } from '../../src/streams/consumer.js';
import { openEventBus } from '../../src/streams/event-bus.js';
import { createKeys } from '../../src/streams/keys.js';
import { RedisPublisher } from '../../src/streams/publisher.js';
import { uniquePrefix, waitFor } from '../support/bus.js';
import { startRedis } from '../support/redis-fixture.js';

test('with Redis healthy, the first publishes after start go straight to Redis on every topic', async (t) => {
  const server = await startRedis({ name: 'bus-start' });
  const dataDir = await mkdtemp(join(tmpdir(), 'qt-bus-start-'));
  t.teardown(async () => {
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
  });
  const config = loadConfig({ REDIS_URL: server.url, QT_DATA_DIR: dataDir, QT_KEY_PREFIX: uniquePrefix('start') });
  const bus = await openEventBus(config, { producer: 'starter', source: 'test' });
  // Three topics in the same tick: once, each first publish counted as a
  // breaker failure while the connection was still coming up, and the
  // circuit opened for 60 s against a healthy Redis.
  const results = await Promise.all([
    bus.publisher.publish('market.tick', { symbol: 'BTCUSDT', price: 1, volume: 1 }),
    bus.publisher.publish('ess.reset', { operator: 'ops', reason: 'test' }),
    bus.publisher.publish('risk.policy_updated', { operator: 'ops', policy: DEFAULT_RISK_POLICY }),
  ]);
  t.deepEqual(
    results.map((r) => r.via),
    ['redis', 'redis', 'redis'],
  );
  t.is(bus.link.breakerState, 'closed');
  await bus.close();
});

test('publishes made while Redis is unreachable are buffered without tripping the breaker, then delivered', async (t) => {
  const server = await startRedis({ name: 'bus-late', persistence: 'aof' });
  const dataDir = await mkdtemp(join(tmpdir(), 'qt-bus-late-'));
  t.teardown(async () => {
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
  });
  await server.kill();
  const config = loadConfig({ REDIS_URL: server.url, QT_DATA_DIR: dataDir, QT_KEY_PREFIX: uniquePrefix('late') });
  const redis = createRedis(config, { retryStrategy: () => 50 });
  const bus = await openEventBus(config, { producer: 'late', source: 'test', redis, connectWaitMs: 100 });
  const parked = await Promise.all(
    [1, 2, 3].map((price) => bus.publisher.publish('market.tick', { symbol: 'BTCUSDT', price, volume: 1 })),
  );
  t.deepEqual(
    parked.map((r) => r.via),
    ['buffer', 'buffer', 'buffer'],
  );
  t.is(bus.link.breakerState, 'closed', 'not being connected is not a Redis failure');
  await server.restart();
  await waitFor(() => bus.buffer.backlog('market') === 0, 'replayed');
  const after = await bus.publisher.publish('market.tick', { symbol: 'BTCUSDT', price: 4, volume: 1 });
  t.is(after.via, 'redis');
  t.is(after.envelope.seq, 4);
  t.is(await redis.xlen(bus.keys.stream('market')), 4);
  await bus.close();
});

test('a consumer on a production connection (lazy, no offline queue) reads from its first call, without loop errors', async (t) => {
  const server = await startRedis({ name: 'lazy-consumer' });
  t.teardown(() => server.stop());
  const config = loadConfig({ REDIS_URL: server.url, QT_KEY_PREFIX: uniquePrefix('lazy') });
  let logged = '';
  const log = createLogger({
    level: 'warn',
    destination: new Writable({
      write(chunk, _enc, done) {
        logged += String(chunk);
        done();
      },
    }),
  });
  const redis = createRedis(config);
  await redis.connect();
  const keys = createKeys(config.keyPrefix);
  const seen: number[] = [];
  const consumer = new StreamConsumer({
    redis,
    keys,
    topic: 'market',
    group: 'g',
    consumer: 'c',
    blockMs: 200,
    log,
    handler: (e) => void seen.push(e.seq),
  });
  await consumer.start();
  t.teardown(async () => {
    await consumer.close();
    redis.disconnect();
  });
  await new RedisPublisher({ redis, keys, producer: 'p', source: 'test' }).publish('market.tick', {
    symbol: 'BTCUSDT',
    price: 1,
    volume: 1,
  });
  await waitFor(() => seen.length === 1, 'handled');
  t.notRegex(logged, /consumer loop error/);
});
