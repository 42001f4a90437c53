/**
 * `qt tail` as a child process on real Redis: the table at a fixed width
 * (hand-written entries with fixed ids), NDJSON lines against their schema,
 * entries that are not envelopes, --type / --where / --since / --count, and
 * --follow until SIGINT (exit 0).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import type { Redis } from 'ioredis';
import { TailLineSchema } from '../../src/cli/tail.js';
import { createKeys, type Keys } from '../../src/streams/keys.js';
import { RedisPublisher } from '../../src/streams/publisher.js';
import { uniquePrefix, waitFor } from '../support/bus.js';
import { runQt, spawnQt } from '../support/cli.js';
import { type RedisServer, startRedis } from '../support/redis-fixture.js';
import { addFixed, fixedEntryId, fixedUuid } from './fixed-entries.js';

let server: RedisServer;
test.before(async () => {
  server = await startRedis({ name: 'cli-tail' });
});
test.after.always(() => server?.stop());

interface Rig {
  readonly redis: Redis;
  readonly keys: Keys;
  readonly env: Record<string, string>;
}

function rig(label: string): Rig {
  const prefix = uniquePrefix(label);
  return { redis: server.client(), keys: createKeys(prefix), env: { REDIS_URL: server.url, QT_KEY_PREFIX: prefix } };
}

const order = { orderId: 'ord-BTCUSDT-1', symbol: 'BTCUSDT', side: 'buy' } as const;

/** An approval, its placement and fill (one correlation id), and an entry that is not an envelope. */
async function addOrderFlow(r: Rig): Promise<void> {
  await addFixed(r.redis, r.keys.stream('order'), [
    {
      n: 1,
      type: 'order.approved',
      data: { ...order, type: 'market', quantity: 0.01, reduceOnly: false, notional: 600 },
      producer: 'vm.pretrade',
      seq: 41,
      correlationId: 'req-7',
    },
    {
      n: 2,
      type: 'order.placed',
      data: { ...order, venue: 'paper', venueOrderId: '17', quantity: 0.01 },
      producer: 'vm.execution',
      seq: 9,
      correlationId: 'req-7',
      causationId: fixedUuid(1),
    },
    {
      n: 3,
      type: 'order.filled',
      data: {
        ...order,
        venue: 'paper',
        venueOrderId: '17',
        quantity: 0.01,
        price: 60012.345678,
        fee: 0.6,
        feeAsset: 'USDT',
      },
      producer: 'vm.execution',
      seq: 10,
      correlationId: 'req-7',
      causationId: fixedUuid(1),
    },
    { n: 4, fields: ['type', 'order.filled', 'env', '{"id":1}'] },
  ]);
}

test('the table at 80 columns: id, time, type, producer#seq, short correlation id, data; a bad entry says why', async (t) => {
  const r = rig('cli-tail-table');
  await addOrderFlow(r);
  const res = await runQt(['tail', 'order', '--count', '3'], { ...r.env, QT_CLI_WIDTH: '80' });
  t.is(res.code, 0, res.stderr);
  const lines = res.stdout.split('\n').map((l) => l.trimEnd());
  t.deepEqual(lines, [
    'ID               TIME      TYPE          PRODUCER#SEQ   CORR ID  DATA',
    '1700000002000-0  22:13:22  order.placed  vm.            req-7    orderId=ord-',
    '                                         execution#9             BTCUSDT-1',
    '                                                                 symbol=BTCUSD',
    '                                                                 T side=buy',
    '                                                                 venue=paper',
    '                                                                 venueOrderId=',
    '                                                                 17',
    '                                                                 quantity=0.01',
    '1700000003000-0  22:13:23  order.filled  vm.            req-7    orderId=ord-',
    '                                         execution#10            BTCUSDT-1',
    '                                                                 symbol=BTCUSD',
    '                                                                 T side=buy',
    '                                                                 venue=paper',
    '                                                                 venueOrderId=',
    '                                                                 17',
    '                                                                 quantity=0.01',
    '                                                                 price=60012.',
    '                                                                 346 fee=0.6',
    '                                                                 feeAsse…',
    '1700000004000-0  22:13:24  order.filled  -              -        undecodable:',
    '                                                                 invalid',
    '                                                                 envelope: ✖',
    '                                                                 Invalid',
    '                                                                 input:',
    '                                                                 expected',
    '                                                                 string,',
    '                                                                 receive…',
    '',
  ]);
  t.true(
    lines.every((l) => l.length <= 80),
    'fits the width',
  );
  const wide = await runQt(['tail', 'order'], { ...r.env, QT_CLI_WIDTH: '200' });
  t.is(
    wide.stdout.split('\n')[1]?.trimEnd(),
    [
      '1700000001000-0  22:13:21  order.approved  vm.pretrade#41   req-7    ',
      'orderId=ord-BTCUSDT-1 symbol=BTCUSDT side=buy type=market quantity=0.01 reduceOnly=false notional=600',
    ].join(''),
  );
});

