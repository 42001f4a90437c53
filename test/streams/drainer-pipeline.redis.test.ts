/**
 * The drainer sends a window's runs two at a time (src/streams/drainer.ts):
 * the second run goes out before Redis answered the first. A later run must
 * never land when the run in front of it did not, or the earlier run's
 * events would look like duplicates when re-sent and be skipped for ever.
 * Proven here with a first run that Redis refuses.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { DiskBuffer } from '../../src/buffer/disk-buffer.js';
import { decodeEntry } from '../../src/streams/codec.js';
import { Drainer, MAX_APPEND_EVENTS } from '../../src/streams/drainer.js';
import { RedisPublisher } from '../../src/streams/publisher.js';
import { testKeys, waitFor } from '../support/bus.js';
import { type RedisServer, startRedis } from '../support/redis-fixture.js';

let server: RedisServer;
test.before(async () => {
  server = await startRedis({ name: 'drainer-pipeline' });
});
test.after.always(async () => {
  await server?.stop();
});

test('a refused first run: the run sent behind it appends nothing; once allowed, every event lands once, in order', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'qt-drainer-pipeline-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const buffer = DiskBuffer.open({ path: join(dir, 'buffer.sqlite') });
  const redis = server.client();
  const keys = testKeys('drainer-pipeline');
  const publisher = new RedisPublisher({ redis, keys, producer: 'p1', source: 'test', buffer });
  const n = MAX_APPEND_EVENTS * 2 + 500;
  // Parked in doubt with seqs 1..n: three runs, the second and third sent behind the first.
  await buffer.append(
    Array.from({ length: n }, (_, i) => ({
      topic: 'market',
      type: 'market.tick',
      seq: i + 1,
      body: JSON.stringify({
        id: `0190c5e4-7b1a-7000-8000-${String(i).padStart(12, '0')}`,
        type: 'market.tick',
        source: 'test',
        producer: 'p1',
        time: '2026-12-01T00:00:00.000Z',
        correlationId: 'c',
        version: 1,
        data: { symbol: 'BTCUSDT', price: i + 1, volume: 1 },
      }),
    })),
  );
  // Another live instance claims seq 1: the first run (1..1000) is refused.
  await redis.hset(keys.producerSeqs('market'), 'p1', 1, 'p1@owner', 'another-instance');
  const drainer = new Drainer({
    buffer,
    lanes: publisher,
    appender: publisher.appender,
    link: publisher.link,
    pollMs: 50,
  });
  drainer.start();
  await waitFor(
    async () => (await redis.hget(keys.producerSeqs('market'), 'p1@owner')) === 'another-instance',
    'the claim in place',
  );
  await new Promise((r) => setTimeout(r, 500)); // a few refused attempts
  t.is(await redis.xlen(keys.stream('market')), 0, 'neither the refused run nor the ones behind it landed');
  t.is(buffer.backlog('market'), n, 'everything still in the buffer');

  // The other instance goes away (its claim is dropped): the drainer gets through.
  await redis.hdel(keys.producerSeqs('market'), 'p1@owner');
  await waitFor(async () => buffer.backlog('market') === 0, 'the buffer drained', 10_000);
  const entries = (await redis.xrange(keys.stream('market'), '-', '+')).map(([, f]) => decodeEntry(f));
  // Seq 1 counts as present (the claim said so); every other one landed once, in order.
  t.deepEqual(
    entries.map((e) => e.seq),
    Array.from({ length: n - 1 }, (_, i) => i + 2),
  );
  t.is(await redis.hget(keys.gaps('market'), 'p1'), null, 'no gap');
  await drainer.close();
  await publisher.close();
  await buffer.close();
  redis.disconnect();
});
