/**
 * REDIS_MIN_REPLICAS_ACK (docs/architecture.md §7.5): a publish counts as delivered only once
 * WAIT confirms it on enough replicas; otherwise it stays in the disk buffer
 * and is retried. Real master and replica processes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { loadConfig } from '../../src/config/load.js';
import { openEventBus } from '../../src/streams/event-bus.js';
import { uniquePrefix, waitFor } from '../support/bus.js';
import { startRedis } from '../support/redis-fixture.js';

test('without a replica to confirm, publishes stay buffered; once one attaches they are delivered, once each', async (t) => {
  const master = await startRedis({ name: 'wait-master' });
  const dataDir = await mkdtemp(join(tmpdir(), 'qt-wait-'));
  const servers = [master];
  t.teardown(async () => {
    for (const s of servers) await s.stop();
    await rm(dataDir, { recursive: true, force: true });
  });
  const config = loadConfig({
    REDIS_URL: master.url,
    QT_DATA_DIR: dataDir,
    QT_KEY_PREFIX: uniquePrefix('wait'),
    REDIS_MIN_REPLICAS_ACK: '1',
    // Long enough that a loaded machine's replica confirms in time once it is attached.
    REDIS_WAIT_TIMEOUT_MS: '1000',
  });
  const bus = await openEventBus(config, { producer: 'waiter', source: 'test' });
  t.teardown(() => bus.close());

  const unconfirmed = await Promise.all(
    [1, 2, 3].map((price) => bus.publisher.publish('market.tick', { symbol: 'BTCUSDT', price, volume: 1 })),
  );
  t.deepEqual(
    unconfirmed.map((r) => r.via),
    ['buffer', 'buffer', 'buffer'],
    'not replicated: not delivered, kept in the buffer',
  );
  t.is(bus.buffer.backlog('market'), 3);
  await new Promise((r) => setTimeout(r, 500));
  t.is(bus.buffer.backlog('market'), 3, 'retries keep failing while no replica confirms');

  const replica = await startRedis({ name: 'wait-replica', args: ['--replicaof', '127.0.0.1', String(master.port)] });
  servers.unshift(replica);
  await waitFor(() => bus.buffer.backlog('market') === 0, 'replayed once a replica confirms', 20_000, 50);
  // The drainer switches the lane back to direct just after it empties the backlog.
  await waitFor(() => bus.publisher.laneMode('market') === 'direct', 'the lane goes direct again', 5_000, 10);
  const confirmed = await bus.publisher.publish('market.tick', { symbol: 'BTCUSDT', price: 4, volume: 1 });
  t.is(confirmed.via, 'redis');

  const onReplica = replica.client();
  await waitFor(async () => (await onReplica.xlen(bus.keys.stream('market'))) === 4, 'replica has all four', 5_000);
  const prices = (await onReplica.xrange(bus.keys.stream('market'), '-', '+')).map(
    ([, f]) => JSON.parse(f[3] as string).data.price,
  );
  t.deepEqual(prices, [1, 2, 3, 4], 'each once, in order, on the replica too');
});
