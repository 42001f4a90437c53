/**
 * The rows of a trade store read in key order, page by page: what
 * `qt trades migrate` copies and `qt trades verify` compares
 * (docs/trade-store.md, "Moving from SQLite"). Both stores sort keys in byte
 * order (SQLite's BINARY collation, PostgreSQL's "C"), and so does
 * {@link compareKeys}, so two stores can be walked side by side. Rows read
 * from a file are checked with zod: a value of the wrong type is named,
 * never copied.
 */
import { z } from 'zod';
import type { StoredOrder, StoredTrade } from './trade-store.js';

/** Rows per page when a store is walked. */
export const DEFAULT_PAGE_SIZE = 1_000;

/** A trade's key: venue and trade id. */
export interface TradeKey {
  readonly venue: string;
  readonly tradeId: string;
}

/** Reads a store's rows in key order, `limit` at a time, after a key (undefined: from the first). */
export interface TradeRowSource {
  /** Where the rows come from, for messages (never a password). */
  readonly label: string;
  ordersAfter(after: string | undefined, limit: number): Promise<StoredOrder[]>;
  tradesAfter(after: TradeKey | undefined, limit: number): Promise<StoredTrade[]>;
}

const text = z.string();
const finite = z.number().finite();
const epochMs = z.number().int().nonnegative();

/** An order row as a store holds it. */
export const StoredOrderSchema = z.strictObject({
  clientOrderId: text,
  venue: text,
  venueOrderId: text,
  symbol: text,
  side: text,
  type: text,
  quantity: finite,
  price: finite.nullable(),
  status: text,
  executedQuantity: finite,
  averagePrice: finite.nullable(),
  purpose: text,
  createdAt: epochMs,
  updatedAt: epochMs,
});

/** A trade row as a store holds it. */
export const StoredTradeSchema = z.strictObject({
  venue: text,
  tradeId: text,
  clientOrderId: text,
  symbol: text,
  side: text,
  price: finite,
  quantity: finite,
  fee: finite,
  feeAsset: text,
  recordedAt: epochMs,
});

/** Byte order of the UTF-8 encodings: the order of SQLite's BINARY and PostgreSQL's "C" collation. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Trade keys in the stores' order: venue, then trade id. */
export function compareTradeKeys(a: TradeKey, b: TradeKey): number {
  return compareKeys(a.venue, b.venue) || compareKeys(a.tradeId, b.tradeId);
}

/** Every order of a source, in key order. */
export async function* allOrders(source: TradeRowSource, pageSize = DEFAULT_PAGE_SIZE): AsyncGenerator<StoredOrder> {
  let after: string | undefined;
  for (;;) {
    const page = await source.ordersAfter(after, pageSize);
    yield* page;
    if (page.length < pageSize) return;
    after = page.at(-1)?.clientOrderId;
  }
}

/** Every trade of a source, in key order. */
export async function* allTrades(source: TradeRowSource, pageSize = DEFAULT_PAGE_SIZE): AsyncGenerator<StoredTrade> {
  let after: TradeKey | undefined;
  for (;;) {
    const page = await source.tradesAfter(after, pageSize);
    yield* page;
    if (page.length < pageSize) return;
    const last = page.at(-1);
    after = last ? { venue: last.venue, tradeId: last.tradeId } : undefined;
  }
}
