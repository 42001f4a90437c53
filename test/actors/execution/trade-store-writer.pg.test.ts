/**
 * The trade-store writer (src/actors/execution/trade-store-writer.ts) on a real Redis and a real
 * PostgreSQL of the test's own: every `order.reported` of the `order` stream recorded once (other order
 * events skipped), acked only once written; with PostgreSQL SIGKILLed while answers keep arriving
 * nothing is acked, the group holds them, and after the restart the table has every trade exactly once;
 * a writer stopped while the store is down leaves the rest in Redis for the next; a row the store refuses
 * goes to the dlq after three attempts and the writer goes on; a clean stop records what the stream holds.
 */
import test, { type ExecutionContext } from 'ava';
import pg from 'pg';
import { Registry } from 'prom-client';
import { TRADE_STORE_GROUP, TradeStoreWriter } from '../../../src/actors/execution/trade-store-writer.js';
import type { EventData } from '../../../src/events/catalog.js';
import { PostgresTradeStore } from '../../../src/exchange/pg-trade-store.js';
import type { TradeStore } from '../../../src/exchange/trade-store.js';
import { decodeEntry } from '../../../src/streams/codec.js';
import type { Keys } from '../../../src/streams/keys.js';
import { RedisPublisher } from '../../../src/streams/publisher.js';
import { deadLetters, pendingCount, testKeys, waitFor } from '../../support/bus.js';
import { type PgServer, startPostgres } from '../../support/pg-fixture.js';
import { type RedisServer, startRedis } from '../../support/redis-fixture.js';

let redisServer: RedisServer;
let pgServer: PgServer;
let databases = 0;

test.before(async () => {
  redisServer = await startRedis({ name: 'writer' });
  pgServer = await startPostgres({ name: 'writer' });
});
test.after.always(async () => {
  await redisServer?.stop();
  await pgServer?.stop();
});

const FAST = { baseMs: 50, maxMs: 400 };

function storeAt(url: string): PostgresTradeStore {
  return new PostgresTradeStore({
    databaseUrl: url,
    poolMax: 2,
    connectTimeoutMs: 300,
    idleTimeoutMs: 30_000,
    queryTimeoutMs: 5_000,
  });
}

function reported(n: number, overrides: Partial<EventData<'order.reported'>> = {}): EventData<'order.reported'> {
  const quantity = 0.001 * n;
  return {
    orderId: `ord-${n}`,
    symbol: 'BTCUSDT',
    side: n % 2 ? 'buy' : 'sell',
    venue: 'paper',
    venueOrderId: String(n),
    type: 'market',
    status: 'filled',
    quantity,
    executedQuantity: quantity,
    averagePrice: 50_000 + n,
    fills: [{ tradeId: `t-${n}`, price: 50_000 + n, quantity, fee: quantity * 50, feeAsset: 'USDT' }],
    purpose: 'signal',
    reportedAt: 1_764_590_000_000 + n,
    ...overrides,
  };
}

interface Rig {
  keys: Keys;
  url: string;
  publisher: RedisPublisher;
  writer(store?: TradeStore, drainMs?: number): Promise<TradeStoreWriter>;
  tradeIds(): Promise<string[]>;
  streamTradeIds(): Promise<string[]>;
}

async function rig(t: ExecutionContext, label: string): Promise<Rig> {
  const redis = redisServer.client();
  const keys = testKeys(label);
  const url = await pgServer.createDatabase(`writer_${process.pid}_${++databases}`);
  const publisher = new RedisPublisher({ redis, keys, producer: 'exec', source: 'execution' });
  t.teardown(() => publisher.close());
  return {
    keys,
    url,
    publisher,
    writer: async (store = storeAt(url), drainMs = 5_000) => {
      const writer = new TradeStoreWriter({
        redis,
        keys,
        consumer: 'exec-1',
        store,
        backoff: FAST,
        drainMs,
        blockMs: 100,
        registry: new Registry(),
      });
      t.teardown(async () => {
        await writer.close();
        await store.close();
      });
      await writer.start();
      return writer;
    },
    tradeIds: async () => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const { rows } = await client.query<{ trade_id: string }>('SELECT trade_id FROM trades ORDER BY trade_id');
        return rows.map((r) => r.trade_id);
      } catch (err) {
        if ((err as { code?: string }).code === '42P01') return []; // no table yet
        throw err;
      } finally {
        await client.end();
      }
    },
    streamTradeIds: async () =>
      (await redis.xrange(keys.stream('order'), '-', '+'))
        .map(([, f]) => decodeEntry(f))
        .flatMap((e) => (e.type === 'order.reported' ? e.data.fills.map((f) => f.tradeId) : []))
        .sort(),
  };
}

