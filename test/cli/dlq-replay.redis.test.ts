/**
 * `qt dlq list/show/replay` on real Redis, the CLI as a child process: a
 * dead letter of a failing handler reaches that handler exactly once more,
 * no other group sees it again, a second replay is refused unless --force,
 * a malformed entry is refused with its reason, and every executed replay
 * leaves an audit event saying who, what, why and how it ended.
 */
import { hostname } from 'node:os';
import test from 'ava';
import type { Redis } from 'ioredis';
import { cliOperator, cliProducerId } from '../../src/cli/audit.js';
import { DlqListOutputSchema, DlqShowOutputSchema } from '../../src/cli/dlq.js';
import { ReplayOutputSchema } from '../../src/cli/dlq-replay.js';
import { createEnvelope, type Envelope } from '../../src/events/envelope.js';
import { decodeEntry, encodeEntry } from '../../src/streams/codec.js';
import { StreamConsumer } from '../../src/streams/consumer.js';
import { writeDeadLetter } from '../../src/streams/dlq.js';
import { createKeys, type Keys } from '../../src/streams/keys.js';
import { RedisPublisher } from '../../src/streams/publisher.js';
import { deadLetters, pendingCount, uniquePrefix, waitFor } from '../support/bus.js';
import { runQt } from '../support/cli.js';
import { type RedisServer, startRedis } from '../support/redis-fixture.js';

let server: RedisServer;
test.before(async () => {
  server = await startRedis({ name: 'cli-dlq-replay' });
});
test.after.always(() => server?.stop());

const tick = (price: number) => ({ symbol: 'BTCUSDT', price, volume: 1 });

/** The audit events on the `audit` stream, decoded. */
async function auditEvents(redis: Redis, keys: Keys): Promise<Envelope<'audit.command_executed'>[]> {
  const entries = await redis.xrange(keys.stream('audit'), '-', '+');
  return entries.map(([, fields]) => decodeEntry(fields) as Envelope<'audit.command_executed'>);
}

/** Waits until `group` has read and acked everything in the topic stream. */
async function caughtUp(redis: Redis, keys: Keys, topic: string, group: string): Promise<void> {
  const stream = keys.stream(topic);
  await waitFor(async () => {
    const last = (await redis.xrevrange(stream, '+', '-', 'COUNT', 1))[0]?.[0];
    const groups = (await redis.xinfo('GROUPS', stream)) as unknown[][];
    const info = groups.find((g) => g[g.indexOf('name') + 1] === group) as unknown[];
    const delivered = info[info.indexOf('last-delivered-id') + 1];
    return delivered === last && (await pendingCount(redis, stream, group)) === 0;
  }, `${group} caught up on ${topic}`);
}

