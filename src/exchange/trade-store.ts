/**
 * Execution's record of what the venue did (docs/architecture.md §11.3,
 * docs/trade-store.md): every order it placed, as last reported, and every
 * fill. Two stores keep the same contract: SQLite (sqlite-trade-store.ts, the
 * embedded default) and PostgreSQL (pg-trade-store.ts). Writes are
 * idempotent: an order is upserted by client order id, a trade is keyed by
 * venue and trade id, so recording the same venue answer again after a crash
 * changes nothing. The contract suite is test/exchange/trade-store-contract.ts.
 */
import type { VenueOrder } from './adapter.js';

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

/** What both stores do; every call is async because PostgreSQL's are. */
export interface TradeStore {
  /** `sqlite` or `postgres`. */
  readonly kind: string;
  /** Makes the store ready (PostgreSQL: applies its migrations under an advisory lock). Idempotent. */
  open(): Promise<void>;
  /**
   * Records a venue answer for an order, in one transaction: the order's
   * latest state (inserted, or its venue order id, status, executed quantity,
   * average price and update time replaced) and any fills not seen before.
   */
  record(order: VenueOrder, purpose: string, now: number): Promise<void>;
  /** The latest orders, newest first (by creation time, then client order id). */
  orders(limit?: number): Promise<StoredOrder[]>;
  /** The latest trades, newest first (by record time, then trade id). */
  trades(limit?: number): Promise<StoredTrade[]>;
  /** How many orders and trades are stored. */
  counts(): Promise<{ orders: number; trades: number }>;
  /** Resolves once the store answers one trivial query; rejects when it cannot be reached. */
  ping(): Promise<void>;
  /** Releases the file or the pool. Idempotent. */
  close(): Promise<void>;
}

/** The order row's values of a venue answer, as both stores write them. */
export function orderRow(order: VenueOrder, purpose: string, now: number) {
  return {
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
  };
}

/**
 * Whether a failed write will fail the same way however often it is tried:
 * the row itself is at fault (PostgreSQL SQLSTATE classes 22, data
 * exceptions, and 23, integrity violations; SQLite's constraint and type
 * errors). Anything else (a lost connection, a timeout, a server starting up
 * or shutting down, a busy file) may pass on a later attempt.
 */
export function isLastingStoreError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return false;
  if (/^2[23][0-9A-Z]{3}$/.test(code)) return true;
  return code.startsWith('SQLITE_CONSTRAINT') || code === 'SQLITE_MISMATCH' || code === 'SQLITE_TOOBIG';
}
