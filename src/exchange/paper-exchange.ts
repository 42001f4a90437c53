import type Database from 'better-sqlite3';
import { QtError } from '../errors.js';
import {
  type Balance,
  type ExchangeAdapter,
  type OrderRequest,
  VenueError,
  type VenueFill,
  type VenueOrder,
  type VenueOrderStatus,
} from './adapter.js';
import { openStoreFile } from './sqlite-file.js';
import { assetsOf, QUOTE_ASSETS } from './symbols.js';

/** Taker fee of the paper venue (Binance spot's base rate, 0.1 %). */
export const DEFAULT_PAPER_FEE_RATE = 0.001;
/** Slippage of a paper market order against the latest price, in basis points. */
export const DEFAULT_PAPER_SLIPPAGE_BPS = 5;
/** What a new paper account holds. */
export const DEFAULT_PAPER_BALANCES: Readonly<Record<string, number>> = Object.freeze({ USDT: 100_000 });

/** Settings of {@link PaperExchange}. */
export interface PaperExchangeOptions {
  /** SQLite file of the paper account (`:memory:` for a throwaway one). */
  readonly path: string;
  /** The latest market price of a symbol, or undefined before the first tick. */
  readonly priceOf: (symbol: string) => number | undefined;
  readonly feeRate?: number;
  readonly slippageBps?: number;
  /** Balances of a NEW account; an existing file keeps its own. */
  readonly startingBalances?: Readonly<Record<string, number>>;
  readonly venue?: string;
  readonly now?: () => number;
}

const SCHEMA = `
  CREATE TABLE balances (asset TEXT PRIMARY KEY NOT NULL, free REAL NOT NULL, locked REAL NOT NULL) WITHOUT ROWID;
  CREATE TABLE orders (
    venue_order_id INTEGER PRIMARY KEY AUTOINCREMENT,
    client_order_id TEXT NOT NULL UNIQUE,
    symbol TEXT NOT NULL, side TEXT NOT NULL, type TEXT NOT NULL,
    quantity REAL NOT NULL, price REAL,
    status TEXT NOT NULL, executed_qty REAL NOT NULL, quote_qty REAL NOT NULL,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
  );
  CREATE TABLE fills (
    trade_id INTEGER PRIMARY KEY AUTOINCREMENT,
    venue_order_id INTEGER NOT NULL REFERENCES orders (venue_order_id),
    price REAL NOT NULL, quantity REAL NOT NULL, fee REAL NOT NULL, fee_asset TEXT NOT NULL, time INTEGER NOT NULL
  );
  CREATE INDEX fills_by_order ON fills (venue_order_id);
`;

interface OrderRow {
  venue_order_id: number;
  client_order_id: string;
  symbol: string;
  side: 'buy' | 'sell';
  type: 'market' | 'limit';
  quantity: number;
  price: number | null;
  status: VenueOrderStatus;
  executed_qty: number;
  quote_qty: number;
  created_at: number;
}

/**
 * The embedded default venue (docs/architecture.md §11.3): a spot account in a SQLite file.
 * Market orders fill at once against the latest price moved by the slippage
 * (up for buys, down for sells) and pay the fee in the quote asset; limit
 * orders rest, with their funds locked, until the latest price crosses them
 * (checked on every call) and fill at their limit. Orders are kept by client
 * order id and a duplicate id is refused, so after a crash `findOrder` tells
 * execution whether an order went through, as it would on a real venue. An
 * order the balance cannot cover is rejected like Binance's -2010.
 */
export class PaperExchange implements ExchangeAdapter {
  readonly venue: string;
  readonly #db: Database.Database;
  readonly #priceOf: (symbol: string) => number | undefined;
  readonly #feeRate: number;
  readonly #slippage: number;
  readonly #now: () => number;
  #closed = false;

