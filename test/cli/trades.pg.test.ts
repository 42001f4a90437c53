/**
 * `qt trades migrate` and `qt trades verify` as child processes, on real SQLite files written by the
 * SQLite trade store and a PostgreSQL of the test's own: the copy is exact and idempotent (a second run
 * adds nothing), counts and sums are printed and checked, verify names the rows that differ and exits 1;
 * odd files (missing, empty, not SQLite, no trades table, a value of the wrong type) are refused with
 * exit 5 and one line; bad usage exits 2 with the usage; PostgreSQL unreachable exits 7; a migrate waits
 * for another one's lock, and two at once both succeed with every row once; with QT_PG_MIGRATION_URL
 * migrate connects there alone and verify to DATABASE_URL alone, and a bad one exits 2. The password is
 * in no output.
 */
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import Database from 'better-sqlite3';
import pg from 'pg';
import { TradesMigrateOutputSchema, TradesVerifyOutputSchema } from '../../src/cli/trades-report.js';
import type { VenueOrder } from '../../src/exchange/adapter.js';
import { COPY_LOCK_KEY } from '../../src/exchange/pg-trade-copy.js';
import { SqliteTradeStore } from '../../src/exchange/sqlite-trade-store.js';
import { waitFor } from '../support/bus.js';
import { type QtResult, runQt, spawnQt } from '../support/cli.js';
import { getFreePort } from '../support/free-port.js';
import { type PgServer, startPostgres } from '../support/pg-fixture.js';

const PASSWORD = 'migrate-pw-never-printed';
let server: PgServer;
let databases = 0;
const outputs: string[] = [];

test.before(async () => {
  server = await startPostgres({ name: 'cli-trades' });
});
test.after.always(() => server?.stop());
test.after('no qt output of this file carries the DATABASE_URL password', (t) => {
  t.true(outputs.length > 10);
  t.false(outputs.some((o) => o.includes(PASSWORD)));
});

async function qt(args: string[], env: Record<string, string | undefined>, timeoutMs = 60_000): Promise<QtResult> {
  const result = await runQt(['trades', ...args], env, { timeoutMs });
  outputs.push(result.stdout + result.stderr);
  return result;
}

/** A fresh database, and its URL with a password (trust authentication ignores it; it is there to be looked for). */
async function database(): Promise<{ url: string; plain: string; env: Record<string, string> }> {
  const plain = await server.createDatabase(`cli_trades_${process.pid}_${++databases}`);
  const url = plain.replace('postgres@', `postgres:${PASSWORD}@`);
  return { url, plain, env: { DATABASE_URL: url } };
}

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'qt-cli-trades-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function answer(n: number, overrides: Partial<VenueOrder> = {}): VenueOrder {
  const quantity = 0.01 * (n + 1);
  return {
    venue: n % 3 === 0 ? 'binance' : 'paper',
    venueOrderId: `v-${n}`,
    clientOrderId: `ord-${n}`,
    symbol: n % 2 ? 'BTCUSDT' : 'ETHUSDT',
    side: n % 2 ? 'buy' : 'sell',
    type: 'market',
    status: 'filled',
    quantity,
    executedQuantity: quantity,
    averagePrice: 1_000 + n / 7,
    fills: [
      { tradeId: `t-${n}-a`, price: 1_000 + n / 7, quantity: quantity / 3, fee: 0.1 / 3, feeAsset: 'USDT' },
      { tradeId: `t-${n}-b`, price: 1_000 + n / 7, quantity: (2 * quantity) / 3, fee: 0.2 / 3, feeAsset: 'BNB' },
    ],
    ...overrides,
  };
}

