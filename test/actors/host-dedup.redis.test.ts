/**
 * The actor host handles fresh entries without asking the group's
 * processed-record first (`dedupAtCommit`): its commit refuses a batch that
 * holds an event the group already processed (QT_ALREADY_PROCESSED), writing
 * nothing, and the host reloads. These tests put a real duplicate in the
 * stream (the same producer and seq a second time, as after a lost Redis
 * write was re-sent) and show it is applied once and its output published
 * once, and that a refused commit leaves no trace.
 */
import test from 'ava';
import { ActorHost } from '../../src/actors/host.js';
import { isQtError } from '../../src/errors.js';
import { commitActor } from '../../src/streams/actor-commit.js';
import { decodeEntry } from '../../src/streams/codec.js';
import { RedisPublisher } from '../../src/streams/publisher.js';
import { testKeys, waitFor } from '../support/bus.js';
import { ledgerSpec } from '../support/ledger-machine.js';
import { type RedisServer, startRedis } from '../support/redis-fixture.js';

let server: RedisServer;
test.before(async () => {
  server = await startRedis({ name: 'host-dedup' });
});
test.after.always(() => server?.stop());

const tick = (price: number) => ({ symbol: 'BTCUSDT', price, volume: 1 });

test('a duplicate that arrives fresh is applied once: the commit refuses it, the host reloads, the entry is acked as a duplicate', async (t) => {
  const keys = testKeys('host-dedup');
  const redis = server.client();
  const host = new ActorHost({
    spec: ledgerSpec,
    redis,
    keys,
    producer: 'p',
    source: 'test',
    consumer: 'c1',
    consumerOptions: { blockMs: 100, retryDelayMs: 5 },
  });
  await host.start();
  const publisher = new RedisPublisher({ redis, keys, producer: 'feed', source: 'test' });
  for (let i = 1; i <= 10; i++) await publisher.publish('market.tick', tick(i));
  await waitFor(() => host.snapshot.context.count === 10, 'ten applied');

  // Entry 10 (feed, seq 10) once more, as a new entry: the 10th tick again.
  const [[, fields]] = (await redis.xrange(keys.stream('market'), '-', '+', 'COUNT', 10)).slice(-1) as [
    [string, string[]],
  ];
  await redis.xadd(keys.stream('market'), '*', ...fields);
  for (let i = 11; i <= 20; i++) await publisher.publish('market.tick', tick(i));
  await waitFor(() => host.snapshot.context.count === 20, 'twenty applied', 10_000);
  await waitFor(
    async () => Number((await redis.xpending(keys.stream('market'), 'ledger'))[0]) === 0,
    'nothing pending',
    10_000,
  );
  const prices = Array.from({ length: 20 }, (_, i) => i + 1);
  t.is(host.snapshot.context.count, 20, 'the duplicate was not applied');
  t.is(
    host.snapshot.context.sum,
    prices.reduce((a, b) => a + b, 0),
  );
  const alerts = (await redis.xrange(keys.stream('health'), '-', '+')).map(([, f]) => decodeEntry(f));
  t.deepEqual(
    alerts.map((a) => (a.data as { alertId: string }).alertId),
    ['ledger-10', 'ledger-20'],
    'each output published once',
  );
  await host.close();
  await publisher.close();
  redis.disconnect();
});

test('an unchecked commit holding a processed event writes nothing; the same commit checked, or unchecked without it, lands', async (t) => {
  const keys = testKeys('commit-seen');
  const redis = server.client();
  const groupSeqs = keys.groupSeqs('market', 'ledger');
  await redis.hset(groupSeqs, 'feed', 5);
  await redis.xgroup('CREATE', keys.stream('market'), 'ledger', '0', 'MKSTREAM');
  const id = await redis.xadd(keys.stream('market'), '*', 'type', 'market.tick', 'env', '{}');
  await redis.xreadgroup('GROUP', 'ledger', 'c1', 'STREAMS', keys.stream('market'), '>');
  const commit = (seq: number, unchecked: boolean, expectedVersion: number) =>
    commitActor(redis, {
      actor: 'ledger',
      versionKey: keys.actorVersion('ledger'),
      snapshotKey: keys.actorSnapshot('ledger'),
      expectedVersion,
      snapshot: `{"seq":${seq}}`,
      consumed: {
        stream: keys.stream('market'),
        groupSeqs,
        group: 'ledger',
        acks: [{ entryId: id as string, producer: 'feed', seq }],
        handled: [],
        unchecked,
      },
      appender: { keys, producer: 'p.ledger', instance: 'i1' },
      outputs: [{ topic: 'health', firstSeq: 1, types: ['health.alert_raised'], payloads: ['{"x":1}'] }],
      projections: [{ key: `${keys.prefix}:projection:test`, value: 'written' }],
    });
  const refused = await t.throwsAsync(commit(5, true, 0));
  t.true(isQtError(refused, 'QT_ALREADY_PROCESSED'), String(refused?.message));
  t.is(await redis.get(keys.actorVersion('ledger')), null, 'no version');
  t.is(await redis.get(keys.actorSnapshot('ledger')), null, 'no snapshot');
  t.is(await redis.xlen(keys.stream('health')), 0, 'no output');
  t.is(await redis.get(`${keys.prefix}:projection:test`), null, 'no projection');
  t.is(Number((await redis.xpending(keys.stream('market'), 'ledger'))[0]), 1, 'no ack');

  // Checked (the consumer asked first; a duplicate in acks is only acked): it lands.
  t.like(await commit(5, false, 0), { version: 1 });
  // Unchecked with an event not yet processed: it lands too.
  t.like(await commit(6, true, 1), { version: 2 });
  t.is(await redis.hget(groupSeqs, 'feed'), '6');
  redis.disconnect();
});
