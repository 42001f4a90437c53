/**
 * The publisher keeps two batches of a lane in flight (src/streams/publisher.ts,
 * MAX_IN_FLIGHT): the second is sent before Redis answered the first. These
 * tests prove that this never opens a gap or reorders a producer's events:
 * a batch sent behind one that Redis refused appends nothing (`follows`, gap
 * -2 in the append script) and goes out again from a fresh seq.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { DiskBuffer } from '../../src/buffer/disk-buffer.js';
import { DEFAULT_PUBLISH_BATCH } from '../../src/config/schema.js';
import { decodeEntry } from '../../src/streams/codec.js';
import { RedisPublisher } from '../../src/streams/publisher.js';
import { withScripts } from '../../src/streams/scripts.js';
import { testKeys } from '../support/bus.js';
import { type RedisServer, startRedis } from '../support/redis-fixture.js';

let server: RedisServer;
test.before(async () => {
  server = await startRedis({ name: 'pipeline' });
});
test.after.always(async () => {
  await server?.stop();
});

const tick = (price: number) => ({ symbol: 'BTCUSDT', price, volume: 1 });

test('the append script: a batch that follows appends nothing when the seq before it is missing', async (t) => {
  const redis = withScripts(server.client());
  const keys = testKeys('follows');
  const append = (first: number, follows: boolean) =>
    redis.qtAppend(
      keys.stream('market'),
      keys.producerSeqs('market'),
      keys.gaps('market'),
      'p1',
      'instance-1',
      first,
      1,
      'market.tick',
      JSON.stringify({ seq: first }),
      ...(follows ? ['1'] : []),
    );
  t.regex(String((await append(1, false))[2]), /^\d+-\d+$/, 'seq 1 appended');
  t.deepEqual((await append(3, true)).slice(0, 2), [1, -2], 'seq 3 follows 2, which is missing: refused');
  t.is(await redis.xlen(keys.stream('market')), 1, 'nothing appended for it');
  t.is(await redis.hget(keys.gaps('market'), 'p1'), null, 'and no gap counted');
  t.regex(String((await append(2, true))[2]), /^\d+-\d+$/, 'seq 2 follows 1, which is there: appended');
  t.deepEqual((await append(2, true)).slice(0, 3), [2, 0, 0], 'a re-sent follower is a duplicate, as before');
  // Without `follows`, a jump still appends and counts the gap: Redis lost events.
  t.deepEqual((await append(5, false)).slice(0, 2), [2, 2]);
  t.is(await redis.hget(keys.gaps('market'), 'p1'), '2');
  redis.disconnect();
});

test('a refused batch with another in flight behind it: the follower is sent again from a fresh seq, no gap', async (t) => {
  const redis = server.client();
  const keys = testKeys('refused-head');
  const publisher = new RedisPublisher({ redis, keys, producer: 'p1', source: 'test' });
  await publisher.publish('market.tick', tick(100_000));
  // Now another live instance of the producer id takes it over up to seq 10:
  // the next batch (seqs 2..513) is refused, the one behind it (514..) cannot follow.
  await redis.hset(keys.producerSeqs('market'), 'p1', 10, 'p1@owner', 'another-instance');
  const n = DEFAULT_PUBLISH_BATCH * 2;
  // One synchronous burst: two full batches, the second sent behind the first.
  const outcomes = await Promise.allSettled(
    Array.from({ length: n }, (_, i) => publisher.publish('market.tick', tick(i + 1))),
  );
  const rejected = outcomes.filter((o) => o.status === 'rejected');
  t.is(rejected.length, DEFAULT_PUBLISH_BATCH, 'the first batch is refused');
  t.true(
    rejected.every((o) => (o as PromiseRejectedResult).reason?.code === 'QT_PUBLISH_OUT_OF_ORDER'),
    'as out of order',
  );
  t.true(
    outcomes.slice(DEFAULT_PUBLISH_BATCH).every((o) => o.status === 'fulfilled'),
    'the second batch is published',
  );
  const entries = (await redis.xrange(keys.stream('market'), '-', '+')).map(([, f]) => decodeEntry(f)).slice(1);
  t.deepEqual(
    entries.map((e) => e.seq),
    Array.from({ length: DEFAULT_PUBLISH_BATCH }, (_, i) => 11 + i),
    'sent again from the seq after Redis’s record: contiguous',
  );
  t.deepEqual(
    entries.map((e) => (e.data as { price: number }).price),
    Array.from({ length: DEFAULT_PUBLISH_BATCH }, (_, i) => DEFAULT_PUBLISH_BATCH + i + 1),
    'in publish order',
  );
  t.is(await redis.hget(keys.gaps('market'), 'p1'), null, 'no gap was counted');
  await publisher.close();
  redis.disconnect();
});

test('bursts of many batches keep every seq in order with none missing or doubled', async (t) => {
  const redis = server.client();
  const keys = testKeys('bursts');
  const publisher = new RedisPublisher({ redis, keys, producer: 'p1', source: 'test' });
  let price = 0;
  let largest = 0;
  for (const size of [1, 7, DEFAULT_PUBLISH_BATCH - 1, DEFAULT_PUBLISH_BATCH + 1, DEFAULT_PUBLISH_BATCH * 5 + 3]) {
    const results = await Promise.all(
      Array.from({ length: size }, () => publisher.publish('market.tick', tick(++price))),
    );
    largest = Math.max(largest, size);
    t.true(results.every((r) => r.via === 'redis' && r.entryId !== undefined));
  }
  t.true(largest > DEFAULT_PUBLISH_BATCH * 2, 'a burst large enough for batches behind batches');
  const entries = (await redis.xrange(keys.stream('market'), '-', '+')).map(([, f]) => decodeEntry(f));
  t.deepEqual(
    entries.map((e) => e.seq),
    Array.from({ length: price }, (_, i) => i + 1),
  );
  t.deepEqual(
    entries.map((e) => (e.data as { price: number }).price),
    Array.from({ length: price }, (_, i) => i + 1),
  );
  await publisher.close();
  redis.disconnect();
});

test('a connection dropped with two batches in flight: both are parked in the disk buffer, in order, and nothing goes unobserved', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'qt-publish-pipeline-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const buffer = DiskBuffer.open({ path: join(dir, 'buffer.sqlite') });
  const redis = server.client();
  const keys = testKeys('dropped');
  await redis.ping();
  const publisher = new RedisPublisher({ redis, keys, producer: 'p1', source: 'test', buffer });
  const first = await publisher.publish('market.tick', tick(1));
  t.is(first.via, 'redis', 'the seq is known: the next batches go two at a time');
  const unobserved: unknown[] = [];
  const onUnhandled = (reason: unknown) => unobserved.push(reason);
  process.on('unhandledRejection', onUnhandled);
  t.teardown(() => process.off('unhandledRejection', onUnhandled));
  // Writes paused for a while: the two batches are sent and stay unanswered; then the connection drops under them.
  const admin = server.client();
  await admin.call('CLIENT', 'PAUSE', '500', 'WRITE');
  const burst = Array.from({ length: DEFAULT_PUBLISH_BATCH * 2 }, (_, i) =>
    publisher.publish('market.tick', tick(i + 2)),
  );
  await new Promise((resolve) => setTimeout(resolve, 50));
  redis.disconnect();
  admin.disconnect();
  const results = await Promise.all(burst);
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.deepEqual(unobserved, [], 'no rejection left unobserved');
  t.true(
    results.every((r) => r.via === 'buffer'),
    'every event of both batches parked',
  );
  const parked = buffer.oldest('market', 10_000);
  t.is(parked.length, DEFAULT_PUBLISH_BATCH * 2);
  t.deepEqual(
    parked.map((r) => r.seq),
    Array.from({ length: DEFAULT_PUBLISH_BATCH * 2 }, (_, i) => i + 2),
    'parked in doubt with their seqs, in order',
  );
  await publisher.close();
  await buffer.close();
});