/** A SQLite trade store written by the store itself: `n` filled orders, plus odd ones. */
async function sqliteStore(dir: string, n: number): Promise<string> {
  const path = join(dir, 'trades.sqlite');
  const store = new SqliteTradeStore(path);
  for (let i = 0; i < n; i++)
    await store.record(answer(i), i % 5 === 0 ? 'stop_loss' : 'signal', 1_764_590_000_000 + i);
  // A limit order that rested, then was cancelled with nothing done; a rejected one; ids in byte order's corners.
  await store.record(
    answer(n, { type: 'limit', price: 999.5, status: 'new', executedQuantity: 0, fills: [], averagePrice: undefined }),
    'signal',
    1_764_590_100_000,
  );
  await store.record(
    answer(n, { type: 'limit', price: 999.5, status: 'cancelled', executedQuantity: 0, fills: [] }),
    'signal',
    1_764_590_100_500,
  );
  await store.record(
    answer(n + 1, { status: 'rejected', executedQuantity: 0, fills: [] }),
    'signal',
    1_764_590_200_000,
  );
  for (const [i, id] of ['Zulu', 'alpha', 'émile', 'ｚ', '🚀'].entries()) {
    await store.record(
      answer(n + 2 + i, {
        clientOrderId: id,
        fills: [{ tradeId: id, price: 10, quantity: 1, fee: 0.01, feeAsset: 'USDT' }],
      }),
      'signal',
      1_764_590_300_000 + i,
    );
  }
  await store.close();
  return path;
}

/** BIGINTs (epoch ms) as numbers, as the store reads them. */
const types = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === 20 ? Number : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

async function rows(url: string, sql: string): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: url, types });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

const sqliteRows = (path: string, sql: string) => {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare(sql).all() as Record<string, unknown>[];
  } finally {
    db.close();
  }
};

const TRADES_SQL = `SELECT venue, trade_id, client_order_id, symbol, side, price, quantity, fee, fee_asset,
  recorded_at FROM trades ORDER BY venue, trade_id`;
const ORDERS_SQL = `SELECT client_order_id, venue, venue_order_id, symbol, side, type, quantity, price, status,
  executed_qty, average_price, purpose, created_at, updated_at FROM orders ORDER BY client_order_id`;
const byteOrder = (a: Record<string, unknown>, b: Record<string, unknown>, keys: string[]) => {
  for (const k of keys) {
    const d = Buffer.compare(Buffer.from(String(a[k])), Buffer.from(String(b[k])));
    if (d !== 0) return d;
  }
  return 0;
};

test.serial(
  'migrate copies every row exactly, checks counts and sums; a second run adds nothing; verify agrees',
  async (t) => {
    const dir = await tempDir(t);
    const file = await sqliteStore(dir, 40);
    const db = await database();

    const first = await qt(['migrate', '--from', file], db.env);
    t.is(first.code, 0, first.stderr);
    t.regex(first.stdout, /orders: 47 read, 47 new, 0 updated; trades: 85 read, 85 new/);
    t.regex(first.stdout, /^STORE\s+ORDERS\s+TRADES\s+QUANTITY\s+NOTIONAL\s+FEES/m);
    t.regex(first.stdout, /verified: every row of the file is in PostgreSQL, unchanged/);
    t.true(first.stdout.includes(`127.0.0.1:${server.port}/cli_trades_`), 'the database named host:port/db');

    // Every row, every value, as the file has it (PostgreSQL rows in byte order).
    const pgTrades = (await rows(db.plain, TRADES_SQL)).sort((a, b) => byteOrder(a, b, ['venue', 'trade_id']));
    t.deepEqual(pgTrades, sqliteRows(file, TRADES_SQL));
    const pgOrders = (await rows(db.plain, ORDERS_SQL)).sort((a, b) => byteOrder(a, b, ['client_order_id']));
    t.deepEqual(pgOrders, sqliteRows(file, ORDERS_SQL));
    t.is(pgOrders.find((o) => o.client_order_id === 'ord-40')?.status, 'cancelled');

    const second = await qt(['--json', 'migrate', '--from', file, '--batch', '7'], db.env);
    t.is(second.code, 0, second.stderr);
    const report = TradesMigrateOutputSchema.parse(JSON.parse(second.stdout));
    t.like(report.copied, { orders: { read: 47, inserted: 0, updated: 0 }, trades: { read: 85, inserted: 0 } });
    t.true(report.verified);
    const expectedQuantity = sqliteRows(file, 'SELECT quantity FROM trades ORDER BY venue, trade_id').reduce(
      (s, r) => s + Number(r.quantity),
      0,
    );
    t.is(report.comparison.sqlite.trades, 85);
    t.deepEqual(report.comparison.postgres, report.comparison.sqlite, 'counts and sums equal');
    t.is(report.comparison.sqlite.quantity, expectedQuantity);
    t.deepEqual(Object.keys(report.comparison.sqlite.fees).sort(), ['BNB', 'USDT']);
    t.is((await rows(db.plain, 'SELECT count(*)::int AS n FROM trades'))[0]?.n, 85, 'no row twice');

    const verify = await qt(['--json', 'verify', '--sqlite', file], db.env);
    t.is(verify.code, 0, verify.stderr);
    t.true(TradesVerifyOutputSchema.parse(JSON.parse(verify.stdout)).equal);
  },
);