  constructor(options: PaperExchangeOptions) {
    this.venue = options.venue ?? 'paper';
    this.#priceOf = options.priceOf;
    this.#feeRate = options.feeRate ?? DEFAULT_PAPER_FEE_RATE;
    this.#slippage = (options.slippageBps ?? DEFAULT_PAPER_SLIPPAGE_BPS) / 10_000;
    this.#now = options.now ?? Date.now;
    if (!(this.#feeRate >= 0 && this.#feeRate < 1)) {
      throw new QtError('QT_CONFIG_INVALID', `paper exchange: fee rate ${this.#feeRate} is not in [0, 1)`);
    }
    if (!(this.#slippage >= 0 && this.#slippage < 1)) {
      throw new QtError('QT_CONFIG_INVALID', 'paper exchange: slippage must be in [0, 10000) bps');
    }
    this.#db = openStoreFile(options.path, SCHEMA, 1);
    const count = this.#db.prepare('SELECT count(*) AS n FROM orders').get() as { n: number };
    const funded = this.#db.prepare('SELECT count(*) AS n FROM balances').get() as { n: number };
    if (count.n === 0 && funded.n === 0) {
      const put = this.#db.prepare('INSERT INTO balances (asset, free, locked) VALUES (?, ?, 0)');
      for (const [asset, amount] of Object.entries(options.startingBalances ?? DEFAULT_PAPER_BALANCES)) {
        put.run(asset, amount);
      }
    }
  }

  async placeOrder(request: OrderRequest): Promise<VenueOrder> {
    this.#open();
    this.#match();
    const [base, quote] = splitSymbol(request.symbol);
    if (!(request.quantity > 0) || !Number.isFinite(request.quantity)) {
      throw new VenueError('rejected', `quantity ${request.quantity} is not a positive number`, { venueCode: -1013 });
    }
    if (this.#row(request.clientOrderId)) {
      throw new VenueError('rejected', 'Duplicate order sent.', { venueCode: -2010 });
    }
    const now = this.#now();
    if (request.type === 'limit') {
      const limit = request.price;
      if (limit === undefined || !(limit > 0)) {
        throw new VenueError('rejected', 'a limit order needs a positive price', { venueCode: -1102 });
      }
      return this.#db.transaction(() => {
        if (request.side === 'buy') this.#move(quote, 'lock', request.quantity * limit * (1 + this.#feeRate));
        else this.#move(base, 'lock', request.quantity);
        const id = this.#insert(request, 'new', now);
        return this.#toOrder(this.#byId(id));
      })();
    }
    const last = this.#priceOf(request.symbol);
    if (last === undefined) {
      throw new VenueError('unavailable', `no market price for ${request.symbol} yet`);
    }
    const price = request.side === 'buy' ? last * (1 + this.#slippage) : last * (1 - this.#slippage);
    return this.#db.transaction(() => {
      const id = this.#insert(request, 'new', now);
      this.#fill(this.#byId(id), price, base, quote, false, now);
      return this.#toOrder(this.#byId(id));
    })();
  }

  async findOrder(symbol: string, clientOrderId: string): Promise<VenueOrder | undefined> {
    this.#open();
    this.#match();
    const row = this.#row(clientOrderId);
    return row && row.symbol === symbol ? this.#toOrder(row) : undefined;
  }

  async cancelOrder(symbol: string, clientOrderId: string): Promise<VenueOrder | undefined> {
    this.#open();
    this.#match();
    const row = this.#row(clientOrderId);
    if (!row || row.symbol !== symbol) return undefined;
    if (row.status !== 'new' && row.status !== 'partially_filled') {
      throw new VenueError('rejected', `order ${clientOrderId} is ${row.status}; it cannot be cancelled`, {
        venueCode: -2011,
      });
    }
    const [base, quote] = splitSymbol(symbol);
    this.#db.transaction(() => {
      const remaining = row.quantity - row.executed_qty;
      if (row.side === 'buy') this.#move(quote, 'unlock', remaining * (row.price ?? 0) * (1 + this.#feeRate));
      else this.#move(base, 'unlock', remaining);
      this.#setStatus(row.venue_order_id, 'cancelled');
    })();
    return this.#toOrder(this.#byId(row.venue_order_id));
  }

  async openOrders(symbol?: string): Promise<VenueOrder[]> {
    this.#open();
    this.#match();
    const rows = this.#db
      .prepare(
        `SELECT * FROM orders WHERE status IN ('new', 'partially_filled') AND (? IS NULL OR symbol = ?) ORDER BY venue_order_id`,
      )
      .all(symbol ?? null, symbol ?? null) as OrderRow[];
    return rows.map((r) => this.#toOrder(r));
  }

  async balances(): Promise<Record<string, Balance>> {
    this.#open();
    this.#match();
    const rows = this.#db.prepare('SELECT asset, free, locked FROM balances ORDER BY asset').all() as {
      asset: string;
      free: number;
      locked: number;
    }[];
    return Object.fromEntries(rows.map((r) => [r.asset, { free: r.free, locked: r.locked }]));
  }

  /** Every order the account ever received, oldest first (for tests and the execution API). */
  allOrders(): VenueOrder[] {
    this.#open();
    const rows = this.#db.prepare('SELECT * FROM orders ORDER BY venue_order_id').all() as OrderRow[];
    return rows.map((r) => this.#toOrder(r));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }

  #open(): void {
    if (this.#closed) throw new VenueError('unavailable', 'the paper exchange is closed');
  }

  /** Fills resting limit orders the latest prices have crossed, at their limit. */
  #match(): void {
    const open = this.#db
      .prepare(`SELECT * FROM orders WHERE status IN ('new', 'partially_filled') AND type = 'limit'`)
      .all() as OrderRow[];
    for (const row of open) {
      const last = this.#priceOf(row.symbol);
      const limit = row.price;
      if (last === undefined || limit === null) continue;
      const crossed = row.side === 'buy' ? last <= limit : last >= limit;
      if (!crossed) continue;
      const [base, quote] = splitSymbol(row.symbol);
      this.#db.transaction(() => this.#fill(row, limit, base, quote, true, this.#now()))();
    }
  }

  /** Executes the rest of an order at `price` and settles the balances; runs inside a transaction. */
  #fill(row: OrderRow, price: number, base: string, quote: string, fromLocked: boolean, now: number): void {
    const quantity = row.quantity - row.executed_qty;
    const notional = quantity * price;
    const fee = notional * this.#feeRate;
    if (row.side === 'buy') {
      if (fromLocked) this.#move(quote, 'unlock', quantity * (row.price ?? price) * (1 + this.#feeRate));
      this.#move(quote, 'spend', notional + fee);
      this.#move(base, 'receive', quantity);
    } else {
      if (fromLocked) this.#move(base, 'unlock', quantity);
      this.#move(base, 'spend', quantity);
      this.#move(quote, 'receive', notional - fee);
    }
    this.#db
      .prepare('INSERT INTO fills (venue_order_id, price, quantity, fee, fee_asset, time) VALUES (?, ?, ?, ?, ?, ?)')
      .run(row.venue_order_id, price, quantity, fee, quote, now);
    this.#db
      .prepare(
        `UPDATE orders SET status = 'filled', executed_qty = quantity, quote_qty = quote_qty + ?, updated_at = ? WHERE venue_order_id = ?`,
      )
      .run(notional, now, row.venue_order_id);
  }

  /**
   * Moves an amount of an asset: `spend` takes from free, `receive` adds to
   * free, `lock`/`unlock` move between free and locked. Spending or locking
   * more than is free is the venue's insufficient-balance rejection; inside a
   * transaction it undoes the whole order.
   */
  #move(asset: string, how: 'spend' | 'receive' | 'lock' | 'unlock', amount: number): void {
    const row = this.#db.prepare('SELECT free, locked FROM balances WHERE asset = ?').get(asset) as Balance | undefined;
    let { free, locked } = row ?? { free: 0, locked: 0 };
    // A relative tolerance absorbs float dust (e.g. selling exactly what was bought).
    const dust = Math.max(1e-12, amount * 1e-9);
    if ((how === 'spend' || how === 'lock') && amount > free + dust) {
      throw new VenueError('rejected', 'Account has insufficient balance for requested action.', {
        venueCode: -2010,
      });
    }
    if (how === 'spend') free = Math.max(0, free - amount);
    else if (how === 'receive') free += amount;
    else if (how === 'lock') {
      free = Math.max(0, free - amount);
      locked += amount;
    } else {
      free += Math.min(amount, locked);
      locked = Math.max(0, locked - amount);
    }
    this.#db
      .prepare(
        'INSERT INTO balances (asset, free, locked) VALUES (?, ?, ?) ON CONFLICT (asset) DO UPDATE SET free = excluded.free, locked = excluded.locked',
      )
      .run(asset, free, locked);
  }

  #insert(request: OrderRequest, status: VenueOrderStatus, now: number): number {
    const result = this.#db
      .prepare(
        `INSERT INTO orders (client_order_id, symbol, side, type, quantity, price, status, executed_qty, quote_qty, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?)`,
      )
      .run(
        request.clientOrderId,
        request.symbol,
        request.side,
        request.type,
        request.quantity,
        request.type === 'limit' ? (request.price ?? null) : null,
        status,
        now,
        now,
      );
    return Number(result.lastInsertRowid);
  }

  #setStatus(id: number, status: VenueOrderStatus): void {
    this.#db
      .prepare('UPDATE orders SET status = ?, updated_at = ? WHERE venue_order_id = ?')
      .run(status, this.#now(), id);
  }

  #row(clientOrderId: string): OrderRow | undefined {
    return this.#db.prepare('SELECT * FROM orders WHERE client_order_id = ?').get(clientOrderId) as
      | OrderRow
      | undefined;
  }

  #byId(id: number): OrderRow {
    return this.#db.prepare('SELECT * FROM orders WHERE venue_order_id = ?').get(id) as OrderRow;
  }

  #toOrder(row: OrderRow): VenueOrder {
    const fills = (
      this.#db
        .prepare(
          'SELECT trade_id, price, quantity, fee, fee_asset FROM fills WHERE venue_order_id = ? ORDER BY trade_id',
        )
        .all(row.venue_order_id) as {
        trade_id: number;
        price: number;
        quantity: number;
        fee: number;
        fee_asset: string;
      }[]
    ).map(
      (f): VenueFill => ({
        tradeId: String(f.trade_id),
        price: f.price,
        quantity: f.quantity,
        fee: f.fee,
        feeAsset: f.fee_asset,
      }),
    );
    return {
      venue: this.venue,
      venueOrderId: String(row.venue_order_id),
      clientOrderId: row.client_order_id,
      symbol: row.symbol,
      side: row.side,
      type: row.type,
      status: row.status,
      quantity: row.quantity,
      ...(row.price === null ? {} : { price: row.price }),
      executedQuantity: row.executed_qty,
      fills,
      ...(row.executed_qty > 0 ? { averagePrice: row.quote_qty / row.executed_qty } : {}),
    };
  }
}

/** Splits a spot symbol into base and quote assets; an unknown quote is the venue's invalid-symbol rejection. */
export function splitSymbol(symbol: string): [base: string, quote: string] {
  const assets = assetsOf(symbol);
  if (assets) return [assets.base, assets.quote];
  throw new VenueError('rejected', `symbol ${symbol} has no known quote asset (${QUOTE_ASSETS.join(', ')})`, {
    venueCode: -1121,
  });
}
