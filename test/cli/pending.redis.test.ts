/**
 * `qt pending` after a consumer was SIGKILLed inside its handler: the
 * entries it held are pending, with its name, idle time and deliveries;
 * --min-idle, --consumer and --count narrow them; `qt groups` flags it.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { GroupsOutputSchema } from '../../src/cli/groups.js';
import { type PendingOutput, PendingOutputSchema } from '../../src/cli/pending.js';
import { createKeys } from '../../src/streams/keys.js';
import { RedisPublisher } from '../../src/streams/publisher.js';
import { pendingCount, uniquePrefix, waitFor } from '../support/bus.js';
import { runQt } from '../support/cli.js';
import { type RedisServer, startRedis } from '../support/redis-fixture.js';

const CHILD = fileURLToPath(new URL('../support/consumer-child.ts', import.meta.url));

let server: RedisServer;
test.before(async () => {
  server = await startRedis({ name: 'cli-pending' });
});
test.after.always(() => server?.stop());

test('the entries a SIGKILLed consumer held: who, how long idle, how often delivered', async (t) => {
  const redis = server.client();
  const prefix = uniquePrefix('cli-pending');
  const keys = createKeys(prefix);
  const env = { REDIS_URL: server.url, QT_KEY_PREFIX: prefix };
  const publisher = new RedisPublisher({ redis, keys, producer: 'feed', source: 'marketdata' });
  t.teardown(() => publisher.close());
  const published = [];
  for (let i = 1; i <= 3; i++) {
    published.push(await publisher.publish('market.tick', { symbol: 'BTCUSDT', price: i, volume: 1 }));
  }

  const child = spawn(process.execPath, ['--import=tsx', CHILD, server.url, prefix, 'market', 'execution', 'exec-1'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += String(d);
  });
  await waitFor(() => out.includes('handling 1'), 'the child inside its first handler', 20_000);
  child.kill('SIGKILL');
  await once(child, 'exit');
  const held = await pendingCount(redis, keys.stream('market'), 'execution');
  t.true(held >= 1, `${held} pending`);

  const pending = async (...args: string[]): Promise<PendingOutput> => {
    const res = await runQt(['--json', 'pending', 'market', 'execution', ...args], env);
    t.is(res.code, 0, res.stderr);
    return PendingOutputSchema.parse(JSON.parse(res.stdout));
  };
  const all = await pending();
  t.is(all.total, held);
  t.is(all.entries.length, held);
  t.like(all.entries[0], { id: published[0]?.entryId, consumer: 'exec-1', deliveries: 1, type: 'market.tick' });
  t.deepEqual(
    all.entries.map((e) => e.id),
    published.slice(0, held).map((p) => p.entryId),
    'oldest first',
  );

  await sleep(1_100);
  t.is((await pending('--min-idle', '1s', '--count', '1')).entries.length, 1);
  const young = await pending('--min-idle', '1h');
  t.is(young.entries.length, 0);
  t.is(young.total, held, 'the total ignores the filters');
  t.is((await pending('--consumer', 'exec-2')).entries.length, 0);
  t.is((await pending('--consumer', 'exec-1')).entries.length, held);

  const table = await runQt(['pending', 'market', 'execution', '--min-idle', '1s'], { ...env, QT_CLI_WIDTH: '80' });
  const lines = table.stdout.split('\n').map((l) => l.trimEnd());
  t.is(lines[0], 'ENTRY            TYPE         CONSUMER  IDLE  DELIVERIES');
  t.regex(lines[1] ?? '', new RegExp(`^${published[0]?.entryId}  market\\.tick  exec-1 +\\d+s +1$`));
  t.is(lines.at(-2), `${held} pending in group execution of market; ${held} shown (idle ≥ 1s)`);

  const groups = await runQt(['--json', 'groups', 'market', '--stuck-after', '1s'], env);
  const [g] = GroupsOutputSchema.parse(JSON.parse(groups.stdout));
  t.like(g, { group: 'execution', pending: held, stuck: true });
  t.like(g?.consumers[0], { name: 'exec-1', pending: held });
});

test('a missing group or stream is exit 5; a bad --min-idle exit 2 with the usage', async (t) => {
  const redis = server.client();
  const prefix = uniquePrefix('cli-pending-none');
  const keys = createKeys(prefix);
  const env = { REDIS_URL: server.url, QT_KEY_PREFIX: prefix };
  const noStream = await runQt(['pending', 'market', 'execution'], env);
  t.is(noStream.code, 5);
  t.regex(noStream.stderr, /stream .*\{market\} does not exist/);
  await redis.xadd(keys.stream('market'), '*', 'type', 'market.tick', 'env', '{}');
  const noGroup = await runQt(['pending', 'market', 'execution'], env);
  t.is(noGroup.code, 5);
  t.regex(noGroup.stderr, /has no consumer group execution/);
  const bad = await runQt(['pending', 'market', 'execution', '--min-idle', 'soon'], env);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /"soon" is not a duration/);
  t.regex(bad.stderr, /Usage: qt pending/);
});
