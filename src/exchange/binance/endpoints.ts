/**
 * The Binance spot REST endpoints the adapter calls, with the request weight
 * Binance documents for each. The weight is what a call spends of the shared
 * per-minute budget before it is sent, so the table is the one place to
 * update when Binance changes its numbers.
 */

/** Binance spot mainnet REST base URL. */
export const BINANCE_MAINNET_URL = 'https://api.binance.com';

/** Binance spot testnet REST base URL. */
export const BINANCE_TESTNET_URL = 'https://testnet.binance.vision';

/** One REST endpoint: method, path, whether it is signed, its weight, and whether it counts as a new order. */
export interface BinanceEndpoint {
  readonly method: 'GET' | 'POST' | 'DELETE';
  readonly path: string;
  readonly signed: boolean;
  /** Request weight Binance charges against `X-MBX-USED-WEIGHT-1M`. */
  readonly weight: number;
  /** True when the call counts against `X-MBX-ORDER-COUNT-*` (new orders only). */
  readonly placesOrder: boolean;
  /** True when sending it twice cannot do anything twice, so an `unknown` answer may simply be retried. */
  readonly idempotent: boolean;
}

/**
 * Documented weights (Binance spot API, 2024-2025): new order 1, query order
 * 4, cancel order 1, open orders 6 for one symbol and 80 for all, account 20,
 * server time 1, an order's trades (`myTrades` with `orderId`) 5, exchange
 * information 20 (with or without `symbol`).
 */
export const BINANCE_ENDPOINTS = {
  newOrder: { method: 'POST', path: '/api/v3/order', signed: true, weight: 1, placesOrder: true, idempotent: false },
  queryOrder: { method: 'GET', path: '/api/v3/order', signed: true, weight: 4, placesOrder: false, idempotent: true },
  cancelOrder: {
    method: 'DELETE',
    path: '/api/v3/order',
    signed: true,
    weight: 1,
    placesOrder: false,
    idempotent: false,
  },
  openOrdersOneSymbol: {
    method: 'GET',
    path: '/api/v3/openOrders',
    signed: true,
    weight: 6,
    placesOrder: false,
    idempotent: true,
  },
  openOrdersAll: {
    method: 'GET',
    path: '/api/v3/openOrders',
    signed: true,
    weight: 80,
    placesOrder: false,
    idempotent: true,
  },
  account: { method: 'GET', path: '/api/v3/account', signed: true, weight: 20, placesOrder: false, idempotent: true },
  time: { method: 'GET', path: '/api/v3/time', signed: false, weight: 1, placesOrder: false, idempotent: true },
  /** The trades of one order (`orderId` given): what a lookup's answer lacks, the fills and their commission. */
  orderTrades: {
    method: 'GET',
    path: '/api/v3/myTrades',
    signed: true,
    weight: 5,
    placesOrder: false,
    idempotent: true,
  },
  /** One symbol's trading rules (`symbol` given): the filters applied before an order is sent. */
  exchangeInfo: {
    method: 'GET',
    path: '/api/v3/exchangeInfo',
    signed: false,
    weight: 20,
    placesOrder: false,
    idempotent: true,
  },
} as const satisfies Record<string, BinanceEndpoint>;

/** Binance error codes the adapter branches on. */
export const BINANCE_CODES = {
  UNKNOWN: -1000,
  /** "Filter failure: LOT_SIZE" and the other filters' refusals. */
  INVALID_MESSAGE: -1013,
  TOO_MANY_REQUESTS: -1003,
  UNEXPECTED_RESPONSE: -1006,
  TIMEOUT: -1007,
  TOO_MANY_ORDERS: -1015,
  INVALID_TIMESTAMP: -1021,
  INVALID_SIGNATURE: -1022,
  NEW_ORDER_REJECTED: -2010,
  CANCEL_REJECTED: -2011,
  NO_SUCH_ORDER: -2013,
  BAD_API_KEY_FMT: -2014,
  REJECTED_MBX_KEY: -2015,
} as const;