test('a handler-failed dead letter reaches its handler exactly once more; other groups never see it again; a second replay needs --force', async (t) => {
  const redis = server.client();
  const prefix = uniquePrefix('cli-dlq-replay');
  const keys = createKeys(prefix);
  const env = { REDIS_URL: server.url, QT_KEY_PREFIX: prefix };
  const stream = keys.stream('market');

  // execution's handler fails price 2 on every delivery (maxDeliveries 3: dead-lettered), and succeeds once it is back.
  const calls = new Map<string, number>();
  const handled: Envelope[] = [];
  const others: Envelope[] = [];
  const failing = new StreamConsumer({
    redis,
    keys,
    topic: 'market',
    group: 'execution',
    consumer: 'ex-1',
    blockMs: 50,
    retryDelayMs: 5,
    maxDeliveries: 3,
    handler: (e) => {
      const n = (calls.get(e.id) ?? 0) + 1;
      calls.set(e.id, n);
      if ((e.data as { price: number }).price === 2 && e.replayOf === undefined)
        throw new Error(`venue down (call ${n})`);
      handled.push(e);
    },
  });
  const other = new StreamConsumer({
    redis,
    keys,
    topic: 'market',
    group: 'portfolio',
    consumer: 'pf-1',
    blockMs: 50,
    handler: (e) => void others.push(e),
  });
  await failing.start();
  await other.start();
  t.teardown(() => Promise.all([failing.close(), other.close()]));
  const publisher = new RedisPublisher({ redis, keys, producer: 'vm.marketdata', source: 'marketdata' });
  t.teardown(() => publisher.close());
  const published = [];
  for (const price of [1, 2, 3]) published.push(await publisher.publish('market.tick', tick(price)));
  const original = published[1]?.envelope as Envelope;
  await waitFor(async () => (await deadLetters(redis, keys)).length === 1, 'the dead letter');
  await caughtUp(redis, keys, 'market', 'execution');
  await caughtUp(redis, keys, 'market', 'portfolio');
  t.deepEqual(
    handled.map((e) => (e.data as { price: number }).price),
    [1, 3],
  );
  // Up to maxDeliveries calls (a delivery the consumer reclaimed under load counts without a call).
  const failedCalls = calls.get(original.id) ?? 0;
  t.true(failedCalls >= 1 && failedCalls <= 3, `${failedCalls} calls`);
  t.is(others.length, 3);

  // list and show: the dead letter with its group, deliveries, reason, error and the decoded envelope.
  const list = await runQt(['--json', 'dlq', 'list'], env);
  t.is(list.code, 0, list.stderr);
  const listed = DlqListOutputSchema.parse(JSON.parse(list.stdout));
  t.is(listed.total, 1);
  const letter = listed.letters[0];
  t.like(letter, {
    topic: 'market',
    entryId: published[1]?.entryId,
    group: 'execution',
    consumer: 'ex-1',
    deliveries: 3,
    reason: 'max_deliveries',
    error: `venue down (call ${failedCalls})`,
    invalid: null,
    replays: null,
  });
  t.is(letter?.envelope?.id, original.id);
  const dlqId = letter?.id as string;
  const show = await runQt(['--json', 'dlq', 'show', dlqId], env);
  t.is(show.code, 0, show.stderr);
  t.deepEqual({ ...DlqShowOutputSchema.parse(JSON.parse(show.stdout)), ageMs: null }, { ...letter, ageMs: null });

  // The plan changes nothing.
  const plan = await runQt(['--json', 'dlq', 'replay', dlqId, '--reason', 'venue is back'], env);
  t.is(plan.code, 0, plan.stderr);
  const planned = ReplayOutputSchema.parse(JSON.parse(plan.stdout));
  t.like(planned, { executed: false, replayed: 0, refused: 0, producer: cliProducerId(), operator: cliOperator() });
  t.like(planned.items[0], { action: 'replay', stream, group: 'execution', previousReplays: 0, replayEntryId: null });
  t.is(await redis.xlen(stream), 3);
  t.is(await redis.exists(keys.dlqReplays(), keys.stream('audit')), 0);

  const run = await runQt(['--json', 'dlq', 'replay', dlqId, '--reason', 'venue is back', '--execute'], env);
  t.is(run.code, 0, run.stderr);
  const done = ReplayOutputSchema.parse(JSON.parse(run.stdout));
  t.like(done, { executed: true, replayed: 1, refused: 0 });
  const replayId = done.items[0]?.replayEntryId as string;
  t.truthy(replayId);
  await waitFor(() => handled.length === 3, 'the replay handled');
  await caughtUp(redis, keys, 'market', 'execution');
  await caughtUp(redis, keys, 'market', 'portfolio');
  const again = handled[2] as Envelope;
  t.is(calls.get(original.id), failedCalls + 1, 'the handler saw it exactly once more');
  // The original envelope, under the CLI's producer and seq, marked for execution only.
  t.like(again, {
    id: original.id,
    type: 'market.tick',
    source: 'marketdata',
    time: original.time,
    correlationId: original.correlationId,
    producer: cliProducerId(),
    seq: 1,
    replayOf: { group: 'execution', dlqEntryId: dlqId, entryId: published[1]?.entryId as string },
  });
  t.deepEqual(again.data, original.data);
  t.is(others.length, 3, 'portfolio acked the replay without handling it');
  t.is(await pendingCount(redis, stream, 'portfolio'), 0);

  // A second replay is refused, with the reason, and appends nothing.
  const second = await runQt(['dlq', 'replay', dlqId, '--reason', 'once more', '--execute'], env);
  t.is(second.code, 1);
  t.regex(
    second.stderr,
    new RegExp(`^qt: 1 of 1 dead letters were refused; ${dlqId}: already replayed once .*--force`),
  );
  t.is(await redis.xlen(stream), 4);

  // --force replays it again: the handler once more, portfolio still never.
  const forced = await runQt(['--json', 'dlq', 'replay', dlqId, '--reason', 'once more', '--execute', '--force'], env);
  t.is(forced.code, 0, forced.stderr);
  const forcedOut = ReplayOutputSchema.parse(JSON.parse(forced.stdout));
  t.like(forcedOut.items[0], { action: 'replay', previousReplays: 1, seq: 2 });
  await waitFor(() => handled.length === 4, 'the forced replay handled');
  await caughtUp(redis, keys, 'market', 'portfolio');
  t.is(calls.get(original.id), failedCalls + 2);
  t.is(others.length, 3);

  // list shows the replays; every executed replay is in the audit trail.
  const after = DlqListOutputSchema.parse(JSON.parse((await runQt(['--json', 'dlq', 'list'], env)).stdout));
  t.like(after.letters[0]?.replays, { count: 2, state: 'appended', seq: 2, operator: cliOperator() });
  const audit = await auditEvents(redis, keys);
  t.deepEqual(
    audit.map((e) => [e.data.command, e.data.result, e.data.reason]),
    [
      ['dlq replay', 'ok', 'venue is back'],
      ['dlq replay', 'refused', 'once more'],
      ['dlq replay', 'ok', 'once more'],
    ],
  );
  for (const e of audit) {
    t.is(e.data.operator, cliOperator());
    t.true(e.data.operator.endsWith(`@${hostname()}`));
    t.is(e.producer, cliProducerId());
    t.is(e.source, 'cli');
  }
  t.like(audit[0]?.data.args, { ids: [dlqId], all: false, force: false, execute: true });
  t.like(audit[0]?.data.details, { replayedCount: 1, refusedCount: 0 });
  const [first, refusal] = audit as [Envelope<'audit.command_executed'>, Envelope<'audit.command_executed'>];
  t.like((first.data.details.replayed as unknown[])[0], { dlqEntryId: dlqId, replayEntryId: replayId, seq: 1 });
  t.like((refusal.data.details.refused as unknown[])[0], { dlqEntryId: dlqId });
  t.deepEqual(
    audit.map((e) => e.seq),
    [1, 2, 3],
  );
});

