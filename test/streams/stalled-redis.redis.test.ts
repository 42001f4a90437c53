/**
 * A Redis that is connected but does not answer (CLIENT PAUSE, a stalled
 * host) costs a publish its deadline, not the command timeout: the append
 * counts as unknown, the batch is parked in doubt in the disk buffer, and
 * once Redis answers again it is replayed exactly once, in order.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { loadConfig } from '../../src/config/load.js';
import { decodeEntry } from '../../src/streams/codec.js';
import { openEventBus } from '../../src/streams/event-bus.js';
import { uniquePrefix, waitFor } from '../support/bus.js';
import { startRedis } from '../support/redis-fixture.js';

test('a publish against a paused Redis resolves from the buffer within its deadline, and lands once after', async (t) => {
  const server = await startRedis({ name: 'stalled' });
  const dataDir = await mkdtemp(join(tmpdir(), 'qt-stalled-'));
  t.teardown(async () => {
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
  });
  const config = loadConfig({
    REDIS_URL: server.url,
    QT_DATA_DIR: dataDir,
    QT_KEY_PREFIX: uniquePrefix('stall'),
    QT_PUBLISH_TIMEOUT_MS: '800',
  });
  const bus = await openEventBus(config, { producer: 'staller', source: 'test' });
  t.teardown(() => bus.close());
  const first = await bus.publisher.publish('market.tick', { symbol: 'BTCUSDT', price: 1, volume: 1 });
  t.is(first.via, 'redis');

  await server.client().call('CLIENT', 'PAUSE', '4000', 'ALL');
  const started = performance.now();
  const quick = await bus.publisher.publish(
    'market.tick',
    { symbol: 'BTCUSDT', price: 2, volume: 1 },
    { deadlineMs: 300 },
  );
  const quickMs = performance.now() - started;
  const later = await bus.publisher.publish('market.tick', { symbol: 'BTCUSDT', price: 3, volume: 1 });
  const laterMs = performance.now() - started;
  t.is(quick.via, 'buffer');
  t.is(later.via, 'buffer');
  t.log(
    `paused Redis: publish with a 300 ms deadline resolved in ${Math.round(quickMs)} ms, the next in ${Math.round(laterMs)} ms`,
  );
  t.true(quickMs < 2_000, `resolved in ${quickMs} ms, not after the 5 s command timeout`);

  await waitFor(
    async () => (await server.client().xlen(bus.keys.stream('market'))) === 3,
    'replayed after the pause',
    20_000,
  );
  const prices = (await server.client().xrange(bus.keys.stream('market'), '-', '+')).map(
    ([, f]) => (decodeEntry(f).data as { price: number }).price,
  );
  t.deepEqual(prices, [1, 2, 3], 'each once, in order');
});