test.serial('verify names the rows that differ, are missing or are extra, and exits 1', async (t) => {
  const dir = await tempDir(t);
  const file = await sqliteStore(dir, 10);
  const db = await database();
  t.is((await qt(['migrate', '--from', file], db.env)).code, 0);
  await rows(db.plain, `UPDATE trades SET fee = fee + 1 WHERE trade_id = 't-3-a'`);
  await rows(db.plain, `DELETE FROM trades WHERE trade_id = 't-4-b'`);
  await rows(db.plain, `UPDATE orders SET status = 'expired' WHERE client_order_id = 'ord-2'`);
  await rows(
    db.plain,
    `INSERT INTO trades VALUES ('paper', 'extra-1', 'ord-1', 'BTCUSDT', 'buy', 1, 1, 0, 'USDT', 1764590000000)`,
  );
  const human = await qt(['verify', '--sqlite', file], db.env);
  t.is(human.code, 1);
  t.regex(human.stdout, /orders: 0 only in sqlite, 0 only in postgres, 1 differ/);
  t.regex(human.stdout, /trades: 1 only in sqlite, 1 only in postgres, 1 differ/);
  t.regex(human.stdout, /orders ord-2: differs in status/);
  t.regex(human.stdout, /trades binance\/t-3-a: differs in fee/);
  t.regex(human.stdout, /trades paper\/t-4-b: only in sqlite/);
  t.regex(human.stdout, /trades paper\/extra-1: only in postgres/);
  t.regex(human.stderr, /^qt: .* differ \(listed above\)\n$/);

  const json = await qt(['--json', 'verify', '--sqlite', file], db.env);
  t.is(json.code, 1);
  const out = TradesVerifyOutputSchema.parse(JSON.parse(json.stdout));
  t.false(out.equal);
  t.deepEqual(out.comparison.trades, { onlyInSqlite: 1, onlyInPostgres: 1, differs: 1 });
  t.is(out.comparison.postgres.trades, out.comparison.sqlite.trades, '85 - 1 + 1');
  t.not(out.comparison.postgres.fees.USDT, out.comparison.sqlite.fees.USDT);

  // A migrate does not overwrite what PostgreSQL holds newer, and says the file is not all there.
  const again = await qt(['migrate', '--from', file], db.env);
  t.is(again.code, 1, 'the changed rows are not as in the file');
  t.regex(again.stdout, /trades: \d+ read, 1 new/, 'the deleted trade is copied back');
});

