import { QtError } from '../errors.js';

/**
 * The one interface execution talks to a venue through (docs/architecture.md §11.3). The paper
 * exchange is the embedded default; the Binance spot adapter is the real one.
 *
 * Contract every adapter keeps:
 * - `clientOrderId` is the idempotency key: execution always passes the
 *   order's stable id (`ord-<signalId>`), and `findOrder` looks it up.
 * - A call either resolves with what the venue answered, or rejects with a
 *   {@link VenueError} whose `kind` tells the caller what is known about the
 *   order's fate (see {@link VenueErrorKind}). Nothing else escapes.
 * - After a rejection of kind `unknown`, the caller must `findOrder` before
 *   it submits again: the order may exist at the venue.
 */
export interface ExchangeAdapter {
  /** Venue name written into order events (`paper`, `binance`, `binance-testnet`). */
  readonly venue: string;
  /** Submits an order; resolves with the venue's view of it (a market order usually comes back filled). */
  placeOrder(request: OrderRequest): Promise<VenueOrder>;
  /** The order with this client order id, or undefined when the venue has none. */
  findOrder(symbol: string, clientOrderId: string): Promise<VenueOrder | undefined>;
  /** Cancels an open order; resolves with its final state, or undefined when the venue has no such order. */
  cancelOrder(symbol: string, clientOrderId: string): Promise<VenueOrder | undefined>;
  /** Orders open at the venue, for one symbol or all. */
  openOrders(symbol?: string): Promise<VenueOrder[]>;
  /** Free and locked balance per asset. */
  balances(): Promise<Record<string, Balance>>;
  /** Releases connections and files. Idempotent. */
  close(): Promise<void>;
  /** The venue's request budget as spent now, for a venue that has one (Binance); read for metrics, spends nothing. */
  usage?(): Promise<VenueUsage>;
}

/** A venue's request-weight budget: used and allowed in the current window, and a ban in force. */
export interface VenueUsage {
  readonly weightUsed: number;
  readonly weightLimit: number;
  /** Epoch ms the ban ends; 0 when none is in force. */
  readonly bannedUntil: number;
}

/** An order as execution asks for it. */
export interface OrderRequest {
  readonly clientOrderId: string;
  readonly symbol: string;
  readonly side: 'buy' | 'sell';
  readonly type: 'market' | 'limit';
  readonly quantity: number;
  /** Limit price; required for limit orders, ignored for market orders. */
  readonly price?: number;
}

/** The life-cycle states of an order at a venue (Binance's, lower-cased). */
export type VenueOrderStatus = 'new' | 'partially_filled' | 'filled' | 'cancelled' | 'rejected' | 'expired';

/** One execution of (part of) an order. */
export interface VenueFill {
  readonly tradeId: string;
  readonly price: number;
  readonly quantity: number;
  readonly fee: number;
  readonly feeAsset: string;
}

/** An order as the venue reports it. */
export interface VenueOrder {
  readonly venue: string;
  readonly venueOrderId: string;
  readonly clientOrderId: string;
  readonly symbol: string;
  readonly side: 'buy' | 'sell';
  readonly type: 'market' | 'limit';
  readonly status: VenueOrderStatus;
  readonly quantity: number;
  readonly price?: number;
  readonly executedQuantity: number;
  /** Fills known from this answer (a lookup may return none even for a filled order). */
  readonly fills: readonly VenueFill[];
  /** Volume-weighted price of what executed; undefined when nothing did. */
  readonly averagePrice?: number;
}

/** Free and locked amount of one asset. */
export interface Balance {
  readonly free: number;
  readonly locked: number;
}

/**
 * What a failed venue call means for the order:
 * - `rejected`: the venue refused it; it does not exist; resubmitting the same
 *   request fails again (bad parameters, insufficient balance, bad signature).
 * - `rate_limited`: refused for rate (HTTP 429, -1003, -1015); safe to retry
 *   after `retryAt`.
 * - `banned`: the IP is banned (HTTP 418) until `retryAt`; no call may be made
 *   before then.
 * - `unknown`: the venue may or may not have executed it (5xx, -1006, -1007,
 *   a timeout after sending); look the order up before any resubmit.
 * - `unavailable`: the request never reached the venue (connection refused,
 *   DNS); safe to retry.
 */
export type VenueErrorKind = 'rejected' | 'rate_limited' | 'banned' | 'unknown' | 'unavailable';

const CODE_OF_KIND = {
  rejected: 'QT_VENUE_REJECTED',
  rate_limited: 'QT_VENUE_RATE_LIMITED',
  banned: 'QT_VENUE_BANNED',
  unknown: 'QT_VENUE_UNKNOWN',
  unavailable: 'QT_VENUE_UNAVAILABLE',
} as const;

/** A failed venue call, classified by what it means for the order. */
export class VenueError extends QtError {
  readonly kind: VenueErrorKind;
  /** Epoch ms before which the call must not be retried (rate limits and bans). */
  readonly retryAt: number | undefined;
  /** The venue's own error code (e.g. Binance -2010), when it gave one. */
  readonly venueCode: number | undefined;
  /** HTTP status, when the call got an HTTP answer. */
  readonly httpStatus: number | undefined;

  constructor(
    kind: VenueErrorKind,
    message: string,
    options: { retryAt?: number; venueCode?: number; httpStatus?: number; cause?: unknown } = {},
  ) {
    super(CODE_OF_KIND[kind], message, {
      ...(options.cause === undefined ? {} : { cause: options.cause }),
      details: { kind, retryAt: options.retryAt, venueCode: options.venueCode, httpStatus: options.httpStatus },
    });
    this.name = 'VenueError';
    this.kind = kind;
    this.retryAt = options.retryAt;
    this.venueCode = options.venueCode;
    this.httpStatus = options.httpStatus;
  }

  /** True when retrying the same request later may succeed. */
  get retryable(): boolean {
    return this.kind !== 'rejected';
  }
}

/** True when `err` is a {@link VenueError}, optionally of the given kind. */
export function isVenueError(err: unknown, kind?: VenueErrorKind): err is VenueError {
  return err instanceof VenueError && (kind === undefined || err.kind === kind);
}