test('a malformed entry is refused with its reason: it cannot be replayed as an event, and nothing is appended', async (t) => {
  const redis = server.client();
  const prefix = uniquePrefix('cli-dlq-malformed');
  const keys = createKeys(prefix);
  const env = { REDIS_URL: server.url, QT_KEY_PREFIX: prefix };
  const stream = keys.stream('market');
  const seen: Envelope[] = [];
  const consumer = new StreamConsumer({
    redis,
    keys,
    topic: 'market',
    group: 'execution',
    consumer: 'ex-1',
    blockMs: 50,
    handler: (e) => void seen.push(e),
  });
  await consumer.start();
  t.teardown(() => consumer.close());
  const bad = await redis.xadd(stream, '*', 'type', 'market.tick', 'env', '{not json');
  await waitFor(async () => (await deadLetters(redis, keys)).length === 1, 'the dead letter');

  const listed = DlqListOutputSchema.parse(JSON.parse((await runQt(['--json', 'dlq', 'list'], env)).stdout));
  const letter = listed.letters[0];
  t.like(letter, { entryId: bad, reason: 'invalid', envelope: null, raw: ['type', 'market.tick', 'env', '{not json'] });
  t.regex(letter?.invalid ?? '', /"env" is not JSON/);
  const dlqId = letter?.id as string;

  const table = await runQt(['dlq', 'show', dlqId], env);
  t.is(table.code, 0, table.stderr);
  t.regex(table.stdout, /^reason +invalid$/m);
  t.regex(table.stdout, /^envelope +not valid: "env" is not JSON/m);

  for (const args of [[], ['--execute']]) {
    const res = await runQt(['--json', 'dlq', 'replay', dlqId, '--reason', 'try it', ...args], env);
    t.is(res.code, 1);
    const out = ReplayOutputSchema.parse(JSON.parse(res.stdout));
    t.like(out.items[0], { action: 'refuse', stream: null, type: null, replayEntryId: null });
    t.regex(out.items[0]?.why ?? '', /not a valid envelope \("env" is not JSON.*\): it cannot be replayed as an event/);
    t.regex(res.stderr, /^qt: 1 of 1 dead letters (would be|were) refused; .*not a valid envelope/);
  }
  t.is(await redis.xlen(stream), 1, 'nothing appended');
  t.is(await redis.exists(keys.dlqReplays()), 0, 'no replay recorded');
  t.is(seen.length, 0);
  const audit = await auditEvents(redis, keys);
  t.is(audit.length, 1, 'the plan is not audited; the refused --execute is');
  t.like(audit[0]?.data, { command: 'dlq replay', result: 'refused', reason: 'try it' });

  // --all selects it too, and refuses it the same way.
  await consumer.close();
  await redis.xgroup('DESTROY', stream, 'execution');
  const all = await runQt(['--json', 'dlq', 'replay', '--all', '--reason', 'sweep'], env);
  t.is(all.code, 1);
  t.is(ReplayOutputSchema.parse(JSON.parse(all.stdout)).refused, 1);
});

