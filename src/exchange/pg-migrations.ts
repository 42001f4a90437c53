/**
 * The PostgreSQL trade store's schema, as numbered migrations (docs/trade-store.md,
 * "Migrations"), and the routine that applies them at start-up. It holds a
 * session advisory lock while it looks and applies, so two processes starting at
 * once cannot both apply a migration: the second waits, then finds nothing to do.
 * Each migration runs in its own transaction with the row that records it. A
 * database already at a version this build does not know is refused.
 */
import type pg from 'pg';
import { QtError } from '../errors.js';

/** One step of the schema; `version` numbers are 1, 2, 3, … and never change once shipped. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/**
 * The shipped migrations. Text columns that are sorted on use the "C" collation,
 * so the order of `/orders` and `/trades` is byte order, as in SQLite.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'orders and trades',
    sql: `
      CREATE TABLE orders (
        client_order_id TEXT COLLATE "C" PRIMARY KEY,
        venue TEXT NOT NULL, venue_order_id TEXT NOT NULL,
        symbol TEXT NOT NULL, side TEXT NOT NULL, type TEXT NOT NULL,
        quantity DOUBLE PRECISION NOT NULL, price DOUBLE PRECISION, status TEXT NOT NULL,
        executed_qty DOUBLE PRECISION NOT NULL, average_price DOUBLE PRECISION,
        purpose TEXT NOT NULL,
        created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL
      );
      CREATE INDEX orders_by_time ON orders (created_at DESC, client_order_id DESC);
      CREATE TABLE trades (
        venue TEXT NOT NULL, trade_id TEXT COLLATE "C" NOT NULL,
        client_order_id TEXT NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL,
        price DOUBLE PRECISION NOT NULL, quantity DOUBLE PRECISION NOT NULL,
        fee DOUBLE PRECISION NOT NULL, fee_asset TEXT NOT NULL,
        recorded_at BIGINT NOT NULL,
        PRIMARY KEY (venue, trade_id)
      );
      CREATE INDEX trades_by_time ON trades (recorded_at DESC, trade_id DESC);
      CREATE INDEX trades_by_order ON trades (client_order_id);
    `,
  },
];

/** The advisory lock key of the trade store's migrations (any bigint; fixed so every process agrees). */
export const MIGRATION_LOCK_KEY = '7170551390911623025';

/** The table that records which migrations ran. */
const LEDGER = 'trade_store_migrations';

/** What {@link migrate} did: the versions it applied (none when another process had already). */
export interface MigrationResult {
  readonly applied: readonly number[];
  readonly version: number;
}

/** Applies the migrations `client`'s database lacks, under the advisory lock; see the file comment. */
export async function migrate(client: pg.ClientBase, migrations = MIGRATIONS): Promise<MigrationResult> {
  const latest = migrations.at(-1)?.version ?? 0;
  await client.query('SELECT pg_advisory_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
  try {
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${LEDGER} (
         version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
    );
    const { rows } = await client.query<{ v: number | null }>(`SELECT max(version) AS v FROM ${LEDGER}`);
    const current = rows[0]?.v ?? 0;
    if (current > latest) {
      const message = `the trade store database has schema version ${current}; this build knows up to ${latest}`;
      throw new QtError('QT_STORE_INCOMPATIBLE', message, { details: { schemaVersion: current } });
    }
    const applied: number[] = [];
    for (const m of migrations) {
      if (m.version <= current) continue;
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query(`INSERT INTO ${LEDGER} (version, name) VALUES ($1, $2)`, [m.version, m.name]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      }
      applied.push(m.version);
    }
    return { applied, version: Math.max(current, latest) };
  } finally {
    await client.query('SELECT pg_advisory_unlock($1::bigint)', [MIGRATION_LOCK_KEY]).catch(() => {});
  }
}
