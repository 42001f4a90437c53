/**
 * The dual store (src/exchange/dual-trade-store.ts, `QT_TRADE_STORE=dual`): the trade store contract
 * (trade-store-contract.ts) with reads from SQLite and with reads from PostgreSQL, on a real file and a
 * real server of this file's own; and what only it does: both stores written alike (compared row by row
 * as `qt trades verify` compares them), a write PostgreSQL refuses fails as a whole and, tried again,
 * leaves both equal.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import pg from 'pg';
import type { VenueOrder } from '../../src/exchange/adapter.js';
import { DualTradeStore } from '../../src/exchange/dual-trade-store.js';
import { PostgresRowSource } from '../../src/exchange/pg-trade-copy.js';
import { PostgresTradeStore } from '../../src/exchange/pg-trade-store.js';
import { SqliteTradeFile } from '../../src/exchange/sqlite-trade-file.js';
import { SqliteTradeStore } from '../../src/exchange/sqlite-trade-store.js';
import { compareStores, storesEqual } from '../../src/exchange/trade-store-compare.js';
import { type PgServer, startPostgres } from '../support/pg-fixture.js';
import { tradeStoreContract } from './trade-store-contract.js';

let server: PgServer;
let databases = 0;

test.before(async () => {
  server = await startPostgres({ name: 'trade-store-dual' });
});
test.after.always(() => server?.stop());

interface Parts {
  readonly dir: string;
  readonly path: string;
  readonly url: string;
}

async function parts(t: ExecutionContext): Promise<Parts> {
  const dir = await mkdtemp(join(tmpdir(), 'qt-dual-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const url = await server.createDatabase(`dual_${process.pid}_${++databases}`);
  return { dir, path: join(dir, 'trades.sqlite'), url };
}

function dualAt(p: Parts, readFrom: 'sqlite' | 'postgres'): DualTradeStore {
  return new DualTradeStore({
    sqlite: new SqliteTradeStore(p.path),
    postgres: new PostgresTradeStore({
      databaseUrl: p.url,
      poolMax: 2,
      connectTimeoutMs: 2_000,
      idleTimeoutMs: 30_000,
      queryTimeoutMs: 10_000,
    }),
    readFrom,
  });
}

for (const readFrom of ['sqlite', 'postgres'] as const) {
  tradeStoreContract(`dual (reads from ${readFrom})`, async (t) => {
    const p = await parts(t);
    let current = dualAt(p, readFrom);
    await current.open();
    t.teardown(() => current.close());
    return {
      store: current,
      reopen: async () => {
        await current.close();
        current = dualAt(p, readFrom);
        return current;
      },
    };
  });
}

function answer(n: number): VenueOrder {
  return {
    venue: 'paper',
    venueOrderId: `v-${n}`,
    clientOrderId: `ord-${n}`,
    symbol: 'BTCUSDT',
    side: 'buy',
    type: 'market',
    status: 'filled',
    quantity: 0.1,
    executedQuantity: 0.1,
    averagePrice: 50_000 + n,
    fills: [{ tradeId: `t-${n}`, price: 50_000 + n, quantity: 0.1, fee: 5, feeAsset: 'USDT' }],
  };
}

async function compare(p: Parts) {
  const file = SqliteTradeFile.open(p.path);
  const client = new pg.Client({ connectionString: p.url });
  await client.connect();
  try {
    return await compareStores(file, new PostgresRowSource(client, 'test'));
  } finally {
    file.close();
    await client.end();
  }
}

test('dual: both stores written alike; a write PostgreSQL refuses fails whole and, retried, leaves them equal', async (t) => {
  const p = await parts(t);
  const store = dualAt(p, 'sqlite');
  t.teardown(() => store.close());
  await store.open();
  for (let n = 1; n <= 5; n++) await store.record(answer(n), 'signal', 1_764_590_000_000 + n);
  const equal = await compare(p);
  t.true(storesEqual(equal));
  t.like(equal.sqlite, { orders: 5, trades: 5 });

  // PostgreSQL refuses the next write (a role that may read the tables, not write them): the write fails.
  const admin = new pg.Client({ connectionString: p.url });
  await admin.connect();
  t.teardown(() => admin.end());
  await admin.query('CREATE ROLE qt_writer LOGIN');
  await admin.query('GRANT CREATE ON SCHEMA public TO qt_writer');
  await admin.query('GRANT SELECT ON orders, trades, trade_store_migrations TO qt_writer');
  const limitedUrl = p.url.replace('postgres@', 'qt_writer@');
  const limited = new DualTradeStore({
    sqlite: new SqliteTradeStore(p.path),
    postgres: new PostgresTradeStore({
      databaseUrl: limitedUrl,
      poolMax: 1,
      connectTimeoutMs: 2_000,
      idleTimeoutMs: 30_000,
      queryTimeoutMs: 10_000,
    }),
    readFrom: 'sqlite',
  });
  t.teardown(() => limited.close());
  const refused = await t.throwsAsync(limited.record(answer(6), 'signal', 1_764_590_000_006));
  t.is((refused as { code?: string }).code, '42501', 'permission denied');
  const half = await compare(p);
  t.deepEqual(half.trades, { onlyInSqlite: 1, onlyInPostgres: 0, differs: 0 }, 'SQLite took it, PostgreSQL not');

  // The writer tries again (here, with the privilege back): both take it, SQLite unchanged.
  await admin.query('GRANT INSERT, UPDATE ON orders, trades TO qt_writer');
  await limited.record(answer(6), 'signal', 1_764_590_000_006);
  const after = await compare(p);
  t.true(storesEqual(after), JSON.stringify(after.differences));
  t.like(after.sqlite, { orders: 6, trades: 6 });
  t.deepEqual(after.postgres, after.sqlite);
});