test('--json is NDJSON: one line per entry, oldest first, each valid against TailLineSchema', async (t) => {
  const r = rig('cli-tail-json');
  await addOrderFlow(r);
  const res = await runQt(['--json', 'tail', 'order'], r.env);
  t.is(res.code, 0, res.stderr);
  const lines = res.stdout.trimEnd().split('\n');
  t.is(lines.length, 4);
  const parsed = lines.map((l) => TailLineSchema.parse(JSON.parse(l)));
  t.deepEqual(
    parsed.map((p) => p.id),
    [1, 2, 3, 4].map(fixedEntryId),
  );
  const [first, , , bad] = parsed;
  t.true(first !== undefined && 'envelope' in first && first.envelope.type === 'order.approved');
  t.true(bad !== undefined && 'error' in bad && /invalid envelope/.test(bad.error) && bad.type === 'order.filled');
});

test('--type and --where (=, !=, numbers) select; --count keeps the newest', async (t) => {
  const r = rig('cli-tail-filter');
  await addOrderFlow(r);
  const publisher = new RedisPublisher({ redis: r.redis, keys: r.keys, producer: 'feed', source: 'marketdata' });
  t.teardown(() => publisher.close());
  for (let i = 0; i < 12; i++) {
    await publisher.publish('market.tick', { symbol: i % 3 === 0 ? 'BTCUSDT' : 'ETHUSDT', price: 100 + i, volume: 1 });
  }
  const ticks = async (...args: string[]) => {
    const res = await runQt(['--json', 'tail', 'market', ...args], r.env);
    t.is(res.code, 0, res.stderr);
    return res.stdout
      .trimEnd()
      .split('\n')
      .filter(Boolean)
      .map((l) => TailLineSchema.parse(JSON.parse(l)))
      .map((l) => ('envelope' in l ? (l.envelope.data as { symbol: string; price: number }) : undefined));
  };
  t.deepEqual(
    (await ticks('--where', 'data.symbol=BTCUSDT')).map((d) => d?.price),
    [100, 103, 106, 109],
  );
  t.deepEqual(
    (await ticks('--where', 'data.symbol=BTCUSDT', '--count', '2')).map((d) => d?.price),
    [106, 109],
    'the newest two, oldest first',
  );
  t.deepEqual(
    (await ticks('--where', 'data.symbol!=BTCUSDT', '--where', 'data.price=110')).map((d) => d?.price),
    [110],
  );
  t.deepEqual(
    (await ticks('--count', '3')).map((d) => d?.price),
    [109, 110, 111],
  );
  t.deepEqual(await ticks('--type', 'market.candle'), []);

  const orders = await runQt(['--json', 'tail', 'order', '--type', 'order.placed', '--type', 'order.approved'], r.env);
  t.deepEqual(
    orders.stdout
      .trimEnd()
      .split('\n')
      .map((l) => TailLineSchema.parse(JSON.parse(l)).id),
    [fixedEntryId(1), fixedEntryId(2)],
  );
  const none = await runQt(['tail', 'market', '--where', 'data.symbol=SOLUSDT'], r.env);
  t.is(none.code, 0);
  t.is(none.stdout.trim(), 'no matching entries on market (12 looked at)');
});

