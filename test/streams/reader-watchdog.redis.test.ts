/**
 * docs/architecture.md §5.6: a blocking read on a connection that has gone silent is
 * abandoned by the watchdog (BLOCK + 5 s) and re-issued on a fresh
 * connection; nothing is skipped. A silent server is made with CLIENT PAUSE.
 */
import { Writable } from 'node:stream';
import test from 'ava';
import { createLogger } from '../../src/log.js';
import { StreamConsumer } from '../../src/streams/consumer.js';
import { RedisPublisher } from '../../src/streams/publisher.js';
import { testKeys, waitFor } from '../support/bus.js';
import { startRedis } from '../support/redis-fixture.js';

test('a read hung on a silent server is abandoned by the watchdog and re-issued; events still arrive', async (t) => {
  const server = await startRedis({ name: 'watchdog' });
  t.teardown(() => server.stop());
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
  const redis = server.client();
  const keys = testKeys('watchdog');
  const seen: number[] = [];
  const consumer = new StreamConsumer({
    redis,
    keys,
    topic: 'market',
    group: 'g',
    consumer: 'c',
    blockMs: 100,
    log,
    handler: (e) => void seen.push(e.seq),
  });
  await consumer.start();
  t.teardown(() => consumer.close());
  const publisher = new RedisPublisher({ redis: server.client(), keys, producer: 'p', source: 'test' });
  await publisher.publish('market.tick', { symbol: 'BTCUSDT', price: 1, volume: 1 });
  await waitFor(() => seen.length === 1, 'first event');

  // Long enough past the watchdog (BLOCK + 5 s) that a loaded machine still sees it fire.
  await server.client().call('CLIENT', 'PAUSE', '9000', 'ALL');
  await waitFor(() => /blocking read lost; reconnecting the reader/.test(logged), 'watchdog fired', 15_000, 50);
  await publisher.publish('market.tick', { symbol: 'BTCUSDT', price: 2, volume: 1 });
  await waitFor(() => seen.length === 2, 'event after the watchdog', 20_000);
  t.deepEqual(seen, [1, 2]);
  t.regex(logged, /Command timed out/);
});