test.serial(
  'every order.reported is recorded once, other order events are skipped, nothing stays pending',
  async (t) => {
    const r = await rig(t, 'writer-basic');
    for (let n = 1; n <= 20; n++) {
      await r.publisher.publish('order.reported', reported(n));
      await r.publisher.publish('order.filled', {
        orderId: `ord-${n}`,
        symbol: 'BTCUSDT',
        side: 'buy',
        venue: 'paper',
        venueOrderId: String(n),
        quantity: 0.001 * n,
        price: 50_000,
        fee: 0.05,
        feeAsset: 'USDT',
      });
    }
    // The same answer published again (a retried commit is deduplicated; this is a second, equal answer).
    await r.publisher.publish('order.reported', reported(7));
    const writer = await r.writer();
    await waitFor(async () => (await r.tradeIds()).length === 20, '20 trades');
    const redis = redisServer.client();
    await waitFor(
      async () => (await pendingCount(redis, r.keys.stream('order'), TRADE_STORE_GROUP)) === 0,
      'nothing pending',
    );
    t.deepEqual(await r.tradeIds(), await r.streamTradeIds().then((ids) => [...new Set(ids)]));
    t.is(writer.status().written, 21, 'each order.reported written (the repeat changed nothing)');
    t.is(writer.status().failingSince, undefined);
  },
);

test.serial(
  'PostgreSQL SIGKILLed while answers arrive: held in the group, then every trade exactly once',
  async (t) => {
    t.timeout(120_000);
    const r = await rig(t, 'writer-kill');
    const writer = await r.writer();
    const redis = redisServer.client();
    const stream = r.keys.stream('order');
    let n = 0;
    const publishSome = async (count: number) => {
      for (let i = 0; i < count; i++) await r.publisher.publish('order.reported', reported(++n));
    };
    await publishSome(30);
    await waitFor(async () => (await r.tradeIds()).length === 30, 'the first 30 written');

    await pgServer.kill();
    await publishSome(40);
    await waitFor(() => writer.status().failingSince !== undefined, 'the writer sees the store fail');
    // Nothing is lost meanwhile: the group has not acked what it could not write.
    const groups = (await redis.xinfo('GROUPS', stream)) as unknown[][];
    t.is(groups.length, 1);
    const held = (await pendingCount(redis, stream, TRADE_STORE_GROUP)) + Number(groupField(groups[0], 'lag'));
    t.true(held >= 39, `answers held in Redis: ${held}`);

    const restarted = Date.now();
    await pgServer.restart();
    await waitFor(async () => (await r.tradeIds()).length === 70, 'all 70 written after the restart', 60_000);
    t.log(`caught up 40 answers ${Date.now() - restarted} ms after the restart`);
    t.deepEqual(await r.tradeIds(), await r.streamTradeIds());
    await waitFor(async () => (await pendingCount(redis, stream, TRADE_STORE_GROUP)) === 0, 'all acked');
    t.is(writer.status().failingSince, undefined);
  },
);

