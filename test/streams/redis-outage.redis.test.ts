/**
 * The headline guarantee (docs/architecture.md §5, §6): Redis is SIGKILLed in the middle of
 * a burst, stays down for seconds while publishing goes on, then comes back.
 * Every event must reach a consumer group exactly once, in publish order.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { loadConfig } from '../../src/config/load.js';
import { createRedis } from '../../src/streams/connection.js';
import { StreamConsumer } from '../../src/streams/consumer.js';
import { openEventBus } from '../../src/streams/event-bus.js';
import type { Published } from '../../src/streams/publisher.js';
import { uniquePrefix, waitFor } from '../support/bus.js';
import { startRedis } from '../support/redis-fixture.js';

const TOTAL = 12_000;
const PER_TICK = 10; // 10 events every 5 ms: about 2,000 events/s
const KILL_AT = 4_000; // about 2 s into the burst
const RESTART_AT = 10_000; // about 3 s later

/** A persistent Redis (AOF, so acknowledged events survive SIGKILL), a data dir, and settings for both. */
async function outageSetup(t: ExecutionContext, name: string) {
  const server = await startRedis({ name, persistence: 'aof' });
  const dataDir = await mkdtemp(join(tmpdir(), `qt-${name}-`));
  t.teardown(async () => {
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
  });
  const config = loadConfig({
    REDIS_URL: server.url,
    QT_DATA_DIR: dataDir,
    QT_KEY_PREFIX: uniquePrefix(name),
    REDIS_BREAKER_HALF_OPEN_MS: '300',
    REDIS_COMMAND_TIMEOUT_MS: '1000',
    REDIS_WAIT_TIMEOUT_MS: '250',
  });
  return { server, config };
}

test('SIGKILL Redis mid-burst: every event arrives once, in order, through the disk buffer', async (t) => {
  const { server, config } = await outageSetup(t, 'outage');
  const bus = await openEventBus(config, { producer: 'outage-producer', source: 'test' });
  const consumerRedis = createRedis(config);
  consumerRedis.on('error', () => undefined);
  await consumerRedis.connect();
  // The effect is committed with the ack (commitWith), so it is applied
  // exactly once; `handled` counts handler runs, which repeat when Redis dies
  // between a handler and its commit (at-least-once, as documented).
  const effects = `${bus.keys.prefix}:effects`;
  const handled = new Set<string>();
  const consumer = new StreamConsumer({
    redis: consumerRedis,
    keys: bus.keys,
    topic: 'market',
    group: 'check',
    consumer: 'checker',
    blockMs: 200,
    handler: (e) => void handled.add(e.id),
    commitWith: (events) => [
      ['RPUSH', effects, ...events.map((e) => `${e.seq}:${(e.data as { price: number }).price}`)],
    ],
  });
  await consumer.start();
  t.teardown(async () => {
    await consumer.close();
    await bus.close();
    consumerRedis.disconnect();
  });

  const sends: Promise<Published>[] = [];
  let restarting: Promise<void> | undefined;
  for (let i = 1; i <= TOTAL; i += PER_TICK) {
    for (let j = i; j < i + PER_TICK; j++) {
      sends.push(bus.publisher.publish('market.tick', { symbol: 'BTCUSDT', price: j, volume: 1 }));
    }
    if (i <= KILL_AT && KILL_AT < i + PER_TICK) await server.kill();
    if (i <= RESTART_AT && RESTART_AT < i + PER_TICK) restarting = server.restart();
    await new Promise((r) => setTimeout(r, 5));
  }
  const results = await Promise.all(sends);
  await restarting;
  const buffered = results.filter((r) => r.via === 'buffer').length;
  t.true(buffered > 1_000, `a good part of the burst went through the buffer (${buffered})`);

  await waitFor(
    async () => (await consumerRedis.llen(effects).catch(() => 0)) >= TOTAL,
    `${TOTAL} effects committed (handled ${handled.size})`,
    90_000,
    50,
  );
  await waitFor(() => bus.buffer.backlog('market') === 0, 'buffer drained', 10_000);
  await new Promise((r) => setTimeout(r, 300)); // anything extra would show up now

  const expected = Array.from({ length: TOTAL }, (_, i) => `${i + 1}:${i + 1}`);
  t.is(await consumerRedis.xlen(bus.keys.stream('market')), TOTAL, 'the stream holds each event once');
  t.deepEqual(
    await consumerRedis.lrange(effects, 0, -1),
    expected,
    'each effect once: seq 1..N = price 1..N, in order',
  );
  t.is(handled.size, TOTAL, 'every event reached the handler');
});

test('under steady publishing after an outage, the publisher catches up and goes direct again', async (t) => {
  const { server, config } = await outageSetup(t, 'catch-up');
  const redis = createRedis(config, { retryStrategy: () => 50 });
  const bus = await openEventBus(config, { producer: 'steady', source: 'test', redis });
  await server.kill();
  const sends: Promise<Published>[] = [];
  let price = 0;
  // Sustained load (50 events every millisecond, never waiting) keeps a
  // buffer append always in flight. Without the drainer's catch-up hold the
  // lane never sees an empty backlog and stays buffered for good: this test
  // fails then (checked by disabling the hold).
  const publishFor = async (ms: number) => {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      for (let i = 0; i < 50; i++) {
        sends.push(bus.publisher.publish('market.tick', { symbol: 'BTCUSDT', price: ++price, volume: 1 }));
      }
      await new Promise((r) => setTimeout(r, 1));
    }
  };
  await publishFor(500); // all of this is buffered
  await server.restart();
  // The drainer replays while publishing goes on. How long it takes depends
  // on the machine's load, so keep publishing until a publish goes direct
  // (bounded), then some more: those must all go direct.
  const deadline = Date.now() + 20_000;
  let direct = false;
  while (!direct && Date.now() < deadline) {
    await publishFor(250);
    direct = (await sends.at(-1))?.via === 'redis';
  }
  await publishFor(250);
  const results = await Promise.all(sends);
  const tail = results.slice(-200);
  t.true(
    results.slice(0, 100).every((r) => r.via === 'buffer'),
    'publishes during the outage were buffered',
  );
  t.true(
    tail.every((r) => r.via === 'redis'),
    `the last 200 publishes went straight to Redis (${tail.filter((r) => r.via === 'buffer').length} buffered)`,
  );
  await waitFor(() => bus.buffer.backlog('market') === 0, 'buffer drained');
  const stream = await redis.xrange(bus.keys.stream('market'), '-', '+');
  t.is(stream.length, price, 'every event once');
  await bus.close();
});
