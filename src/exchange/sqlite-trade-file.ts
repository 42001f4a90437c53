/**
 * An existing SQLite trade store opened to be read, never written: the
 * source of `qt trades migrate` and one side of `qt trades verify`
 * (docs/trade-store.md, "Moving from SQLite"). Opening checks that the file
 * is one: not empty, a SQLite database, with the `orders` and `trades`
 * tables and their columns, at a schema version this build reads. Anything
 * else is `QT_STORE_INVALID` (or `QT_STORE_INCOMPATIBLE`) naming the file and
 * what is wrong; a missing file is the caller's to report.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { z } from 'zod';
import { QtError } from '../errors.js';
import type { StoredOrder, StoredTrade } from './trade-store.js';
import { StoredOrderSchema, StoredTradeSchema, type TradeKey, type TradeRowSource } from './trade-store-rows.js';

/** The schema version of the SQLite trade store this build writes (sqlite-trade-store.ts). */
const SCHEMA_VERSION = 1;
const HEADER = 'SQLite format 3\u0000';

const COLUMNS = {
  orders: [
    'client_order_id',
    'venue',
    'venue_order_id',
    'symbol',
    'side',
    'type',
    'quantity',
    'price',
    'status',
    'executed_qty',
    'average_price',
    'purpose',
    'created_at',
    'updated_at',
  ],
  trades: [
    'venue',
    'trade_id',
    'client_order_id',
    'symbol',
    'side',
    'price',
    'quantity',
    'fee',
    'fee_asset',
    'recorded_at',
  ],
} as const;

const ORDER_COLUMNS = `client_order_id AS clientOrderId, venue, venue_order_id AS venueOrderId, symbol, side, type,
  quantity, price, status, executed_qty AS executedQuantity, average_price AS averagePrice, purpose,
  created_at AS createdAt, updated_at AS updatedAt`;
const TRADE_COLUMNS = `venue, trade_id AS tradeId, client_order_id AS clientOrderId, symbol, side, price, quantity, fee,
  fee_asset AS feeAsset, recorded_at AS recordedAt`;

function invalid(path: string, why: string, cause?: unknown): QtError {
  return new QtError('QT_STORE_INVALID', `${path} ${why}`, {
    details: { path },
    ...(cause === undefined ? {} : { cause }),
  });
}

/** An error of SQLite that says the file is not a (sound) database. */
function isUnreadable(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT' || code === 'SQLITE_CANTOPEN';
}

/** A SQLite trade store file, read-only; see the file comment. */
export class SqliteTradeFile implements TradeRowSource {
  readonly label: string;
  readonly #db: Database.Database;
  readonly #path: string;

  private constructor(path: string, db: Database.Database) {
    this.#path = path;
    this.label = path;
    this.#db = db;
  }

  /** Opens and checks `path`; throws QT_STORE_INVALID or QT_STORE_INCOMPATIBLE. The file must exist. */
  static open(path: string): SqliteTradeFile {
    const size = statSync(path).size;
    if (size === 0) throw invalid(path, 'is empty (0 bytes): not a SQLite trade store');
    const header = Buffer.alloc(16);
    const fd = openSync(path, 'r');
    try {
      readSync(fd, header, 0, 16, 0);
    } finally {
      closeSync(fd);
    }
    if (header.toString('latin1') !== HEADER) throw invalid(path, 'is not a SQLite database: not a SQLite trade store');
    let db: Database.Database;
    try {
      db = new Database(path, { readonly: true, fileMustExist: true });
    } catch (err) {
      throw invalid(path, `cannot be opened (${(err as Error).message})`, err);
    }
    try {
      SqliteTradeFile.#check(path, db);
    } catch (err) {
      db.close();
      if (err instanceof QtError) throw err;
      if (isUnreadable(err)) throw invalid(path, `is unreadable (${(err as Error).message})`, err);
      throw err;
    }
    return new SqliteTradeFile(path, db);
  }

  static #check(path: string, db: Database.Database): void {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      const message = `${path} has schema version ${version}; this build reads up to ${SCHEMA_VERSION}`;
      throw new QtError('QT_STORE_INCOMPATIBLE', message, { details: { path, schemaVersion: version } });
    }
    const tables = (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as { name: string }[]).map(
      (r) => r.name,
    );
    for (const table of Object.keys(COLUMNS)) {
      if (tables.includes(table)) continue;
      const found = tables.length === 0 ? 'no tables at all' : `tables ${tables.join(', ')}`;
      throw invalid(path, `has no table ${table} (${found}): not a SQLite trade store`);
    }
    for (const [table, columns] of Object.entries(COLUMNS)) {
      const present = (db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name);
      const missing = columns.filter((c) => !present.includes(c));
      if (missing.length > 0)
        throw invalid(path, `has a table ${table} without ${missing.join(', ')}: not a SQLite trade store`);
    }
  }

  async ordersAfter(after: string | undefined, limit: number): Promise<StoredOrder[]> {
    const sql = `SELECT ${ORDER_COLUMNS} FROM orders ${after === undefined ? '' : 'WHERE client_order_id > @after'}
      ORDER BY client_order_id LIMIT @limit`;
    return this.#read('orders', StoredOrderSchema, sql, { after, limit }, (r) => r.clientOrderId);
  }

  async tradesAfter(after: TradeKey | undefined, limit: number): Promise<StoredTrade[]> {
    const sql = `SELECT ${TRADE_COLUMNS} FROM trades
      ${after === undefined ? '' : 'WHERE (venue, trade_id) > (@venue, @tradeId)'}
      ORDER BY venue, trade_id LIMIT @limit`;
    return this.#read('trades', StoredTradeSchema, sql, { ...after, limit }, (r) => `${r.venue}/${r.tradeId}`);
  }

  #read<S extends z.ZodType>(
    table: string,
    schema: S,
    sql: string,
    params: Record<string, unknown>,
    keyOf: (row: Record<string, unknown>) => unknown,
  ): z.output<S>[] {
    let rows: Record<string, unknown>[];
    try {
      const bound = Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined));
      rows = this.#db.prepare(sql).all(bound) as Record<string, unknown>[];
    } catch (err) {
      if (isUnreadable(err)) throw invalid(this.#path, `is unreadable (${(err as Error).message})`, err);
      throw err;
    }
    return rows.map((row) => {
      const parsed = schema.safeParse(row);
      if (parsed.success) return parsed.data;
      const issue = parsed.error.issues[0];
      const what = `${issue?.path.join('.') ?? '?'}: ${issue?.message ?? 'invalid'}`;
      throw invalid(this.#path, `has a ${table} row (${String(keyOf(row))}) with a bad value (${what})`);
    });
  }

  close(): void {
    this.#db.close();
  }
}