test.serial(
  'a writer stopped while the store is down leaves the rest in Redis; the next writer records it',
  async (t) => {
    t.timeout(120_000);
    const r = await rig(t, 'writer-restart');
    const first = await r.writer();
    for (let n = 1; n <= 5; n++) await r.publisher.publish('order.reported', reported(n));
    await waitFor(async () => (await r.tradeIds()).length === 5, 'five written');
    await pgServer.kill();
    for (let n = 6; n <= 15; n++) await r.publisher.publish('order.reported', reported(n));
    await waitFor(() => first.status().failingSince !== undefined, 'failing');
    const stopping = Date.now();
    await first.close();
    t.true(Date.now() - stopping < 3_000, 'the stop does not wait for a store that is down');
    await pgServer.restart();
    t.is((await r.tradeIds()).length, 5, 'nothing written after the stop');
    await r.writer();
    await waitFor(async () => (await r.tradeIds()).length === 15, 'the next writer records the rest', 30_000);
    t.deepEqual(await r.tradeIds(), await r.streamTradeIds());
  },
);

test.serial('a row the store refuses goes to the dlq after three attempts; the writer goes on', async (t) => {
  const r = await rig(t, 'writer-dlq');
  const inner = storeAt(r.url);
  let refused = 0;
  const picky: TradeStore = {
    kind: inner.kind,
    open: () => inner.open(),
    record: (order, purpose, now) => {
      if (order.clientOrderId === 'ord-2') {
        refused++;
        return Promise.reject(Object.assign(new Error('invalid input syntax'), { code: '22P02' }));
      }
      return inner.record(order, purpose, now);
    },
    orders: (limit) => inner.orders(limit),
    trades: (limit) => inner.trades(limit),
    counts: () => inner.counts(),
    ping: () => inner.ping(),
    close: () => inner.close(),
  };
  for (let n = 1; n <= 3; n++) await r.publisher.publish('order.reported', reported(n));
  await r.writer(picky);
  await waitFor(async () => (await r.tradeIds()).length === 2, 'the others written');
  t.deepEqual(await r.tradeIds(), ['t-1', 't-3']);
  t.is(refused, 3);
  const letters = await deadLetters(redisServer.client(), r.keys);
  t.is(letters.length, 1);
  t.like(letters[0], { topic: 'order', group: TRADE_STORE_GROUP, reason: 'max_deliveries', deliveries: '3' });
  t.regex(letters[0]?.error ?? '', /refused the rows 3 times: invalid input syntax/);
  t.is(decodeEntry(JSON.parse(letters[0]?.raw ?? '[]')).type, 'order.reported', 'the entry kept for a replay');
});

test.serial('a clean stop records what the stream holds before it returns', async (t) => {
  const r = await rig(t, 'writer-drain');
  const writer = await r.writer();
  for (let n = 1; n <= 200; n++) await r.publisher.publish('order.reported', reported(n));
  await writer.close();
  t.is((await r.tradeIds()).length, 200);
  t.deepEqual(await r.tradeIds(), await r.streamTradeIds());
});

function groupField(flat: unknown[] | undefined, name: string): unknown {
  const list = flat ?? [];
  for (let i = 0; i + 1 < list.length; i += 2) if (list[i] === name) return list[i + 1];
  return undefined;
}

test.serial(
  'after a restore from an older backup, a writer group made anew re-records what the stream holds',
  async (t) => {
    const r = await rig(t, 'writer-rerecord');
    const first = await r.writer();
    for (let n = 1; n <= 12; n++) await r.publisher.publish('order.reported', reported(n));
    await first.close();
    t.is((await r.tradeIds()).length, 12);
    // The restored backup predates the last seven answers.
    const client = new pg.Client({ connectionString: r.url });
    await client.connect();
    await client.query(`DELETE FROM trades WHERE trade_id IN ('t-6','t-7','t-8','t-9','t-10','t-11','t-12')`);
    await client.query(`DELETE FROM orders WHERE client_order_id IN ('ord-8', 'ord-9')`);
    await client.end();
    // docs/trade-store.md, "After a restore": the group and its processed-record dropped, then a writer started.
    const redis = redisServer.client();
    await redis.xgroup('DESTROY', r.keys.stream('order'), TRADE_STORE_GROUP);
    await redis.del(r.keys.groupSeqs('order', TRADE_STORE_GROUP));
    await r.writer();
    await waitFor(async () => (await r.tradeIds()).length === 12, 'every trade back');
    t.deepEqual(await r.tradeIds(), await r.streamTradeIds());
  },
);
