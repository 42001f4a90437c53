import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import pg from 'pg';
import type { EventData } from '../../../src/events/catalog.js';
import type { Envelope } from '../../../src/events/envelope.js';
import { decodeEntry } from '../../../src/streams/codec.js';
import { createKeys } from '../../../src/streams/keys.js';
import { RedisPublisher } from '../../../src/streams/publisher.js';
import { waitFor } from '../../support/bus.js';
import { type StartedMain, startMain } from '../../support/main-process.js';
import { pgRig } from '../../support/pg-rig.js';

const PASSWORD = 'catch-up-pw-never-shown';
/** One approval every this long while the test posts them. */
const APPROVAL_EVERY_MS = 100;

interface TradeRow {
  venue: string;
  trade_id: string;
  client_order_id: string;
  quantity: number;
  price: number;
  fee: number;
}

test('PostgreSQL SIGKILLed while fills flow, main SIGKILLed with a backlog: the trades table ends exactly the stream', async (t) => {
  t.timeout(240_000);
  const { redisServer, pgServer, dataDir, database, databaseUrl, prefix } = await pgRig(t, 'catch-up', PASSWORD);
  const keys = createKeys(prefix);
  const redis = redisServer.client();
  const env = {
    REDIS_URL: redisServer.url,
    QT_DATA_DIR: dataDir,
    QT_KEY_PREFIX: prefix,
    QT_TRADE_STORE: 'postgres',
    DATABASE_URL: databaseUrl,
    QT_PG_CONNECT_TIMEOUT_MS: '500',
    QT_PG_RETRY_MAX_MS: '1000',
    QT_TAKE_PROFIT: '0',
    QT_STOP_LOSS: '0',
    QT_PAPER_SLIPPAGE_BPS: '0',
  };
  const outputs: StartedMain[] = [];
  const start = async () => {
    const started = await startMain(t, ['--actors=execution'], env);
    outputs.push(started);
    return started;
  };

  // The market and risk-safety, played by the test: one price, then an approval every 100 ms (buy, sell, ...).
  const upstream = new RedisPublisher({ redis, keys, producer: 'test-risk', source: 'risk-safety' });
  t.teardown(() => upstream.close());
  await upstream.publish('market.tick', { symbol: 'BTCUSDT', price: 50_000, volume: 1 });
  let posted = 0;
  let posting = true;
  const poster = (async () => {
    while (posting) {
      posted++;
      const approval: EventData<'order.approved'> = {
        orderId: `ord-${posted}`,
        symbol: 'BTCUSDT',
        side: posted % 2 === 1 ? 'buy' : 'sell',
        type: 'market',
        quantity: 0.001,
        reduceOnly: false,
        notional: 50,
      };
      await upstream.publish('order.approved', approval);
      await sleep(APPROVAL_EVERY_MS);
    }
  })();
  t.teardown(async () => {
    posting = false;
    await poster;
  });

  const events = async (): Promise<Envelope[]> =>
    (await redis.xrange(keys.stream('order'), '-', '+')).map(([, f]) => decodeEntry(f));
  const filledCount = async () => (await events()).filter((e) => e.type === 'order.filled').length;
  const query = async <R extends pg.QueryResultRow>(sql: string): Promise<R[]> => {
    const client = new pg.Client({ connectionString: database });
    await client.connect();
    try {
      return (await client.query<R>(sql)).rows;
    } finally {
      await client.end();
    }
  };
  const tradeCount = async () => Number((await query<{ n: string }>('SELECT count(*) AS n FROM trades'))[0]?.n);

  let main = await start();
  const base = () => `http://127.0.0.1:${main.port(8002)}`;
  await waitFor(async () => (await tradeCount().catch(() => 0)) >= 20, '20 trades in the table', 60_000);

  // PostgreSQL goes away; fills do not stop.
  await pgServer.kill();
  const filledAtKill = await filledCount();
  await waitFor(async () => (await filledCount()) >= filledAtKill + 20, '20 more fills with PostgreSQL down', 30_000);
  const health = await fetch(`${base()}/health`);
  t.is(health.status, 200);
  t.like(await health.json(), {
    status: 'DEGRADED',
    dependencies: { postgres: { status: 'DOWN', critical: false } },
  });
  t.is((await fetch(`${base()}/trades`)).status, 503);

  // execution itself dies with a backlog; it comes back while PostgreSQL is still down, and fills on.
  main.run.child.kill('SIGKILL');
  await main.run.exit;
  const filledAtCrash = await filledCount();
  main = await start();
  t.true(main.run.out().includes('trade store unreachable at start'), 'started without its store');
  await waitFor(async () => (await filledCount()) >= filledAtCrash + 10, '10 more fills after the restart', 30_000);
  const filledWhileDown = (await filledCount()) - filledAtKill;

  // PostgreSQL returns; the posting stops, so the stream has a last fill to catch up to.
  posting = false;
  await poster;
  const restartedAt = Date.now();
  await pgServer.restart();
  const pgBackAt = Date.now();
  await waitFor(
    async () => {
      const all = await events();
      const settled = all.filter((e) => ['order.filled', 'order.failed', 'order.cancelled'].includes(e.type)).length;
      return settled === posted;
    },
    'every approval settled',
    30_000,
  );
  const fillsInStream = (await events())
    .filter((e): e is Envelope<'order.reported'> => e.type === 'order.reported')
    .flatMap((e) => e.data.fills.map((f) => ({ ...f, orderId: e.data.orderId })));
  await waitFor(async () => (await tradeCount()) === fillsInStream.length, 'the table caught up', 60_000);
  const caughtUpMs = Date.now() - pgBackAt;
  t.log(
    `${posted} approvals, ${fillsInStream.length} fills; ${filledWhileDown} filled while PostgreSQL was down ` +
      `(main SIGKILLed and restarted meanwhile); caught up ${caughtUpMs} ms after PostgreSQL answered ` +
      `(${pgBackAt - restartedAt} ms to restart it)`,
  );

  main.run.child.kill('SIGTERM');
  t.is(await main.run.exit, 0);

  // Exactly the stream: every fill once, with its values; nothing else.
  const rows = await query<TradeRow>(
    'SELECT venue, trade_id, client_order_id, quantity, price, fee FROM trades ORDER BY trade_id',
  );
  const expected = fillsInStream
    .map((f) => ({ venue: 'paper', trade_id: f.tradeId, client_order_id: f.orderId, ...pick(f) }))
    .sort((a, b) => (a.trade_id < b.trade_id ? -1 : a.trade_id > b.trade_id ? 1 : 0));
  t.is(new Set(expected.map((e) => e.trade_id)).size, expected.length, 'the stream has each fill once');
  t.deepEqual(rows, expected);
  const filled = (await events()).filter((e): e is Envelope<'order.filled'> => e.type === 'order.filled');
  t.is(filled.length, rows.length, 'one trade per order.filled (paper fills in one go)');
  t.true(filledWhileDown >= 30, `${filledWhileDown} fills while down`);

  // Every order row holds its last answer.
  const orders = await query<{ client_order_id: string; status: string }>('SELECT client_order_id, status FROM orders');
  const lastStatus = new Map<string, string>();
  for (const e of await events()) if (e.type === 'order.reported') lastStatus.set(e.data.orderId, e.data.status);
  t.deepEqual(new Map(orders.map((o) => [o.client_order_id, o.status])), lastStatus);

  // The password is in no output and no stream.
  for (const started of outputs) t.false(started.run.out().includes(PASSWORD), 'the password is in an output');
  for (const topic of ['order', 'market', 'dlq']) {
    const stream = topic === 'dlq' ? keys.dlq() : keys.stream(topic);
    const raw = JSON.stringify(await redis.xrange(stream, '-', '+'));
    t.false(raw.includes(PASSWORD), `the password is in the ${topic} stream`);
  }
});

function pick(f: { quantity: number; price: number; fee: number }) {
  return { quantity: f.quantity, price: f.price, fee: f.fee };
}
