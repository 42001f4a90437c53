/**
 * The SQLite trade store (the embedded default; contract in trade-store.ts):
 * one file under QT_DATA_DIR, WAL and `synchronous = FULL`, schema version in
 * `user_version` (sqlite-file.ts).
 */
import type Database from 'better-sqlite3';
import type { VenueOrder } from './adapter.js';
import { openStoreFile } from './sqlite-file.js';
import { orderRow, type StoredOrder, type StoredTrade, type TradeStore } from './trade-store.js';

/** The SQLite trade store's file name under the data directory. */
export const TRADE_STORE_FILE = 'trades.sqlite';

const SCHEMA = `
  CREATE TABLE orders (
    client_order_id TEXT PRIMARY KEY NOT NULL,
    venue TEXT NOT NULL, venue_order_id TEXT NOT NULL,
    symbol TEXT NOT NULL, side TEXT NOT NULL, type TEXT NOT NULL,
    quantity REAL NOT NULL, price REAL, status TEXT NOT NULL,
    executed_qty REAL NOT NULL, average_price REAL,
    purpose TEXT NOT NULL,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE trades (
    venue TEXT NOT NULL, trade_id TEXT NOT NULL,
    client_order_id TEXT NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL,
    price REAL NOT NULL, quantity REAL NOT NULL, fee REAL NOT NULL, fee_asset TEXT NOT NULL,
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (venue, trade_id)
  ) WITHOUT ROWID;
  CREATE INDEX trades_by_time ON trades (recorded_at);
`;

/** The trade store in a SQLite file; the file is opened (and its schema applied) at construction. */
export class SqliteTradeStore implements TradeStore {
  readonly kind = 'sqlite';
  readonly #db: Database.Database;
  #closed = false;

  constructor(path: string) {
    this.#db = openStoreFile(path, SCHEMA, 1);
  }

  async open(): Promise<void> {}

  async record(order: VenueOrder, purpose: string, now: number): Promise<void> {
    const upsert = this.#db.prepare(
      `INSERT INTO orders (client_order_id, venue, venue_order_id, symbol, side, type, quantity, price, status,
         executed_qty, average_price, purpose, created_at, updated_at)
       VALUES (@clientOrderId, @venue, @venueOrderId, @symbol, @side, @type, @quantity, @price, @status,
         @executedQuantity, @averagePrice, @purpose, @now, @now)
       ON CONFLICT (client_order_id) DO UPDATE SET venue_order_id = excluded.venue_order_id, status = excluded.status,
         executed_qty = excluded.executed_qty, average_price = excluded.average_price, updated_at = excluded.updated_at`,
    );
    const trade = this.#db.prepare(
      `INSERT OR IGNORE INTO trades (venue, trade_id, client_order_id, symbol, side, price, quantity, fee, fee_asset, recorded_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#db.transaction(() => {
      upsert.run(orderRow(order, purpose, now));
      for (const f of order.fills) {
        trade.run(
          order.venue,
          f.tradeId,
          order.clientOrderId,
          order.symbol,
          order.side,
          f.price,
          f.quantity,
          f.fee,
          f.feeAsset,
          now,
        );
      }
    })();
  }

  async orders(limit = 100): Promise<StoredOrder[]> {
    return this.#db
      .prepare(
        `SELECT client_order_id AS clientOrderId, venue, venue_order_id AS venueOrderId, symbol, side, type, quantity,
           price, status, executed_qty AS executedQuantity, average_price AS averagePrice, purpose,
           created_at AS createdAt, updated_at AS updatedAt
         FROM orders ORDER BY created_at DESC, client_order_id DESC LIMIT ?`,
      )
      .all(limit) as StoredOrder[];
  }

  async trades(limit = 100): Promise<StoredTrade[]> {
    return this.#db
      .prepare(
        `SELECT venue, trade_id AS tradeId, client_order_id AS clientOrderId, symbol, side, price, quantity, fee,
           fee_asset AS feeAsset, recorded_at AS recordedAt
         FROM trades ORDER BY recorded_at DESC, trade_id DESC LIMIT ?`,
      )
      .all(limit) as StoredTrade[];
  }

  async counts(): Promise<{ orders: number; trades: number }> {
    const o = this.#db.prepare('SELECT count(*) AS n FROM orders').get() as { n: number };
    const t = this.#db.prepare('SELECT count(*) AS n FROM trades').get() as { n: number };
    return { orders: o.n, trades: t.n };
  }

  async ping(): Promise<void> {
    this.#db.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }
}
