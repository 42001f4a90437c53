/**
 * The PostgreSQL side of `qt trades migrate` and `qt trades verify`
 * (docs/trade-store.md, "Moving from SQLite"): its rows read in key order
 * (the "C" collation, byte order, as SQLite's), and the copy of a SQLite
 * store's rows into it. The copy holds a session advisory lock of its own,
 * so a second `qt trades migrate` against the same database waits for the
 * first, and runs in one transaction: an interrupted copy leaves nothing
 * half done. It is idempotent: a trade already there is skipped (`ON
 * CONFLICT DO NOTHING`), an order is inserted, or updated only when the
 * copied row is newer (`updated_at`), so copying the same file twice changes
 * nothing the second time.
 */
import type pg from 'pg';
import type { StoredOrder, StoredTrade } from './trade-store.js';
import { allOrders, allTrades, DEFAULT_PAGE_SIZE, type TradeKey, type TradeRowSource } from './trade-store-rows.js';

/** The advisory lock of `qt trades migrate` (not the schema migrations' lock: a copy waits for a copy only). */
export const COPY_LOCK_KEY = '7170551390911623026';

const ORDER_COLUMNS = `client_order_id AS "clientOrderId", venue, venue_order_id AS "venueOrderId", symbol, side, type,
  quantity, price, status, executed_qty AS "executedQuantity", average_price AS "averagePrice", purpose,
  created_at::float8 AS "createdAt", updated_at::float8 AS "updatedAt"`;
const TRADE_COLUMNS = `venue, trade_id AS "tradeId", client_order_id AS "clientOrderId", symbol, side, price, quantity,
  fee, fee_asset AS "feeAsset", recorded_at::float8 AS "recordedAt"`;

const COPY_ORDERS = `
  INSERT INTO orders (client_order_id, venue, venue_order_id, symbol, side, type, quantity, price, status,
    executed_qty, average_price, purpose, created_at, updated_at)
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::float8[],
    $8::float8[], $9::text[], $10::float8[], $11::float8[], $12::text[], $13::bigint[], $14::bigint[])
  ON CONFLICT (client_order_id) DO UPDATE SET venue_order_id = excluded.venue_order_id, status = excluded.status,
    executed_qty = excluded.executed_qty, average_price = excluded.average_price, updated_at = excluded.updated_at
    WHERE orders.updated_at < excluded.updated_at
  RETURNING (xmax = 0) AS inserted`;

const COPY_TRADES = `
  INSERT INTO trades (venue, trade_id, client_order_id, symbol, side, price, quantity, fee, fee_asset, recorded_at)
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::float8[], $7::float8[],
    $8::float8[], $9::text[], $10::bigint[])
  ON CONFLICT (venue, trade_id) DO NOTHING`;

/** A PostgreSQL trade store's rows in key order, through one client or a pool (times read as numbers whatever its type parsers). */
export class PostgresRowSource implements TradeRowSource {
  readonly label: string;
  readonly #db: pg.ClientBase | pg.Pool;

  constructor(db: pg.ClientBase | pg.Pool, label: string) {
    this.#db = db;
    this.label = label;
  }

  async ordersAfter(after: string | undefined, limit: number): Promise<StoredOrder[]> {
    const { rows } = await this.#db.query<StoredOrder>(
      `SELECT ${ORDER_COLUMNS} FROM orders WHERE $1::text IS NULL OR client_order_id > $1::text COLLATE "C"
       ORDER BY client_order_id COLLATE "C" LIMIT $2`,
      [after ?? null, limit],
    );
    return rows;
  }

  async tradesAfter(after: TradeKey | undefined, limit: number): Promise<StoredTrade[]> {
    const { rows } = await this.#db.query<StoredTrade>(
      `SELECT ${TRADE_COLUMNS} FROM trades
       WHERE $1::text IS NULL OR (venue COLLATE "C", trade_id COLLATE "C") > ($1::text, $2::text)
       ORDER BY venue COLLATE "C", trade_id COLLATE "C" LIMIT $3`,
      [after?.venue ?? null, after?.tradeId ?? null, limit],
    );
    return rows;
  }
}

/** What one copy did. */
export interface CopyResult {
  readonly orders: { readonly read: number; readonly inserted: number; readonly updated: number };
  readonly trades: { readonly read: number; readonly inserted: number };
  /** How long it waited for another copy's lock, ms. */
  readonly waitedMs: number;
}

/**
 * Copies every row of `source` into the database of `client` (whose schema
 * is in place), under {@link COPY_LOCK_KEY}, in one transaction. `onWait`
 * is called once if another copy holds the lock.
 */
export async function copyIntoPostgres(
  source: TradeRowSource,
  client: pg.ClientBase,
  options: { readonly batch?: number; readonly onWait?: () => void } = {},
): Promise<CopyResult> {
  const batch = options.batch ?? DEFAULT_PAGE_SIZE;
  const waitStarted = Date.now();
  const { rows } = await client.query<{ got: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS got', [
    COPY_LOCK_KEY,
  ]);
  if (!rows[0]?.got) {
    options.onWait?.();
    await client.query('SELECT pg_advisory_lock($1::bigint)', [COPY_LOCK_KEY]);
  }
  const waitedMs = Date.now() - waitStarted;
  const orders = { read: 0, inserted: 0, updated: 0 };
  const trades = { read: 0, inserted: 0 };
  try {
    await client.query('BEGIN');
    for await (const page of pages(allOrders(source, batch), batch)) {
      orders.read += page.length;
      const result = await client.query<{ inserted: boolean }>(COPY_ORDERS, orderColumns(page));
      for (const r of result.rows) {
        if (r.inserted) orders.inserted++;
        else orders.updated++;
      }
    }
    for await (const page of pages(allTrades(source, batch), batch)) {
      trades.read += page.length;
      trades.inserted += (await client.query(COPY_TRADES, tradeColumns(page))).rowCount ?? 0;
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1::bigint)', [COPY_LOCK_KEY]).catch(() => {});
  }
  return { orders, trades, waitedMs };
}

async function* pages<T>(rows: AsyncIterable<T>, size: number): AsyncGenerator<T[]> {
  let page: T[] = [];
  for await (const row of rows) {
    page.push(row);
    if (page.length >= size) {
      yield page;
      page = [];
    }
  }
  if (page.length > 0) yield page;
}

function orderColumns(rows: readonly StoredOrder[]): unknown[][] {
  return [
    rows.map((r) => r.clientOrderId),
    rows.map((r) => r.venue),
    rows.map((r) => r.venueOrderId),
    rows.map((r) => r.symbol),
    rows.map((r) => r.side),
    rows.map((r) => r.type),
    rows.map((r) => r.quantity),
    rows.map((r) => r.price),
    rows.map((r) => r.status),
    rows.map((r) => r.executedQuantity),
    rows.map((r) => r.averagePrice),
    rows.map((r) => r.purpose),
    rows.map((r) => r.createdAt),
    rows.map((r) => r.updatedAt),
  ];
}

function tradeColumns(rows: readonly StoredTrade[]): unknown[][] {
  return [
    rows.map((r) => r.venue),
    rows.map((r) => r.tradeId),
    rows.map((r) => r.clientOrderId),
    rows.map((r) => r.symbol),
    rows.map((r) => r.side),
    rows.map((r) => r.price),
    rows.map((r) => r.quantity),
    rows.map((r) => r.fee),
    rows.map((r) => r.feeAsset),
    rows.map((r) => r.recordedAt),
  ];
}