test('--all replays every dead letter not replayed yet, narrowed by --topic and --group; unknown ids are exit 5', async (t) => {
  const redis = server.client();
  const prefix = uniquePrefix('cli-dlq-all');
  const keys = createKeys(prefix);
  const env = { REDIS_URL: server.url, QT_KEY_PREFIX: prefix };
  const fails = new Set<number>([2, 4]);
  const handled: number[] = [];
  const consumer = new StreamConsumer({
    redis,
    keys,
    topic: 'market',
    group: 'execution',
    consumer: 'ex-1',
    blockMs: 50,
    retryDelayMs: 1,
    maxDeliveries: 1,
    handler: (e) => {
      const price = (e.data as { price: number }).price;
      if (fails.has(price) && e.replayOf === undefined) throw new Error('boom');
      handled.push(price);
    },
  });
  await consumer.start();
  t.teardown(() => consumer.close());
  const publisher = new RedisPublisher({ redis, keys, producer: 'vm.marketdata', source: 'marketdata' });
  t.teardown(() => publisher.close());
  for (const price of [1, 2, 3, 4]) await publisher.publish('market.tick', tick(price));
  await waitFor(async () => (await deadLetters(redis, keys)).length === 2, 'two dead letters');

  const none = await runQt(['--json', 'dlq', 'replay', '--all', '--topic', 'order', '--reason', 'r'], env);
  t.is(none.code, 0, none.stderr);
  t.is(ReplayOutputSchema.parse(JSON.parse(none.stdout)).items.length, 0);

  const all = await runQt(
    ['--json', 'dlq', 'replay', '--all', '--group', 'execution', '--reason', 'r', '--execute'],
    env,
  );
  t.is(all.code, 0, all.stderr);
  const out = ReplayOutputSchema.parse(JSON.parse(all.stdout));
  t.is(out.replayed, 2);
  t.deepEqual(
    out.items.map((i) => i.seq),
    [1, 2],
  );
  await waitFor(() => handled.length === 4, 'both replays handled');
  t.deepEqual(handled, [1, 3, 2, 4]);

  const again = await runQt(['--json', 'dlq', 'replay', '--all', '--reason', 'r', '--execute'], env);
  t.is(again.code, 0, again.stderr);
  t.like(ReplayOutputSchema.parse(JSON.parse(again.stdout)), { replayed: 0, alreadyReplayed: 2 });

  // A group that is gone would handle nothing: refused, even with --force.
  await consumer.close();
  await redis.xgroup('DESTROY', keys.stream('market'), 'execution');
  const gone = await runQt(
    ['--json', 'dlq', 'replay', out.items[0]?.dlqEntryId as string, '--reason', 'r', '--force'],
    env,
  );
  t.is(gone.code, 1);
  t.regex(
    ReplayOutputSchema.parse(JSON.parse(gone.stdout)).items[0]?.why ?? '',
    /^group execution no longer exists on topic market/,
  );

  const missing = await runQt(['dlq', 'replay', '1-0', '--reason', 'r'], env);
  t.is(missing.code, 5);
  t.regex(missing.stderr, /^qt: no dead letter 1-0 in /);
});

