/**
 * `qt trace CORRELATION_ID`: a hand-built chain across topics and the dlq
 * printed as its causation tree (fixed ids, so the table is compared as a
 * whole), and one real flash-crash request through real `main` processes:
 * POST /scenario/flash-crash on marketdata with X-Correlation-ID, then the
 * crash ticks (marketdata), the ESS trip they cause (risk-safety) and the
 * stop-loss exit they trigger (execution) all in one trace, each under the
 * event that caused it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { TraceOutputSchema } from '../../src/cli/trace.js';
import { decodeEntry } from '../../src/streams/codec.js';
import { createKeys } from '../../src/streams/keys.js';
import { RedisPublisher } from '../../src/streams/publisher.js';
import { uniquePrefix, waitFor } from '../support/bus.js';
import { runQt } from '../support/cli.js';
import { startMain } from '../support/main-process.js';
import { type RedisServer, startRedis } from '../support/redis-fixture.js';
import { addFixed, fixedEntryId, fixedEnvelope, fixedUuid } from './fixed-entries.js';

let server: RedisServer;
test.before(async () => {
  server = await startRedis({ name: 'cli-trace' });
});
test.after.always(() => server?.stop());

const order = { orderId: 'sl-btcusdt-1', symbol: 'BTCUSDT', side: 'sell' } as const;

test('a chain across topics and the dlq, as its causation tree at 120 columns', async (t) => {
  const redis = server.client();
  const prefix = uniquePrefix('cli-trace-tree');
  const keys = createKeys(prefix);
  const env = { REDIS_URL: server.url, QT_KEY_PREFIX: prefix, QT_CLI_WIDTH: '120' };
  const corr = { correlationId: 'req-9' };
  await addFixed(redis, keys.stream('market'), [
    { n: 1, type: 'market.tick', data: { symbol: 'BTCUSDT', price: 45_000, volume: 5 }, producer: 'md', ...corr },
    { n: 8, type: 'market.tick', data: { symbol: 'BTCUSDT', price: 45_100, volume: 1 }, producer: 'md' },
  ]);
  await addFixed(redis, keys.stream('ess'), [
    {
      n: 2,
      type: 'ess.tripped',
      data: { trigger: 'flash_crash', reason: 'BTCUSDT fell', cooldownUntil: '2023-11-14T22:28:22.000Z' },
      producer: 'vm.ess',
      source: 'risk-safety',
      causationId: fixedUuid(1),
      ...corr,
    },
  ]);
  const filled = {
    n: 4,
    type: 'order.filled',
    data: { ...order, venue: 'paper', venueOrderId: '3', quantity: 0.01, price: 45_000, fee: 0.45, feeAsset: 'USDT' },
    producer: 'vm.execution',
    source: 'execution',
    causationId: fixedUuid(1),
    ...corr,
  };
  await addFixed(redis, keys.stream('order'), [
    {
      n: 3,
      type: 'order.placed',
      data: { ...order, venue: 'paper', venueOrderId: '3', quantity: 0.01 },
      producer: 'vm.execution',
      source: 'execution',
      causationId: fixedUuid(1),
      ...corr,
    },
    filled,
    {
      n: 5,
      type: 'order.cancelled',
      data: { orderId: 'ord-1', symbol: 'ETHUSDT', side: 'buy', reason: 'ESS tripped' },
      producer: 'vm.execution',
      source: 'execution',
      causationId: fixedUuid(2),
      ...corr,
    },
    {
      n: 6,
      type: 'order.rejected',
      data: { orderId: 'ord-2', symbol: 'ETHUSDT', side: 'buy', reason: 'TRADING_HALTED', detail: 'halted' },
      producer: 'vm.pretrade',
      source: 'risk-safety',
      causationId: fixedUuid(99),
      ...corr,
    },
  ]);
  const raw = JSON.stringify(['type', filled.type, 'env', JSON.stringify(fixedEnvelope(filled))]);
  await addFixed(redis, keys.dlq(), [
    {
      n: 7,
      fields: [
        ...['topic', 'order', 'entryId', fixedEntryId(4), 'group', 'portfolio', 'consumer', 'vm'],
        ...['deliveries', '5', 'reason', 'max_deliveries', 'error', 'boom', 'raw', raw, 'time', 'x'],
      ],
    },
  ]);

  const res = await runQt(['trace', 'req-9', '--since', '3000d'], env);
  t.is(res.code, 0, res.stderr);
  t.deepEqual(
    res.stdout.split('\n').map((l) => l.trimEnd()),
    [
      'correlation id req-9: 7 events on 4 streams in the last 3000d',
      'TIME          EVENT                 SOURCE       ENTRY                   DATA',
      '22:13:21.000  market.tick           test         market 1700000001000-0  symbol=BTCUSDT price=45000 volume=5',
      '22:13:22.000  └─ ess.tripped        risk-safety  ess 1700000002000-0     trigger=flash_crash reason="BTCUSDT fell"',
      '                                                                         cooldownUntil=2023-11-14T22:28:22.000Z',
      '22:13:25.000    └─ order.cancelled  execution    order 1700000005000-0   orderId=ord-1 symbol=ETHUSDT side=buy',
      '                                                                         reason="ESS tripped"',
      '22:13:23.000  └─ order.placed       execution    order 1700000003000-0   orderId=sl-btcusdt-1 symbol=BTCUSDT side=sell',
      '                                                                         venue=paper venueOrderId=3 quantity=0.01',
      '22:13:24.000  └─ order.filled       execution    order 1700000004000-0   orderId=sl-btcusdt-1 symbol=BTCUSDT side=sell',
      '                                                                         venue=paper venueOrderId=3 quantity=0.01',
      '                                                                         price=45000 fee=0.45 feeAsset=USDT',
      '22:13:24.000    └─ order.filled     execution    dlq 1700000007000-0     dead letter (max_deliveries in portfolio):',
      '                                                                         boom',
      '22:13:26.000  order.rejected        risk-safety  order 1700000006000-0   orderId=ord-2 symbol=ETHUSDT side=buy',
      '                                                                         reason=TRADING_HALTED detail=halted',
      'order.rejected order 1700000006000-0: its cause 00000099 is not in this trace',
      '',
    ],
  );

  const json = await runQt(['--json', 'trace', 'req-9', '--since', '3000d'], env);
  const out = TraceOutputSchema.parse(JSON.parse(json.stdout));
  t.deepEqual(
    out.events.map((e) => [e.envelope.type, e.depth, e.parent?.entryId ?? null]),
    [
      ['market.tick', 0, null],
      ['ess.tripped', 1, fixedEntryId(1)],
      ['order.cancelled', 2, fixedEntryId(2)],
      ['order.placed', 1, fixedEntryId(1)],
      ['order.filled', 1, fixedEntryId(1)],
      ['order.filled', 2, fixedEntryId(4)],
      ['order.rejected', 0, null],
    ],
  );
  t.like(out.events[5]?.deadLetter, { topic: 'order', group: 'portfolio', reason: 'max_deliveries' });
  t.true(out.streams.every((s) => !s.bounded));

  const bounded = await runQt(['--json', 'trace', 'req-9', '--since', '3000d', '--max-entries', '1'], env);
  const cut = TraceOutputSchema.parse(JSON.parse(bounded.stdout));
  t.like(
    cut.streams.find((s) => s.topic === 'market'),
    { scanned: 1, bounded: true },
    'the newest market entry only (not the chain)',
  );
  const none = await runQt(['trace', 'req-9'], env);
  t.is(none.code, 5, 'the fixed entries are older than the default hour');
  t.regex(none.stderr, /^qt: no event carries correlation id req-9 in the last 1h/);
});

const TOKEN = 'a-trace-admin-token';

test('one flash-crash request through marketdata → risk-safety → execution, in order, with its causation chain', async (t) => {
  const redis = server.client();
  const dataDir = await mkdtemp(join(tmpdir(), 'qt-trace-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const prefix = uniquePrefix('cli-trace-crash');
  const keys = createKeys(prefix);
  const { run, port } = await startMain(t, ['--actors=marketdata,risk-safety,execution'], {
    REDIS_URL: server.url,
    QT_DATA_DIR: dataDir,
    QT_KEY_PREFIX: prefix,
    QT_ADMIN_TOKEN: TOKEN,
    QT_FEED_TICKS_PER_SECOND: '20',
  });
  const md = `http://127.0.0.1:${port(8006)}`;
  const risk = `http://127.0.0.1:${port(8003)}`;
  const orders = async () => (await redis.xrange(keys.stream('order'), '-', '+')).map(([, f]) => decodeEntry(f));
  await waitFor(
    async () => ((await (await fetch(`${md}/feed`)).json()) as { published: number }).published > 60,
    'ticks flowing',
    30_000,
    100,
  );
  // A BTCUSDT position for execution to protect: its stop-loss is what the crash triggers.
  const desk = new RedisPublisher({ redis, keys, producer: 'desk', source: 'risk-safety' });
  t.teardown(() => desk.close());
  await desk.publish('order.approved', {
    orderId: 'ord-desk-1',
    symbol: 'BTCUSDT',
    side: 'buy',
    type: 'market',
    quantity: 0.01,
    reduceOnly: false,
    notional: 600,
  });
  await waitFor(
    async () => (await orders()).some((e) => e.type === 'order.filled' && e.data.orderId === 'ord-desk-1'),
    'the position filled',
    30_000,
    100,
  );

  const correlationId = 'trace-crash-1';
  const crash = await fetch(`${md}/scenario/flash-crash`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${TOKEN}`,
      'content-type': 'application/json',
      'x-correlation-id': correlationId,
    },
    body: JSON.stringify({ symbol: 'BTCUSDT', drop: 0.25 }),
  });
  t.is(crash.status, 202);
  t.is(crash.headers.get('x-correlation-id'), correlationId);
  const essState = async () => ((await (await fetch(`${risk}/ess`)).json()) as { state: string }).state;
  await waitFor(async () => (await essState()) === 'tripped', 'ESS tripped', 30_000, 100);
  await waitFor(
    async () => (await orders()).some((e) => e.type === 'order.filled' && e.data.orderId.startsWith('sl-btcusdt')),
    'the stop-loss exit filled',
    30_000,
    100,
  );
  const res = await runQt(['--json', 'trace', correlationId], { REDIS_URL: server.url, QT_KEY_PREFIX: prefix });
  t.is(res.code, 0, res.stderr);
  const out = TraceOutputSchema.parse(JSON.parse(res.stdout));
  const events = out.events;
  t.true(
    events.every((e) => e.envelope.correlationId === correlationId),
    'only this request',
  );
  const byEntry = new Map(events.map((e) => [`${e.topic} ${e.entryId}`, e]));
  const parentOf = (e: (typeof events)[number]) =>
    e.parent ? byEntry.get(`${e.parent.topic} ${e.parent.entryId}`) : undefined;

  const ticks = events.filter((e) => e.envelope.type === 'market.tick');
  t.true(ticks.length >= 5, `${ticks.length} crash ticks`);
  // marketdata publishes through the process's bus publisher, whose source is `runtime`.
  t.true(
    ticks.every((e) => e.depth === 0 && e.topic === 'market' && e.parent === null),
    'the crash ticks start the chain (marketdata)',
  );
  t.true(
    ticks.every((e) => (e.envelope.data as { symbol: string }).symbol === 'BTCUSDT'),
    'only the crashed symbol',
  );

  const tripped = events.find((e) => e.envelope.type === 'ess.tripped');
  t.truthy(tripped, 'the ESS trip is in the trace');
  t.like(tripped?.envelope, { source: 'risk-safety', data: { trigger: 'flash_crash' } });
  const tripCause = tripped ? parentOf(tripped) : undefined;
  t.is(tripCause?.envelope.type, 'market.tick', 'the trip hangs under the crash tick that caused it');
  t.is(tripped?.envelope.causationId, tripCause?.envelope.id);
  t.true((tripCause?.envelope.time ?? '') <= (tripped?.envelope.time ?? ''), 'cause before effect');

  const exits = events.filter((e) => e.envelope.source === 'execution');
  t.deepEqual(
    [...new Set(exits.map((e) => e.envelope.type))].sort(),
    // order.reported: the venue's answer, published for the trade store with the fill it caused.
    ['order.filled', 'order.placed', 'order.reported'],
    'execution placed and filled the stop-loss exit',
  );
  for (const e of exits) {
    t.regex((e.envelope.data as { orderId: string }).orderId, /^sl-btcusdt-/);
    t.is(parentOf(e)?.envelope.type, 'market.tick', `${e.envelope.type} hangs under the tick that triggered it`);
  }
  const exitCause = exits[0] ? parentOf(exits[0]) : undefined;
  t.true(
    (exitCause?.envelope.time ?? '') < (tripCause?.envelope.time ?? ''),
    'the stop-loss (2 % down) fired on an earlier crash tick than the trip (15 % down)',
  );
  t.deepEqual([...new Set(events.filter((e) => e.topic !== 'market').map((e) => e.envelope.source))].sort(), [
    'execution',
    'risk-safety',
  ]);

  const table = await runQt(['trace', correlationId], {
    REDIS_URL: server.url,
    QT_KEY_PREFIX: prefix,
    QT_CLI_WIDTH: '160',
  });
  t.is(table.code, 0, table.stderr);
  t.regex(table.stdout, /^correlation id trace-crash-1: \d+ events on 3 streams in the last 1h\n/);
  t.regex(table.stdout, /\n\S+ +└─ ess\.tripped +risk-safety /);
  t.regex(table.stdout, /\n\S+ +└─ order\.placed +execution /);
  t.log(table.stdout.split('\n').slice(0, 12).join('\n'));
  run.child.kill('SIGTERM');
  t.is(await run.exit, 0);
});
