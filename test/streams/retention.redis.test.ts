import test from 'ava';
import { compareStreamIds, RetentionLoop, trimTopic } from '../../src/streams/retention.js';
import { testKeys } from '../support/bus.js';
import { type RedisServer, startRedis } from '../support/redis-fixture.js';

let server: RedisServer;
test.before(async () => {
  server = await startRedis({ name: 'retention' });
});
test.after.always(() => server?.stop());

async function fill(label: string, count: number) {
  const redis = server.client();
  const keys = testKeys(label);
  const stream = keys.stream('market');
  const ids: string[] = [];
  for (let i = 0; i < count; i++) ids.push((await redis.xadd(stream, '*', 'n', String(i))) as string);
  return { redis, keys, stream, ids };
}

test('stream ids compare numerically, not as text', (t) => {
  t.is(compareStreamIds('9-0', '10-0'), -1);
  t.is(compareStreamIds('10-2', '10-10'), -1);
  t.is(compareStreamIds('5-5', '5-5'), 0);
  t.is(compareStreamIds('11-0', '10-99'), 1);
});

test('without groups, MAXLEN trims to the newest entries', async (t) => {
  const { redis, keys, stream, ids } = await fill('nogroup', 100);
  const r = await trimTopic(redis, keys, 'market', { maxLen: 10 });
  t.is(r.trimmed, 90);
  t.false(r.heldBackByGroup);
  t.deepEqual(
    (await redis.xrange(stream, '-', '+')).map(([id]) => id),
    ids.slice(90),
  );
});

test('trimming never removes an entry a group has not consumed (undelivered or pending)', async (t) => {
  const { redis, keys, stream, ids } = await fill('groups', 100);
  // "fast" has read and acked 80 entries; "slow" has read 40 and acked only the first 30.
  await redis.xgroup('CREATE', stream, 'fast', '0');
  await redis.xgroup('CREATE', stream, 'slow', '0');
  const fast = (await redis.xreadgroup('GROUP', 'fast', 'f', 'COUNT', 80, 'STREAMS', stream, '>')) as [
    string,
    [string, string[]][],
  ][];
  await redis.xack(stream, 'fast', ...(fast[0]?.[1].map(([id]) => id) ?? []));
  const slow = (await redis.xreadgroup('GROUP', 'slow', 's', 'COUNT', 40, 'STREAMS', stream, '>')) as [
    string,
    [string, string[]][],
  ][];
  await redis.xack(stream, 'slow', ...(slow[0]?.[1].slice(0, 30).map(([id]) => id) ?? []));

  const r = await trimTopic(redis, keys, 'market', { maxLen: 10 });
  t.true(r.heldBackByGroup, 'the policy wanted more');
  t.is(r.trimmed, 30, 'only what every group has finished with');
  const left = (await redis.xrange(stream, '-', '+')).map(([id]) => id);
  t.deepEqual(left, ids.slice(30), "slow's pending entries (31..40) and everything after are kept");

  // Once slow catches up, the policy applies in full.
  const pending = slow[0]?.[1].slice(30).map(([id]) => id) ?? [];
  await redis.xack(stream, 'slow', ...pending);
  const rest = (await redis.xreadgroup('GROUP', 'slow', 's', 'COUNT', 100, 'STREAMS', stream, '>')) as [
    string,
    [string, string[]][],
  ][];
  await redis.xack(stream, 'slow', ...(rest[0]?.[1].map(([id]) => id) ?? []));
  const again = await trimTopic(redis, keys, 'market', { maxLen: 10 });
  t.is(again.trimmed, 50, 'entries 31..80 go; fast has not read past 80');
  t.deepEqual(
    (await redis.xrange(stream, '-', '+')).map(([id]) => id),
    ids.slice(80),
    'now bounded by fast (read 80): the last 20 stay',
  );
});

test('an age policy is bounded by groups too, and the loop trims every topic once per run', async (t) => {
  const { redis, keys, stream, ids } = await fill('age', 20);
  await redis.xgroup('CREATE', stream, 'late', '0'); // has read nothing yet
  const loop = new RetentionLoop({
    redis,
    keys,
    topics: ['market', 'order'],
    policy: { maxAgeMs: 1 },
    intervalMs: 60_000,
  });
  await new Promise((r) => setTimeout(r, 5));
  const results = await loop.runOnce();
  t.deepEqual(
    results.map((r) => r.topic),
    ['market', 'order'],
  );
  t.is(results[0]?.trimmed, 0, 'the group has consumed nothing, so nothing goes');
  t.is(await redis.xlen(stream), ids.length);
  await loop.close();
  t.is(loop.close(), loop.close(), 'close() is idempotent');
});
