/**
 * Helpers of the backup and restore tests (test/infra/pg-backup.pg.test.ts): running
 * infra/postgres/backup.sh and restore.sh with only the environment a test gives them, filling the
 * trade store's schema (applied by its migrations) with a realistic number of rows, and a fingerprint
 * of a database's full contents (every row of every table, in key order, hashed) to compare after a
 * restore; the backup files of a DIR and the UTC stamps of their names.
 */
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import pg from 'pg';
import type { VenueOrder } from '../../src/exchange/adapter.js';

const ROOT = resolve(import.meta.dirname, '../..');
export const BACKUP_SH = resolve(ROOT, 'infra/postgres/backup.sh');
export const RESTORE_SH = resolve(ROOT, 'infra/postgres/restore.sh');

/** What a script run did. */
export interface ScriptRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Wall-clock time of the run. */
  readonly ms: number;
}

/**
 * Runs `script` with `args` and exactly `env` (plus PATH), in `cwd`; `fileSizeLimitKb` runs it under
 * `ulimit -f` (a disk that fills up).
 */
export function runScript(
  script: string,
  args: readonly string[],
  env: Record<string, string>,
  options: { cwd?: string; fileSizeLimitKb?: number } = {},
): Promise<ScriptRun> {
  const [command, argv] =
    options.fileSizeLimitKb === undefined
      ? [script, [...args]]
      : ['bash', ['-c', `ulimit -f ${options.fileSizeLimitKb}; exec "$@"`, 'bash', script, ...args]];
  const started = Date.now();
  return new Promise((done, fail) => {
    const child = spawn(command, argv, {
      cwd: options.cwd,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.once('error', fail);
    child.once('close', (status) => done({ status, stdout, stderr, ms: Date.now() - started }));
  });
}

/** Runs SQL on `url` with a client of its own. */
export async function sql<R extends pg.QueryResultRow>(url: string, text: string, params: unknown[] = []) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(text, params)).rows;
  } finally {
    await client.end();
  }
}

/**
 * Adds `orders` orders with `fillsPerOrder` fills each to the trade store's tables (already migrated),
 * in one statement per table: prices, quantities and fees of varying values, some limit orders without
 * an average price, times a second apart, ids as the venue gives them.
 */
export async function fillTradeStore(url: string, orders: number, fillsPerOrder: number, from = 0): Promise<void> {
  await sql(
    url,
    `INSERT INTO orders (client_order_id, venue, venue_order_id, symbol, side, type, quantity, price, status,
       executed_qty, average_price, purpose, created_at, updated_at)
     SELECT 'bulk-' || lpad(g::text, 7, '0'), 'binance', (9000000000 + g)::text,
       (ARRAY['BTCUSDT', 'ETHUSDT', 'SOLUSDT'])[1 + g % 3], CASE WHEN g % 2 = 0 THEN 'buy' ELSE 'sell' END,
       CASE WHEN g % 4 = 0 THEN 'limit' ELSE 'market' END, round((random() * 2)::numeric, 5)::float8,
       CASE WHEN g % 4 = 0 THEN 60000 + random() * 5000 END, 'filled', random() * 2,
       CASE WHEN g % 7 = 0 THEN NULL ELSE 60000 + random() * 5000 END, 'signal',
       1764590000000 + g * 1000, 1764590000000 + g * 1000 + 250
     FROM generate_series($1::int + 1, $1::int + $2::int) AS g`,
    [from, orders],
  );
  await sql(
    url,
    `INSERT INTO trades (venue, trade_id, client_order_id, symbol, side, price, quantity, fee, fee_asset, recorded_at)
     SELECT 'binance', (5000000000 + (g - 1) * $3::int + k)::text, 'bulk-' || lpad(g::text, 7, '0'),
       (ARRAY['BTCUSDT', 'ETHUSDT', 'SOLUSDT'])[1 + g % 3], CASE WHEN g % 2 = 0 THEN 'buy' ELSE 'sell' END,
       60000 + random() * 5000, random() / 2, random() / 100, CASE WHEN k = 1 THEN 'BNB' ELSE 'USDT' END,
       1764590000000 + g * 1000 + k
     FROM generate_series($1::int + 1, $1::int + $2::int) AS g, generate_series(1, $3::int) AS k`,
    [from, orders, fillsPerOrder],
  );
}

/** One table's row count and the md5 of all its rows as text, in primary key order. */
export interface TableFingerprint {
  readonly rows: number;
  readonly md5: string;
}

/** The trade store's tables and their keys. */
const TABLES: Record<string, string> = {
  orders: 'client_order_id',
  trades: 'venue, trade_id',
  trade_store_migrations: 'version',
};

/** Every row of the trade store's tables (their full text, hashed) and its indexes. */
export async function fingerprint(url: string): Promise<Record<string, TableFingerprint | string[]>> {
  const out: Record<string, TableFingerprint | string[]> = {};
  for (const [table, key] of Object.entries(TABLES)) {
    const rows = await sql<{ rows: number; md5: string }>(
      url,
      `SELECT count(*)::int AS rows, md5(coalesce(string_agg(t::text, E'\\n' ORDER BY ${key}), '')) AS md5
       FROM ${table} t`,
    );
    out[table] = rows[0] as TableFingerprint;
  }
  const indexes = await sql<{ def: string }>(
    url,
    `SELECT indexdef AS def FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname`,
  );
  out.indexes = indexes.map((r) => r.def);
  return out;
}

/** The `table` lines of a manifest: name → row count. */
export function manifestTables(text: string): Record<string, number> {
  const tables: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const [kind, name, count] = line.split('\t');
    if (kind === 'table' && name !== undefined) tables[name] = Number(count);
  }
  return tables;
}

/** The `i`th venue answer the backup tests record through the store itself: two fills, a limit order every third. */
export function storeAnswer(i: number): VenueOrder {
  return {
    venue: 'paper',
    venueOrderId: `v-${i}`,
    clientOrderId: `c-${i}`,
    symbol: 'BTCUSDT',
    side: i % 2 === 0 ? 'buy' : 'sell',
    type: i % 3 === 0 ? 'limit' : 'market',
    status: 'filled',
    quantity: 0.3,
    ...(i % 3 === 0 ? { price: 64_999.5 } : {}),
    executedQuantity: 0.30000000000000004,
    averagePrice: 65_000.1,
    fills: [1, 2].map((k) => ({
      tradeId: `t-${i}-${k}`,
      price: 65_000 + k,
      quantity: 0.15,
      fee: 0.01,
      feeAsset: 'USDT',
    })),
  };
}

/** The backup files (not the lock) in `dir`. */
export async function backupFiles(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [])).filter((n) => !n.endsWith('.lock')).sort();
}

/** A UTC stamp as in the backup names, `days` ago. */
export function stampDaysAgo(days: number): string {
  return new Date(Date.now() - days * 86_400_000).toISOString().replace(/[-:]|\.\d{3}/g, '');
}
