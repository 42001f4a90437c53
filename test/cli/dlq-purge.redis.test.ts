/**
 * `qt dlq purge` on real Redis, the CLI as a child process: the plan
 * changes nothing, `--execute` deletes exactly the dead letters the plan
 * named (and their replay records), and leaves an audit event.
 */
import test from 'ava';
import { cliOperator } from '../../src/cli/audit.js';
import { PurgeOutputSchema } from '../../src/cli/dlq-purge.js';
import type { Envelope } from '../../src/events/envelope.js';
import { decodeEntry } from '../../src/streams/codec.js';
import { writeDeadLetter } from '../../src/streams/dlq.js';
import { createKeys } from '../../src/streams/keys.js';
import { uniquePrefix } from '../support/bus.js';
import { runQt } from '../support/cli.js';
import { type RedisServer, startRedis } from '../support/redis-fixture.js';

let server: RedisServer;
test.before(async () => {
  server = await startRedis({ name: 'cli-dlq-purge' });
});
test.after.always(() => server?.stop());

test('the plan changes nothing; --execute deletes exactly the planned dead letters and their replay records', async (t) => {
  const redis = server.client();
  const prefix = uniquePrefix('cli-dlq-purge');
  const keys = createKeys(prefix);
  const env = { REDIS_URL: server.url, QT_KEY_PREFIX: prefix };
  const letter = (topic: string, group: string, n: number) =>
    writeDeadLetter(redis, keys, {
      topic,
      entryId: `${1_700_000_000_000 + n}-0`,
      group,
      consumer: 'c1',
      deliveries: 5,
      reason: 'max_deliveries',
      error: `boom ${n}`,
      fields: ['type', `${topic}.tick`, 'env', '{}'],
    });
  const market = [await letter('market', 'execution', 1), await letter('market', 'portfolio', 2)];
  const order = [await letter('order', 'execution', 3), await letter('market', 'execution', 4)];
  market.push(order.pop() as string);
  await redis.hset(keys.dlqReplays(), market[0] as string, '{"count":1}', order[0] as string, '{"count":1}');

  const plan = await runQt(['--json', 'dlq', 'purge', '--topic', 'market', '--reason', 'poison ticks'], env);
  t.is(plan.code, 0, plan.stderr);
  const planned = PurgeOutputSchema.parse(JSON.parse(plan.stdout));
  t.like(planned, { executed: false, deleted: null, auditEntryId: null, reason: 'poison ticks' });
  t.deepEqual(
    planned.selected.map((l) => l.id),
    market,
  );
  t.is(await redis.xlen(keys.dlq()), 4, 'the plan deletes nothing');
  t.is(await redis.hlen(keys.dlqReplays()), 2);

  const text = await runQt(['dlq', 'purge', '--group', 'execution', '--reason', 'r'], { ...env, QT_CLI_WIDTH: '120' });
  t.is(text.code, 0, text.stderr);
  t.regex(text.stdout, /^plan \(nothing changes without --execute\): delete 3 dead letters from /);

  const none = await runQt(['--json', 'dlq', 'purge', '--older-than', '1h', '--reason', 'r'], env);
  t.is(PurgeOutputSchema.parse(JSON.parse(none.stdout)).selected.length, 0, 'all of them are younger than 1h');

  const run = await runQt(
    ['--json', 'dlq', 'purge', '--topic', 'market', '--reason', 'poison ticks', '--execute'],
    env,
  );
  t.is(run.code, 0, run.stderr);
  const done = PurgeOutputSchema.parse(JSON.parse(run.stdout));
  t.like(done, { executed: true, deleted: 3 });
  t.deepEqual(
    done.selected.map((l) => l.id),
    market,
  );
  t.deepEqual(
    (await redis.xrange(keys.dlq(), '-', '+')).map(([id]) => id),
    order,
    'exactly the planned ids are gone',
  );
  t.deepEqual(await redis.hkeys(keys.dlqReplays()), order, 'their replay records went with them');

  const byId = await runQt(['--json', 'dlq', 'purge', order[0] as string, '--reason', 'done', '--execute'], env);
  t.is(byId.code, 0, byId.stderr);
  t.is(await redis.xlen(keys.dlq()), 0);
  const missing = await runQt(['dlq', 'purge', order[0] as string, '--reason', 'done', '--execute'], env);
  t.is(missing.code, 5);

  const audit = (await redis.xrange(keys.stream('audit'), '-', '+')).map(
    ([, fields]) => decodeEntry(fields) as Envelope<'audit.command_executed'>,
  );
  t.deepEqual(
    audit.map((e) => [e.data.command, e.data.result, e.data.reason, e.data.operator]),
    [
      ['dlq purge', 'ok', 'poison ticks', cliOperator()],
      ['dlq purge', 'ok', 'done', cliOperator()],
    ],
  );
  t.like(audit[0]?.data.details, { selectedCount: 3, deleted: 3, ids: market });
  t.like(audit[0]?.data.args, { topic: 'market', execute: true });
  t.is(done.auditEntryId, (await redis.xrange(keys.stream('audit'), '-', '+'))[0]?.[0] ?? null);
});