test('bad usage is exit 2 and changes nothing: no --reason, an empty one, IDs with --all, neither', async (t) => {
  const redis = server.client();
  const prefix = uniquePrefix('cli-dlq-usage');
  const env = { REDIS_URL: server.url, QT_KEY_PREFIX: prefix };
  const cases = [
    ['dlq', 'replay', '1-0', '--execute'],
    ['dlq', 'replay', '--all', '--execute'],
    ['dlq', 'replay', '1-0', '--reason', '  ', '--execute'],
    ['dlq', 'replay', '1-0', '--all', '--reason', 'r'],
    ['dlq', 'replay', '--reason', 'r'],
    ['dlq', 'replay', 'yesterday', '--reason', 'r'],
    ['dlq', 'purge', '--topic', 'market', '--execute'],
    ['dlq', 'purge', '--reason', 'r', '--execute'],
    ['dlq', 'purge', '--older-than', 'soon', '--reason', 'r'],
    ['dlq', 'list', '--count', '0'],
  ];
  for (const args of cases) {
    const res = await runQt(args, env);
    t.is(res.code, 2, `${args.join(' ')}: ${res.stderr}`);
    t.not(res.stderr, '', args.join(' '));
  }
  t.regex((await runQt(cases[0] as string[], env)).stderr, /required option '--reason <text>' not specified/);
  t.deepEqual(await redis.keys(`${prefix}:*`), []);
});

test('concurrent replays under one producer id each get their own seqs (the append script orders them)', async (t) => {
  const redis = server.client();
  const prefix = uniquePrefix('cli-dlq-concurrent');
  const keys = createKeys(prefix);
  const env = { REDIS_URL: server.url, QT_KEY_PREFIX: prefix };
  await redis.xgroup('CREATE', keys.stream('market'), 'execution', '$', 'MKSTREAM');
  const ids: string[] = [];
  for (let i = 1; i <= 4; i++) {
    const event = createEnvelope({
      type: 'market.tick',
      data: tick(i),
      source: 'marketdata',
      producer: 'vm.md',
      seq: i,
    });
    ids.push(
      await writeDeadLetter(redis, keys, {
        topic: 'market',
        entryId: `${1_700_000_000_000 + i}-0`,
        group: 'execution',
        consumer: 'ex-1',
        deliveries: 5,
        reason: 'max_deliveries',
        error: 'boom',
        fields: encodeEntry(event),
      }),
    );
  }
  const runs = await Promise.all(
    ids.map((id) => runQt(['--json', 'dlq', 'replay', id, '--reason', 'parallel', '--execute'], env)),
  );
  for (const r of runs) t.is(r.code, 0, r.stderr);
  const seqs = runs.map((r) => ReplayOutputSchema.parse(JSON.parse(r.stdout)).items[0]?.seq);
  t.deepEqual([...seqs].sort(), [1, 2, 3, 4]);
  const appended = (await redis.xrange(keys.stream('market'), '-', '+')).map(([, f]) => decodeEntry(f));
  t.deepEqual(
    appended.map((e) => e.seq),
    [1, 2, 3, 4],
    'in seq order on the stream',
  );
  t.true(appended.every((e) => e.producer === cliProducerId()));
});