test('--since takes entries by their id time: the old fixed ones are left out', async (t) => {
  const r = rig('cli-tail-since');
  await addOrderFlow(r); // 2023
  const publisher = new RedisPublisher({ redis: r.redis, keys: r.keys, producer: 'vm.execution', source: 'execution' });
  t.teardown(() => publisher.close());
  const fresh = await publisher.publish('order.cancelled', { ...order, reason: 'test' });
  const since = await runQt(['--json', 'tail', 'order', '--since', '10m'], r.env);
  t.is(since.code, 0, since.stderr);
  t.deepEqual(
    since.stdout
      .trimEnd()
      .split('\n')
      .map((l) => TailLineSchema.parse(JSON.parse(l)).id),
    [fresh.entryId],
  );
  const all = await runQt(['--json', 'tail', 'order', '--since', '3000d'], r.env);
  t.is(all.stdout.trimEnd().split('\n').length, 5);
});

test('--follow prints the backlog, then each new entry as it lands, and exits 0 on SIGINT', async (t) => {
  const r = rig('cli-tail-follow');
  const publisher = new RedisPublisher({ redis: r.redis, keys: r.keys, producer: 'feed', source: 'marketdata' });
  t.teardown(() => publisher.close());
  await publisher.publish('market.tick', { symbol: 'BTCUSDT', price: 1, volume: 1 });
  const json = spawnQt(['--json', 'tail', 'market', '--follow', '--where', 'data.symbol=BTCUSDT'], r.env);
  const table = spawnQt(['tail', 'market', '--follow'], { ...r.env, QT_CLI_WIDTH: '120' });
  t.teardown(() => {
    json.child.kill('SIGKILL');
    table.child.kill('SIGKILL');
  });
  await waitFor(() => json.stdout().includes('"price":1'), 'the backlog line', 20_000, 20);
  await waitFor(() => table.stdout().includes('price=1 '), 'the backlog row', 20_000, 20);
  for (let i = 2; i <= 4; i++) {
    await publisher.publish('market.tick', { symbol: 'BTCUSDT', price: i, volume: 1 });
    await publisher.publish('market.tick', { symbol: 'ETHUSDT', price: i, volume: 1 });
    await sleep(50);
  }
  await waitFor(() => json.stdout().trimEnd().split('\n').length >= 4, 'three followed lines', 10_000, 20);
  await waitFor(() => table.stdout().includes('symbol=ETHUSDT price=4 '), 'the last followed row', 10_000, 20);
  json.child.kill('SIGINT');
  table.child.kill('SIGINT');
  const [j, tb] = await Promise.all([json.result, table.result]);
  t.is(j.code, 0, j.stderr);
  t.is(tb.code, 0, tb.stderr);
  const prices = j.stdout
    .trimEnd()
    .split('\n')
    .map((l) => TailLineSchema.parse(JSON.parse(l)))
    .map((l) => ('envelope' in l ? (l.envelope.data as { price: number }).price : undefined));
  t.deepEqual(prices, [1, 2, 3, 4], 'each BTCUSDT tick once, in order, no ETHUSDT');
  const rows = tb.stdout.split('\n').filter((l) => l.trim() !== '');
  t.is(rows.filter((l) => l.startsWith('ID ')).length, 1, 'one header');
  t.is(rows.length, 1 + 7, 'a row per entry');
  const dataAt = rows[0]?.indexOf('DATA');
  t.true(
    rows.slice(1).every((l) => l.indexOf('symbol=') === dataAt),
    'batches printed one after another line up',
  );
});
