/**
 * The actor host's promise (docs/architecture.md §8.3): a restart never loses or re-applies
 * an event, and never publishes an output twice.
 */
import { once } from 'node:events';
import test from 'ava';
import { ActorHost } from '../../src/actors/host.js';
import { decodeEntry } from '../../src/streams/codec.js';
import { RedisPublisher } from '../../src/streams/publisher.js';
import { testKeys, waitFor } from '../support/bus.js';
import { ledgerSpec, replayLedger } from '../support/ledger-machine.js';
import { startLedgerProcess } from '../support/ledger-process.js';
import { type RedisServer, startRedis } from '../support/redis-fixture.js';

let server: RedisServer;
test.before(async () => {
  server = await startRedis({ name: 'actor-host' });
});
test.after.always(() => server?.stop());

test.serial('SIGKILL the actor process mid-stream: after restart its state equals a replay from scratch', async (t) => {
  const keys = testKeys('host-kill');
  const redis = server.client();
  const TOTAL = 3_000;
  const first = startLedgerProcess(server.url, keys.prefix);
  t.teardown(() => first.child.kill('SIGKILL'));
  await waitFor(() => first.count() === 0, 'actor started', 20_000);

  const publisher = new RedisPublisher({ redis, keys, producer: 'feed', source: 'test' });
  const feeding = (async () => {
    for (let i = 1; i <= TOTAL; i += 50) {
      await Promise.all(
        Array.from({ length: 50 }, (_, j) =>
          publisher.publish('market.tick', { symbol: 'BTCUSDT', price: i + j, volume: 1 }),
        ),
      );
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  await waitFor(() => first.count() >= 800, 'the actor is mid-stream', 30_000, 5);
  first.child.kill('SIGKILL');
  await once(first.child, 'exit');
  const killedAt = first.count();
  await feeding;

  const second = startLedgerProcess(server.url, keys.prefix);
  t.teardown(() => second.child.kill('SIGKILL'));
  await waitFor(() => second.count() === TOTAL, `restarted actor reaches ${TOTAL} (at ${second.count()})`, 60_000);
  t.log(`killed at count ${killedAt}; restarted from the committed snapshot and caught up`);

  const stream = (await redis.xrange(keys.stream('market'), '-', '+')).map(([, f]) => decodeEntry(f));
  const expected = replayLedger(stream.map((e) => (e.data as { price: number }).price));
  const committed = JSON.parse((await redis.get(keys.actorSnapshot('ledger'))) ?? '{}') as {
    context: { count: number; sum: number; hash: number };
  };
  t.deepEqual(
    { count: committed.context.count, sum: committed.context.sum, hash: committed.context.hash },
    expected,
    'committed state = replay of the whole stream',
  );

  const alerts = (await redis.xrange(keys.stream('health'), '-', '+')).map(([, f]) => decodeEntry(f));
  t.is(alerts.length, TOTAL / 10, 'each output published once');
  t.deepEqual(
    alerts.map((a) => (a.data as { alertId: string }).alertId),
    Array.from({ length: TOTAL / 10 }, (_, i) => `ledger-${(i + 1) * 10}`),
  );
  t.true(alerts.every((a) => a.causationId !== undefined && a.producer === 'ledger-proc.ledger'));
  second.child.kill('SIGTERM');
  await once(second.child, 'exit');
});

test.serial('an operator command is committed with the snapshot, and a restart restores it', async (t) => {
  const keys = testKeys('host-cmd');
  const redis = server.client();
  const host = new ActorHost({ spec: ledgerSpec, redis, keys, producer: 'p', source: 'test', consumer: 'c1' });
  await host.start();
  for (let i = 0; i < 10; i++) await host.send({ type: 'TICK', price: 5 });
  t.is(host.snapshot.context.count, 10);
  await host.close();
  const alerts = await redis.xlen(keys.stream('health'));
  t.is(alerts, 1, 'the output of the 10th command was published with the commit');

  const again = new ActorHost({ spec: ledgerSpec, redis, keys, producer: 'p', source: 'test', consumer: 'c1' });
  await again.start();
  t.deepEqual(again.snapshot.context, { count: 10, sum: 50, hash: replayLedger(Array(10).fill(5)).hash, outbox: [] });
  await again.close();
});
