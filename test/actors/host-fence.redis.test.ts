/**
 * Two live hosts of one actor sharing a producer id (docs/architecture.md,
 * "Actors and event sourcing"): a commit built on a stale state, or whose
 * outputs another live instance owns, is refused as a whole — no ack, no
 * snapshot, no output — and the loser reloads and goes on from the truth.
 * Before the fence, the second host's outputs were dropped by the append
 * script while its snapshot and ack committed.
 */
import { once } from 'node:events';
import test from 'ava';
import { ActorHost } from '../../src/actors/host.js';
import type { EventData } from '../../src/events/catalog.js';
import { decodeEntry } from '../../src/streams/codec.js';
import { RedisPublisher } from '../../src/streams/publisher.js';
import { testKeys, waitFor } from '../support/bus.js';
import { ledgerSpec } from '../support/ledger-machine.js';
import { startLedgerProcess } from '../support/ledger-process.js';
import { type RedisServer, startRedis } from '../support/redis-fixture.js';

let server: RedisServer;
test.before(async () => {
  server = await startRedis({ name: 'actor-fence' });
});
test.after.always(() => server?.stop());

const tick = (price: number): EventData<'market.tick'> => ({ symbol: 'BTCUSDT', price, volume: 1 });

test.serial(
  'a second live process of an actor: its stale commit is refused whole; both go on from the truth',
  async (t) => {
    const keys = testKeys('fence-two');
    const redis = server.client();
    const feed = new RedisPublisher({ redis, keys, producer: 'feed', source: 'test' });
    const a = startLedgerProcess(server.url, keys.prefix);
    t.teardown(() => a.child.kill('SIGKILL'));
    await waitFor(() => a.count() === 0, 'process A started', 20_000);
    for (let p = 1; p <= 20; p++) await feed.publish('market.tick', tick(p));
    await waitFor(() => a.count() === 20, 'A applied 1..20', 20_000);

    // B: the same actor, the same producer id, in this process. No topics, so
    // it only takes operator commands: what it does is exactly what the test says.
    const b = new ActorHost({
      spec: { ...ledgerSpec, topics: [] },
      redis,
      keys,
      producer: 'ledger-proc',
      source: 'test',
      consumer: 'ledger-2',
    });
    await b.start();
    t.teardown(() => b.close());
    t.is(b.snapshot.context.count, 20, 'B loaded what A committed');
    for (let p = 21; p <= 30; p++) await feed.publish('market.tick', tick(p));
    await waitFor(() => a.count() === 30, 'A applied 21..30', 20_000);

    const before = await redis.mget(keys.actorSnapshot('ledger'), keys.actorVersion('ledger'));
    const err = await t.throwsAsync(b.send({ type: 'TICK', price: 1_000 }));
    t.is((err as { code?: string }).code, 'QT_ACTOR_STALE');
    t.deepEqual(
      await redis.mget(keys.actorSnapshot('ledger'), keys.actorVersion('ledger')),
      before,
      'nothing of the refused commit was written',
    );

    // B reloads on its next command and commits on top of A's state.
    const after = await b.send({ type: 'TICK', price: 1_000 });
    t.is(after.context.count, 31, "B's command applied once, on A's 30 events");
    // A's next commit is now the stale one: refused, A reloads, the entries are redelivered.
    for (let p = 31; p <= 40; p++) await feed.publish('market.tick', tick(p));
    await waitFor(
      async () =>
        (JSON.parse((await redis.get(keys.actorSnapshot('ledger'))) ?? '{}') as { context?: { count: number } }).context
          ?.count === 41,
      'the committed state has all 40 events and the command',
      20_000,
    );
    const committed = JSON.parse((await redis.get(keys.actorSnapshot('ledger'))) ?? '{}') as {
      context: { count: number; sum: number };
    };
    t.is(committed.context.sum, (40 * 41) / 2 + 1_000, 'every event applied exactly once, across both hosts');
    const alerts = (await redis.xrange(keys.stream('health'), '-', '+')).map(([, f]) => decodeEntry(f));
    t.deepEqual(
      alerts.map((e) => [e.seq, (e.data as { alertId: string }).alertId]),
      [
        [1, 'ledger-10'],
        [2, 'ledger-20'],
        [3, 'ledger-30'],
        [4, 'ledger-40'],
      ],
      'every output published once, seqs contiguous: none dropped while its snapshot committed',
    );
    a.child.kill('SIGTERM');
    await once(a.child, 'exit');
  },
);

test.serial('outputs another live instance of the producer owns: the whole commit is refused', async (t) => {
  const keys = testKeys('fence-owner');
  const redis = server.client();
  const host = new ActorHost({
    spec: { ...ledgerSpec, topics: [] },
    redis,
    keys,
    producer: 'shared',
    source: 'test',
    consumer: 'c1',
  });
  await host.start();
  t.teardown(() => host.close());
  for (let i = 0; i < 9; i++) await host.send({ type: 'TICK', price: 1 });
  // Another process publishes as the actor's output producer, onto the topic of its next output.
  const intruder = new RedisPublisher({ redis, keys, producer: 'shared.ledger', source: 'test' });
  for (let i = 0; i < 3; i++) {
    await intruder.publish('health.alert_raised', { alertId: `x${i}`, severity: 'warning', source: 'x', message: 'x' });
  }
  const before = await redis.mget(keys.actorSnapshot('ledger'), keys.actorVersion('ledger'));
  // The 10th command makes the actor publish: that output would reuse seq 1, which the intruder owns.
  const err = await t.throwsAsync(host.send({ type: 'TICK', price: 1 }));
  t.is((err as { code?: string }).code, 'QT_PUBLISH_OUT_OF_ORDER');
  t.deepEqual(await redis.mget(keys.actorSnapshot('ledger'), keys.actorVersion('ledger')), before, 'no snapshot');
  t.is(await redis.xlen(keys.stream('health')), 3, "no output: only the intruder's three events");
});
