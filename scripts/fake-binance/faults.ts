/**
 * The scripted faults of the fake Binance (`server.ts`): what one fault
 * does, ready-made faults shaped like Binance's real answers, and the
 * messages Binance sends with its error codes.
 */

/** A scripted fault, applied to the next request that matches `method`/`path` (any when omitted). */
export interface FakeFault {
  /** `error`: answer `status` with `{code,msg}`; `drop`: close the socket unanswered; `delay`: answer late. */
  readonly kind: 'error' | 'drop' | 'delay';
  readonly status?: number;
  /** Binance error code; without one, a 5xx answers a plain-text body as a proxy would. */
  readonly code?: number;
  readonly msg?: string;
  /** Adds `Retry-After: <seconds>`. */
  readonly retryAfterSec?: number;
  /** Execute the request (create the order) first, then fail: the client cannot know it worked. */
  readonly afterProcessing?: boolean;
  readonly delayMs?: number;
  readonly method?: string;
  readonly path?: string;
  /** How many matching requests get it (default 1). */
  readonly times?: number;
}

/** Ready-made faults shaped like Binance's real answers. */
export const FAULTS = {
  http429: (retryAfterSec: number, extra: Partial<FakeFault> = {}): FakeFault => ({
    kind: 'error',
    status: 429,
    code: -1003,
    retryAfterSec,
    ...extra,
  }),
  http418: (retryAfterSec: number, extra: Partial<FakeFault> = {}): FakeFault => ({
    kind: 'error',
    status: 418,
    code: -1003,
    retryAfterSec,
    ...extra,
  }),
  tooManyRequests: (extra: Partial<FakeFault> = {}): FakeFault => ({
    kind: 'error',
    status: 429,
    code: -1003,
    ...extra,
  }),
  tooManyOrders: (extra: Partial<FakeFault> = {}): FakeFault => ({ kind: 'error', status: 429, code: -1015, ...extra }),
  /** A 5xx answered before anything was done, plain text as a proxy sends it. */
  serverError: (status: 500 | 502 | 503 | 504, extra: Partial<FakeFault> = {}): FakeFault => ({
    kind: 'error',
    status,
    ...extra,
  }),
  /** A 5xx answered after the order was created. */
  serverErrorAfterCreate: (status: 500 | 502 | 503 | 504, extra: Partial<FakeFault> = {}): FakeFault => ({
    kind: 'error',
    status,
    afterProcessing: true,
    method: 'POST',
    path: '/api/v3/order',
    ...extra,
  }),
  /** -1006 / -1007 answered after the order was created. */
  unknownAfterCreate: (code: -1006 | -1007, extra: Partial<FakeFault> = {}): FakeFault => ({
    kind: 'error',
    status: code === -1007 ? 408 : 500,
    code,
    afterProcessing: true,
    method: 'POST',
    path: '/api/v3/order',
    ...extra,
  }),
  dropAfterCreate: (extra: Partial<FakeFault> = {}): FakeFault => ({
    kind: 'drop',
    afterProcessing: true,
    method: 'POST',
    path: '/api/v3/order',
    ...extra,
  }),
  /** The order is created at once and its answer held for `delayMs`: the call stays in flight. */
  holdAfterCreate: (delayMs: number, extra: Partial<FakeFault> = {}): FakeFault => ({
    kind: 'delay',
    delayMs,
    method: 'POST',
    path: '/api/v3/order',
    ...extra,
  }),
} as const;

/** Binance's messages for the error codes the fake answers. */
export const BINANCE_MESSAGES: Readonly<Record<number, string>> = {
  [-1003]:
    'Too much request weight used; current limit is 6000 request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.',
  [-1006]: 'An unexpected response was received from the message bus. Execution status unknown.',
  [-1007]: 'Timeout waiting for response from backend server. Send status unknown; execution status unknown.',
  [-1013]: 'Filter failure: LOT_SIZE',
  [-1015]: 'Too many new orders; current limit is 100 orders per 10 SECOND.',
  [-1021]: 'Timestamp for this request is outside of the recvWindow.',
  [-1022]: 'Signature for this request is not valid.',
  [-1121]: 'Invalid symbol.',
  [-2010]: 'Account has insufficient balance for requested action.',
  [-2011]: 'Unknown order sent.',
  [-2013]: 'Order does not exist.',
  [-2015]: 'Invalid API-key, IP, or permissions for action.',
};
