/**
 * `qt show TOPIC ID` on real Redis: one entry decoded, and for three groups
 * of its stream where it is: acked, pending (with whom), ahead.
 */
import test from 'ava';
import { ShowOutputSchema } from '../../src/cli/show.js';
import { createKeys } from '../../src/streams/keys.js';
import { RedisPublisher } from '../../src/streams/publisher.js';
import { uniquePrefix } from '../support/bus.js';
import { runQt } from '../support/cli.js';
import { type RedisServer, startRedis } from '../support/redis-fixture.js';

let server: RedisServer;
test.before(async () => {
  server = await startRedis({ name: 'cli-show' });
});
test.after.always(() => server?.stop());

test('delivered and acked, pending, still ahead: one entry in three groups', async (t) => {
  const redis = server.client();
  const prefix = uniquePrefix('cli-show');
  const keys = createKeys(prefix);
  const stream = keys.stream('order');
  const env = { REDIS_URL: server.url, QT_KEY_PREFIX: prefix };
  const publisher = new RedisPublisher({ redis, keys, producer: 'vm.execution', source: 'execution' });
  t.teardown(() => publisher.close());
  const order = { orderId: 'ord-1', symbol: 'BTCUSDT', side: 'buy' } as const;
  const first = await publisher.publish('order.cancelled', { ...order, reason: 'first' });
  const second = await publisher.publish('order.cancelled', { ...order, reason: 'second' });
  const id = second.entryId as string;

  await redis.xgroup('CREATE', stream, 'portfolio', '0');
  await redis.xreadgroup('GROUP', 'portfolio', 'pf-1', 'COUNT', 2, 'STREAMS', stream, '>');
  await redis.xack(stream, 'portfolio', first.entryId as string, id);
  await redis.xgroup('CREATE', stream, 'pretrade', '0');
  await redis.xreadgroup('GROUP', 'pretrade', 'rs-1', 'COUNT', 2, 'STREAMS', stream, '>');
  await redis.xreadgroup('GROUP', 'pretrade', 'rs-1', 'STREAMS', stream, '0');
  await redis.xgroup('CREATE', stream, 'rl-training', '0');
  await redis.xreadgroup('GROUP', 'rl-training', 'rl-1', 'COUNT', 1, 'STREAMS', stream, '>');

  const res = await runQt(['--json', 'show', 'order', id], env);
  t.is(res.code, 0, res.stderr);
  const out = ShowOutputSchema.parse(JSON.parse(res.stdout));
  t.is(out.envelope?.id, second.envelope.id);
  t.like(out.envelope?.data, { reason: 'second' });
  t.is(out.error, null);
  t.is(out.fields.type, 'order.cancelled');
  const by = Object.fromEntries(out.groups.map((g) => [g.group, g]));
  t.like(by.portfolio, { status: 'acked', consumer: null, idleMs: null, deliveries: null, lastDeliveredId: id });
  t.like(by.pretrade, { status: 'pending', consumer: 'rs-1', deliveries: 2 });
  t.true((by.pretrade?.idleMs ?? -1) >= 0);
  t.like(by['rl-training'], { status: 'ahead', consumer: null, lastDeliveredId: first.entryId });

  const table = await runQt(['show', 'order', id], { ...env, QT_CLI_WIDTH: '80' });
  t.is(table.code, 0, table.stderr);
  const lines = table.stdout.split('\n').map((l) => l.trimEnd());
  t.is(lines[0], `order ${id}`);
  t.deepEqual(JSON.parse(lines.slice(1, lines.indexOf('}') + 1).join('\n')), out.envelope);
  const rows = lines.slice(lines.indexOf('}') + 1).filter(Boolean);
  t.is(rows[0], 'GROUP        STATUS   CONSUMER  IDLE  DELIVERIES  LAST DELIVERED');
  t.is(rows[1], `portfolio    acked    -            -           -  ${id}`);
  t.regex(rows[2] ?? '', new RegExp(`^pretrade     pending  rs-1 +\\d+m?s +2  ${id}$`));
  t.is(rows[3], `rl-training  ahead    -            -           -  ${first.entryId}`);
});

test('an unknown id is exit 5, a malformed one exit 2; an entry that is not an envelope says why', async (t) => {
  const redis = server.client();
  const prefix = uniquePrefix('cli-show-none');
  const keys = createKeys(prefix);
  const env = { REDIS_URL: server.url, QT_KEY_PREFIX: prefix };
  const noStream = await runQt(['show', 'order', '1-0'], env);
  t.is(noStream.code, 5);
  const bad = await redis.xadd(keys.stream('order'), '*', 'type', 'order.placed', 'env', 'not json');
  const unknown = await runQt(['show', 'order', '1-0'], env);
  t.is(unknown.code, 5);
  t.regex(unknown.stderr, /^qt: topic order: stream .* has no entry 1-0/);
  const malformed = await runQt(['show', 'order', 'yesterday'], env);
  t.is(malformed.code, 2);
  const res = await runQt(['--json', 'show', 'order', bad as string], env);
  t.is(res.code, 0, res.stderr);
  const out = ShowOutputSchema.parse(JSON.parse(res.stdout));
  t.is(out.envelope, null);
  t.regex(out.error ?? '', /is not JSON/);
  t.deepEqual(out.fields, { type: 'order.placed', env: 'not json' });
  t.deepEqual(out.groups, []);
});
