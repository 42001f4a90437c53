import { z } from 'zod';
import type { Balance, VenueFill, VenueOrder, VenueOrderStatus } from '../adapter.js';

/**
 * zod schemas of the Binance spot answers the adapter reads, and their mapping
 * to the venue-neutral types of `adapter.ts`. Binance sends amounts as decimal
 * strings; they become numbers here and nowhere else. Unknown fields pass, so
 * a field Binance adds later does not break parsing.
 */

const decimal = z
  .string()
  .regex(/^-?\d+(\.\d+)?$/, 'decimal string')
  .transform(Number);

/** An error body: `{"code":-2013,"msg":"Order does not exist."}`. */
export const BinanceErrorBodySchema = z.object({ code: z.number().int(), msg: z.string() });

/** `GET /api/v3/time`. */
export const BinanceServerTimeSchema = z.object({ serverTime: z.number().int().positive() });

/** Order statuses Binance reports for spot orders. */
export const BinanceOrderStatusSchema = z.enum([
  'NEW',
  'PENDING_NEW',
  'PARTIALLY_FILLED',
  'FILLED',
  'CANCELED',
  'PENDING_CANCEL',
  'REJECTED',
  'EXPIRED',
  'EXPIRED_IN_MATCH',
]);
export type BinanceOrderStatus = z.infer<typeof BinanceOrderStatusSchema>;

/** One fill of a `newOrderRespType=FULL` answer. */
export const BinanceFillSchema = z.object({
  price: decimal,
  qty: decimal,
  commission: decimal,
  commissionAsset: z.string(),
  tradeId: z.number().int(),
});

/**
 * An order as `POST`, `GET` and `DELETE /api/v3/order` and `/openOrders`
 * return it. A cancel answer carries the order's id in `origClientOrderId`
 * (its `clientOrderId` is the cancel request's own id).
 */
export const BinanceOrderSchema = z.object({
  symbol: z.string(),
  orderId: z.number().int(),
  clientOrderId: z.string(),
  origClientOrderId: z.string().optional(),
  price: decimal,
  origQty: decimal,
  executedQty: decimal,
  cummulativeQuoteQty: decimal,
  status: BinanceOrderStatusSchema,
  // Orders placed by other tools can be LIMIT_MAKER, STOP_LOSS_LIMIT, ...: accepted, mapped to 'limit'.
  type: z.string(),
  side: z.enum(['BUY', 'SELL']),
  fills: z.array(BinanceFillSchema).optional(),
});
export type BinanceOrder = z.infer<typeof BinanceOrderSchema>;

/** One trade of `GET /api/v3/myTrades`: a fill of an order, with its commission. */
export const BinanceTradeSchema = z.object({
  id: z.number().int(),
  orderId: z.number().int(),
  price: decimal,
  qty: decimal,
  commission: decimal,
  commissionAsset: z.string(),
});

/** `GET /api/v3/myTrades`. */
export const BinanceTradesSchema = z.array(BinanceTradeSchema);
export type BinanceTrade = z.infer<typeof BinanceTradeSchema>;

/** An order's trades as its {@link VenueFill}s. */
export function toVenueFills(trades: readonly BinanceTrade[]): VenueFill[] {
  return trades.map((t) => ({
    tradeId: String(t.id),
    price: t.price,
    quantity: t.qty,
    fee: t.commission,
    feeAsset: t.commissionAsset,
  }));
}

/** `GET /api/v3/openOrders`. */
export const BinanceOpenOrdersSchema = z.array(BinanceOrderSchema);

/** `GET /api/v3/account` (only the balances are read). */
export const BinanceAccountSchema = z.object({
  balances: z.array(z.object({ asset: z.string(), free: decimal, locked: decimal })),
});
export type BinanceAccount = z.infer<typeof BinanceAccountSchema>;

const STATUS: Record<BinanceOrderStatus, VenueOrderStatus> = {
  NEW: 'new',
  // Pending states are still working orders from the runtime's point of view.
  PENDING_NEW: 'new',
  PARTIALLY_FILLED: 'partially_filled',
  FILLED: 'filled',
  CANCELED: 'cancelled',
  PENDING_CANCEL: 'new',
  REJECTED: 'rejected',
  EXPIRED: 'expired',
  EXPIRED_IN_MATCH: 'expired',
};

/** Binance's order status as the runtime's {@link VenueOrderStatus}. */
export function toVenueStatus(status: BinanceOrderStatus): VenueOrderStatus {
  return STATUS[status];
}

/**
 * A Binance order as a {@link VenueOrder}. `clientOrderId` overrides the id
 * Binance reports: the adapter may have sent a derived id (see
 * `toVenueClientOrderId`), and callers must get back the id they passed.
 */
export function toVenueOrder(venue: string, order: BinanceOrder, clientOrderId?: string): VenueOrder {
  const fills: VenueFill[] = (order.fills ?? []).map((f) => ({
    tradeId: String(f.tradeId),
    price: f.price,
    quantity: f.qty,
    fee: f.commission,
    feeAsset: f.commissionAsset,
  }));
  const type = order.type === 'MARKET' ? 'market' : 'limit';
  return {
    venue,
    venueOrderId: String(order.orderId),
    clientOrderId: clientOrderId ?? order.origClientOrderId ?? order.clientOrderId,
    symbol: order.symbol,
    side: order.side === 'BUY' ? 'buy' : 'sell',
    type,
    status: toVenueStatus(order.status),
    quantity: order.origQty,
    // Binance reports price 0 for market orders: there is no limit price.
    ...(type === 'limit' && order.price > 0 ? { price: order.price } : {}),
    executedQuantity: order.executedQty,
    fills,
    ...(order.executedQty > 0 ? { averagePrice: order.cummulativeQuoteQty / order.executedQty } : {}),
  };
}

/** The account's balances per asset. */
export function toBalances(account: BinanceAccount): Record<string, Balance> {
  const out: Record<string, Balance> = {};
  for (const b of account.balances) out[b.asset] = { free: b.free, locked: b.locked };
  return out;
}