test.serial('odd files are refused with exit 5 and one line; nothing is copied', async (t) => {
  const dir = await tempDir(t);
  const db = await database();
  const empty = join(dir, 'empty.sqlite');
  writeFileSync(empty, '');
  const text = join(dir, 'notes.sqlite');
  writeFileSync(text, 'these are my notes, not a database\n'.repeat(20));
  const other = join(dir, 'other.sqlite');
  const otherDb = new Database(other);
  otherDb.exec('CREATE TABLE orders (client_order_id TEXT PRIMARY KEY); CREATE TABLE candles (t INTEGER)');
  otherDb.close();
  const typed = await sqliteStore(dir, 3);
  const bad = new Database(typed);
  bad.prepare(`UPDATE trades SET price = 'a lot' WHERE trade_id = 't-1-a'`).run();
  bad.close();

  const cases: [string, RegExp][] = [
    [join(dir, 'missing.sqlite'), /missing\.sqlite: no such file/],
    [empty, /empty\.sqlite is empty \(0 bytes\): not a SQLite trade store/],
    [text, /notes\.sqlite is not a SQLite database: not a SQLite trade store/],
    [other, /other\.sqlite has no table trades \(tables orders, candles\): not a SQLite trade store/],
    [typed, /trades\.sqlite has a trades row \(paper\/t-1-a\) with a bad value \(price: /],
  ];
  for (const [path, message] of cases) {
    for (const args of [
      ['migrate', '--from', path],
      ['verify', '--sqlite', path],
    ]) {
      const result = await qt(args, db.env);
      t.is(result.code, 5, `${args.join(' ')}: ${result.stderr}`);
      t.regex(result.stderr, message);
      t.is(result.stderr.trim().split('\n').length, 1, 'one line');
      t.false(/\n\s+at /.test(result.stderr), 'no stack trace');
    }
  }
  const counts = await rows(
    db.plain,
    `SELECT (SELECT count(*)::int FROM orders) AS o, (SELECT count(*)::int FROM trades) AS t`,
  );
  t.deepEqual(counts[0], { o: 0, t: 0 }, 'the refused copy left nothing');
});

test.serial('bad usage exits 2 with the usage; no DATABASE_URL exits 2; PostgreSQL unreachable exits 7', async (t) => {
  const dir = await tempDir(t);
  const file = await sqliteStore(dir, 2);
  const db = await database();
  const noFrom = await qt(['migrate'], db.env);
  t.is(noFrom.code, 2);
  t.regex(noFrom.stderr, /required option '--from <file>' not specified/);
  t.regex(noFrom.stderr, /Usage: qt trades migrate/);
  const badBatch = await qt(['migrate', '--from', file, '--batch', '0'], db.env);
  t.is(badBatch.code, 2);
  t.regex(badBatch.stderr, /"0" is not a positive whole number/);
  const noUrl = await qt(['migrate', '--from', file], { DATABASE_URL: undefined });
  t.is(noUrl.code, 2);
  t.regex(noUrl.stderr, /^qt: this command needs DATABASE_URL/);

  const port = await getFreePort();
  const nowhere = `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/qt`;
  for (const args of [
    ['migrate', '--from', file],
    ['verify', '--sqlite', file],
  ]) {
    const result = await qt(args, { DATABASE_URL: nowhere, QT_PG_CONNECT_TIMEOUT_MS: '1000' });
    t.is(result.code, 7, result.stderr);
    t.regex(result.stderr, new RegExp(`^qt: cannot reach PostgreSQL at 127\\.0\\.0\\.1:${port}/qt: .*ECONNREFUSED`));
  }
  // verify on a database without the store's tables says so.
  const bare = await qt(['verify', '--sqlite', file], db.env);
  t.is(bare.code, 5);
  t.regex(bare.stderr, /has no trade store \(no table orders or trades\)/);
});

test.serial('a migrate waits for another one holding the lock; two at once both succeed, every row once', async (t) => {
  t.timeout(180_000);
  const dir = await tempDir(t);
  const file = await sqliteStore(dir, 1_500);
  const db = await database();

  // Held by us: the migrate waits, says so, and copies once it is let go.
  const holder = new pg.Client({ connectionString: db.plain });
  await holder.connect();
  t.teardown(() => holder.end());
  await holder.query('SELECT pg_advisory_lock($1::bigint)', [COPY_LOCK_KEY]);
  const waiting = spawnQt(['--json', 'trades', 'migrate', '--from', file], db.env, { timeoutMs: 90_000 });
  await waitFor(() => waiting.stderr().includes('waiting for it'), 'the migrate waits', 60_000);
  t.is(waiting.child.exitCode, null, 'still waiting');
  await holder.query('SELECT pg_advisory_unlock($1::bigint)', [COPY_LOCK_KEY]);
  const waited = await waiting.result;
  outputs.push(waited.stdout + waited.stderr);
  t.is(waited.code, 0, waited.stderr);
  const report = TradesMigrateOutputSchema.parse(JSON.parse(waited.stdout));
  t.true(report.waitedMs > 0);
  t.is(report.copied.trades.inserted, 3_005);

  // Two at once on a fresh database.
  const other = await database();
  const both = await Promise.all(
    [1, 2].map(
      () => spawnQt(['--json', 'trades', 'migrate', '--from', file], other.env, { timeoutMs: 120_000 }).result,
    ),
  );
  for (const r of both) outputs.push(r.stdout + r.stderr);
  t.deepEqual(
    both.map((r) => r.code),
    [0, 0],
    both.map((r) => r.stderr).join('\n'),
  );
  const reports = both.map((r) => TradesMigrateOutputSchema.parse(JSON.parse(r.stdout)));
  t.true(reports.every((r) => r.verified));
  t.is(reports[0]!.copied.trades.inserted + reports[1]!.copied.trades.inserted, 3_005, 'each row inserted once');
  t.is(reports[0]!.copied.orders.inserted + reports[1]!.copied.orders.inserted, 1_507);
  t.log(`waited: ${reports.map((r) => `${r.waitedMs} ms`).join(', ')}`);
  const counts = await rows(
    other.plain,
    `SELECT (SELECT count(*)::int FROM orders) AS o, (SELECT count(*)::int FROM trades) AS t`,
  );
  t.deepEqual(counts[0], { o: 1_507, t: 3_005 });
});

test.serial(
  'QT_PG_MIGRATION_URL: migrate connects there alone, verify to DATABASE_URL alone; a bad one exits 2',
  async (t) => {
    const dir = await tempDir(t);
    const file = await sqliteStore(dir, 3);
    const db = await database();
    const port = await getFreePort();
    const nowhere = `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/qt`;
    const unreachable = new RegExp(`^qt: cannot reach PostgreSQL at 127\\.0\\.0\\.1:${port}/qt: .*ECONNREFUSED`);
    const label = `127.0.0.1:${server.port}/cli_trades_`;

    // DATABASE_URL reaches nothing: migrate works on QT_PG_MIGRATION_URL, verify cannot.
    const split = { DATABASE_URL: nowhere, QT_PG_MIGRATION_URL: db.url, QT_PG_CONNECT_TIMEOUT_MS: '1000' };
    const migrated = await qt(['--json', 'migrate', '--from', file], split);
    t.is(migrated.code, 0, migrated.stderr);
    const report = TradesMigrateOutputSchema.parse(JSON.parse(migrated.stdout));
    t.true(report.verified);
    t.true(report.database.startsWith(label), report.database);
    const notVerified = await qt(['verify', '--sqlite', file], split);
    t.is(notVerified.code, 7, notVerified.stderr);
    t.regex(notVerified.stderr, unreachable);

    // The other way round: verify works on DATABASE_URL, migrate cannot reach QT_PG_MIGRATION_URL.
    const swapped = { DATABASE_URL: db.url, QT_PG_MIGRATION_URL: nowhere, QT_PG_CONNECT_TIMEOUT_MS: '1000' };
    const verified = await qt(['--json', 'verify', '--sqlite', file], swapped);
    t.is(verified.code, 0, verified.stderr);
    t.true(TradesVerifyOutputSchema.parse(JSON.parse(verified.stdout)).equal);
    const notMigrated = await qt(['migrate', '--from', file], swapped);
    t.is(notMigrated.code, 7, notMigrated.stderr);
    t.regex(notMigrated.stderr, unreachable);

    // Not a postgres URL: exit 2, the key named, the value (and its password) not repeated.
    for (const bad of [`mysql://postgres:${PASSWORD}@db/qt`, PASSWORD]) {
      for (const args of [
        ['migrate', '--from', file],
        ['verify', '--sqlite', file],
      ]) {
        const result = await qt(args, { DATABASE_URL: db.url, QT_PG_MIGRATION_URL: bad });
        t.is(result.code, 2, result.stderr);
        t.regex(result.stderr, /QT_PG_MIGRATION_URL: must be a postgres:\/\/ or postgresql:\/\/ URL/);
      }
    }
  },
);
