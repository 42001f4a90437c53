import type Database from 'better-sqlite3';
import type { VenueOrder } from './adapter.js';
import { openStoreFile } from './sqlite-file.js';

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

/** An order row of the trade store. */
export interface StoredOrder {
  readonly clientOrderId: string;
  readonly venue: string;
  readonly venueOrderId: string;
  readonly symbol: string;
  readonly side: string;
  readonly type: string;
  readonly quantity: number;
  readonly price: number | null;
  readonly status: string;
  readonly executedQuantity: number;
  readonly averagePrice: number | null;
  /** Why execution sent it: `signal`, `take_profit` or `stop_loss`. */
  readonly purpose: string;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** A trade (one fill) of the trade store. */
export interface StoredTrade {
  readonly venue: string;
  readonly tradeId: string;
  readonly clientOrderId: string;
  readonly symbol: string;
  readonly side: string;
  readonly price: number;
  readonly quantity: number;
  readonly fee: number;
  readonly feeAsset: string;
  readonly recordedAt: number;
}

/**
 * Execution's record of what the venue did (docs/architecture.md §11.3): every order it
 * placed, as last reported, and every fill, in a SQLite file. Writes are
 * idempotent (an order is upserted by client order id, a trade is keyed by
 * venue and trade id), so recording the same venue answer again after a
 * crash changes nothing.
 */
export class TradeStore {
  readonly #db: Database.Database;
  #closed = false;

  constructor(path: string) {
    this.#db = openStoreFile(path, SCHEMA, 1);
  }

  /** Records a venue answer for an order: the order's latest state and any fills not seen before. */
  record(order: VenueOrder, purpose: string, now: number): void {
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
      upsert.run({
        clientOrderId: order.clientOrderId,
        venue: order.venue,
        venueOrderId: order.venueOrderId,
        symbol: order.symbol,
        side: order.side,
        type: order.type,
        quantity: order.quantity,
        price: order.price ?? null,
        status: order.status,
        executedQuantity: order.executedQuantity,
        averagePrice: order.averagePrice ?? null,
        purpose,
        now,
      });
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

  /** The latest orders, newest first. */
  orders(limit = 100): StoredOrder[] {
    return this.#db
      .prepare(
        `SELECT client_order_id AS clientOrderId, venue, venue_order_id AS venueOrderId, symbol, side, type, quantity,
           price, status, executed_qty AS executedQuantity, average_price AS averagePrice, purpose,
           created_at AS createdAt, updated_at AS updatedAt
         FROM orders ORDER BY created_at DESC, client_order_id DESC LIMIT ?`,
      )
      .all(limit) as StoredOrder[];
  }

  /** The latest trades, newest first. */
  trades(limit = 100): StoredTrade[] {
    return this.#db
      .prepare(
        `SELECT venue, trade_id AS tradeId, client_order_id AS clientOrderId, symbol, side, price, quantity, fee,
           fee_asset AS feeAsset, recorded_at AS recordedAt
         FROM trades ORDER BY recorded_at DESC, trade_id DESC LIMIT ?`,
      )
      .all(limit) as StoredTrade[];
  }

  /** How many orders and trades are stored. */
  counts(): { orders: number; trades: number } {
    const o = this.#db.prepare('SELECT count(*) AS n FROM orders').get() as { n: number };
    const t = this.#db.prepare('SELECT count(*) AS n FROM trades').get() as { n: number };
    return { orders: o.n, trades: t.n };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }
}
