/**
 * `qt groups` on real lag: a group whose consumer consumed some entries and
 * stopped, then more were published. Lag in entries (Redis's, and counted
 * when Redis has none), in seconds from the oldest undelivered entry's id,
 * and the stuck flag.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { DEFAULT_STUCK_AFTER_MS, type GroupJson, GroupsOutputSchema } from '../../src/cli/groups.js';
import { StreamConsumer } from '../../src/streams/consumer.js';
import { createKeys } from '../../src/streams/keys.js';
import { RedisPublisher } from '../../src/streams/publisher.js';
import { uniquePrefix, waitFor } from '../support/bus.js';
import { runQt } from '../support/cli.js';
import { type RedisServer, startRedis } from '../support/redis-fixture.js';

let server: RedisServer;
test.before(async () => {
  server = await startRedis({ name: 'cli-groups' });
});
test.after.always(() => server?.stop());

test('a stopped consumer: lag in entries and seconds, flagged stuck after --stuck-after', async (t) => {
  const redis = server.client();
  const prefix = uniquePrefix('cli-groups');
  const keys = createKeys(prefix);
  const env = { REDIS_URL: server.url, QT_KEY_PREFIX: prefix };
  const publisher = new RedisPublisher({ redis, keys, producer: 'feed', source: 'marketdata' });
  t.teardown(() => publisher.close());
  const tick = (price: number) => publisher.publish('market.tick', { symbol: 'BTCUSDT', price, volume: 1 });
  for (let i = 1; i <= 5; i++) await tick(i);

  const handled: number[] = [];
  const consumer = new StreamConsumer({
    redis,
    keys,
    topic: 'market',
    group: 'portfolio',
    consumer: 'pf-1',
    blockMs: 100,
    handler: async (e) => {
      handled.push(e.seq);
    },
  });
  await consumer.start();
  await waitFor(() => handled.length === 5, 'five handled');
  await consumer.close();
  // Published after the consumer stopped: nobody takes these.
  const late = [];
  for (let i = 6; i <= 8; i++) late.push(await tick(i));
  await sleep(1_500);

  const groups = async (...args: string[]): Promise<GroupJson[]> => {
    const res = await runQt(['--json', 'groups', ...args], env);
    t.is(res.code, 0, res.stderr);
    return GroupsOutputSchema.parse(JSON.parse(res.stdout));
  };
  const [g] = await groups('market', '--stuck-after', '1s');
  t.like(g, {
    topic: 'market',
    key: keys.stream('market'),
    group: 'portfolio',
    pending: 0,
    entriesRead: 5,
    lag: 3,
    lagSource: 'redis',
    oldestUndeliveredId: late[0]?.entryId,
    stuck: true,
  });
  t.true(g !== undefined && g.lagSeconds >= 1.5 && g.lagSeconds < 30, `lag ${g?.lagSeconds} s`);
  t.deepEqual(
    g?.consumers.map((c) => c.name),
    ['pf-1'],
  );
  t.true((g?.consumers[0]?.idleMs ?? 0) >= 1_400, 'the consumer has been idle since it stopped');

  t.true(DEFAULT_STUCK_AFTER_MS >= 60_000);
  const [byDefault] = await groups('market');
  t.false(byDefault?.stuck, 'not stuck yet by the default threshold');

  // A deleted entry leaves Redis unable to say the lag: qt counts it.
  await redis.xdel(keys.stream('market'), late[1]?.entryId as string);
  const [counted] = await groups('market', '--stuck-after', '1s');
  t.like(counted, { lag: 2, lagSource: 'counted', oldestUndeliveredId: late[0]?.entryId, stuck: true });

  // A live consumer takes the rest: no lag, not stuck.
  const again = new StreamConsumer({
    redis,
    keys,
    topic: 'market',
    group: 'portfolio',
    consumer: 'pf-1',
    blockMs: 100,
    handler: async (e) => {
      handled.push(e.seq);
    },
  });
  await again.start();
  t.teardown(() => again.close());
  await waitFor(() => handled.length === 7, 'the rest handled');
  const [caughtUp] = await groups('market', '--stuck-after', '1s');
  t.like(caughtUp, { lag: 0, lagSeconds: 0, oldestUndeliveredId: null, pending: 0, stuck: false });

  // Without a topic: every topic stream; the table flags nothing now, and fits 80 columns.
  const all = await groups();
  t.deepEqual(
    all.map((x) => `${x.topic}/${x.group}`),
    ['market/portfolio'],
  );
  await again.close();
  await tick(9);
  await sleep(1_200);
  const table = await runQt(['groups', '--stuck-after', '1s'], { ...env, QT_CLI_WIDTH: '80' });
  t.is(table.code, 0, table.stderr);
  const lines = table.stdout.split('\n').map((l) => l.trimEnd());
  t.is(lines[0], 'TOPIC   GROUP      CONS  PENDING  LAG  LAG AGE  LAST DELIVERED   READ  STATE');
  t.regex(lines[1] ?? '', /^market {2}portfolio {5}1 {8}0 {4}1 {7}\ds {2}\d{13}-\d +\S+ {2}STUCK$/);
  t.is(lines[2], '', 'a blank line between the groups and their consumers');
  t.is(lines[3], 'TOPIC   GROUP      CONSUMER  PENDING  IDLE');
  t.regex(lines[4] ?? '', /^market {2}portfolio {2}pf-1 {12}0 {4}\ds$/);
  t.true(lines.every((l) => l.length <= 80));
});

test('an unknown topic is exit 5, a malformed one exit 2', async (t) => {
  const env = { REDIS_URL: server.url, QT_KEY_PREFIX: uniquePrefix('cli-groups-none') };
  const none = await runQt(['groups', 'market'], env);
  t.is(none.code, 5);
  t.regex(none.stderr, /^qt: topic market: stream .*:stream:\{market\} does not exist\n$/);
  const empty = await runQt(['groups'], env);
  t.is(empty.code, 0);
  t.is(empty.stdout, 'no consumer groups\n');
  const bad = await runQt(['groups', 'mar{ket}'], env);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /not usable in a Redis key/);
});
