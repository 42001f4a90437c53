import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local HTTP server that behaves like Binance spot for the endpoints the
 * adapter uses, with Binance's answer and error shapes: it checks the API key
 * header (-2015), the HMAC-SHA256 signature over query string + body (-1022),
 * the timestamp against its own clock and `recvWindow` (-1021), keeps orders
 * by client order id (an open duplicate is -2010 "Duplicate order sent."),
 * fills market orders at a settable price with commission, and reports
 * `X-MBX-USED-WEIGHT-1M` and `X-MBX-ORDER-COUNT-10S`/`-1D`.
 *
 * Faults are scripted: {@link FakeBinance.fail} queues one; the next matching
 * request gets it. Every request is recorded, so tests can assert what
 * reached the venue. The fake reports usage but never enforces limits itself;
 * rate-limit answers come only from scripted faults.
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
} as const;

/** One request as the fake received it. */
export interface FakeRequest {
  readonly method: string;
  readonly path: string;
  /** Query and form-body parameters, signature included. */
  readonly params: Readonly<Record<string, string>>;
  /** The fake's clock when it arrived (skew included). */
  readonly time: number;
  readonly apiKey: string | undefined;
  /** HTTP status answered; undefined for a dropped connection. */
  status?: number;
  /** Client order id of the order this request created. */
  createdOrder?: string;
}

/** An order the fake holds. */
export interface FakeOrder {
  readonly orderId: number;
  readonly clientOrderId: string;
  readonly symbol: string;
  readonly side: 'BUY' | 'SELL';
  readonly type: 'MARKET' | 'LIMIT';
  status: 'NEW' | 'PARTIALLY_FILLED' | 'FILLED' | 'CANCELED';
  readonly price: number;
  readonly origQty: number;
  executedQty: number;
  cummulativeQuoteQty: number;
  readonly time: number;
  readonly fills: { price: number; qty: number; commission: number; commissionAsset: string; tradeId: number }[];
}

/** Options of {@link startFakeBinance}. */
export interface FakeBinanceOptions {
  readonly apiKey?: string;
  readonly apiSecret?: string;
  /** The fake's clock before skew (default `Date.now`); share the test's simulated clock. */
  readonly now?: () => number;
  readonly commissionRate?: number;
  readonly prices?: Record<string, number>;
  readonly balances?: Record<string, { free: number; locked: number }>;
}

/** A running fake; see {@link startFakeBinance}. */
export interface FakeBinance {
  readonly url: string;
  readonly apiKey: string;
  readonly apiSecret: string;
  readonly requests: FakeRequest[];
  /** Every order ever created, oldest first. */
  readonly orders: FakeOrder[];
  /** The newest order with this client order id. */
  order(clientOrderId: string): FakeOrder | undefined;
  /** Requests with this method and path. */
  requestsTo(method: string, path: string): FakeRequest[];
  fail(fault: FakeFault): void;
  /** Faults queued and not yet used. */
  pendingFaults(): number;
  setPrice(symbol: string, price: number): void;
  /** The fake's clock runs `ms` ahead of `now()` (negative: behind). */
  setClockSkew(ms: number): void;
  setBalance(asset: string, free: number, locked?: number): void;
  /** Sets the weight already used in the current minute, as if other clients of the IP had spent it. */
  setUsedWeight(weight: number): void;
  close(): Promise<void>;
}

const MSG: Record<number, string> = {
  [-1003]:
    'Too much request weight used; current limit is 6000 request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.',
  [-1006]: 'An unexpected response was received from the message bus. Execution status unknown.',
  [-1007]: 'Timeout waiting for response from backend server. Send status unknown; execution status unknown.',
  [-1015]: 'Too many new orders; current limit is 100 orders per 10 SECOND.',
  [-1021]: 'Timestamp for this request is outside of the recvWindow.',
  [-1022]: 'Signature for this request is not valid.',
  [-1121]: 'Invalid symbol.',
  [-2010]: 'Account has insufficient balance for requested action.',
  [-2011]: 'Unknown order sent.',
  [-2013]: 'Order does not exist.',
  [-2015]: 'Invalid API-key, IP, or permissions for action.',
};
const DECIMAL = /^([0-9]{1,20})(\.[0-9]{1,20})?$/;
const QUOTES = ['USDT', 'USDC', 'FDUSD', 'BUSD', 'BTC', 'ETH', 'BNB'];
const WEIGHTS: Record<string, number> = {
  'POST /api/v3/order': 1,
  'GET /api/v3/order': 4,
  'DELETE /api/v3/order': 1,
  'GET /api/v3/openOrders': 6,
  'GET /api/v3/account': 20,
  'GET /api/v3/time': 1,
};

type Answer = { status: number; body: unknown };
class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    msg?: string,
  ) {
    super(msg ?? MSG[code] ?? 'error');
  }
}

/** Starts the fake on 127.0.0.1 on a free port. */
export async function startFakeBinance(options: FakeBinanceOptions = {}): Promise<FakeBinance> {
  const apiKey = options.apiKey ?? 'fake-api-key-0123456789';
  const apiSecret = options.apiSecret ?? 'fake-api-secret-9876543210';
  const baseNow = options.now ?? Date.now;
  const commissionRate = options.commissionRate ?? 0.001;
  const prices = new Map(Object.entries(options.prices ?? { BTCUSDT: 50_000, ETHUSDT: 3000 }));
  const balances = new Map(Object.entries(options.balances ?? { USDT: { free: 10_000, locked: 0 } }));
  const requests: FakeRequest[] = [];
  const orders: FakeOrder[] = [];
  const faults: { fault: FakeFault; left: number }[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const counters = new Map<string, number>();
  let skew = 0;
  let nextOrderId = 1;
  let nextTradeId = 1;
  const now = () => baseNow() + skew;
  const bump = (name: string, ms: number, by: number) => {
    const key = `${name}:${Math.floor(now() / ms)}`;
    counters.set(key, (counters.get(key) ?? 0) + by);
    return counters.get(key) ?? 0;
  };
  const find = (id: string) => orders.findLast((o) => o.clientOrderId === id);
  const isOpen = (o: FakeOrder) => o.status === 'NEW' || o.status === 'PARTIALLY_FILLED';

  const takeFault = (method: string, path: string): FakeFault | undefined => {
    const i = faults.findIndex(
      (f) => (f.fault.method ?? method) === method && (f.fault.path ?? path) === path && f.left > 0,
    );
    const slot = faults[i];
    if (!slot) return undefined;
    if (--slot.left === 0) faults.splice(i, 1);
    return slot.fault;
  };

  const authenticate = (req: IncomingMessage, query: string, body: string, params: Record<string, string>) => {
    if (req.headers['x-mbx-apikey'] !== apiKey) throw new Refusal(401, -2015);
    const signature = params.signature;
    if (!signature)
      throw new Refusal(400, -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.");
    const strip = (s: string) =>
      s
        .split('&')
        .filter((p) => p && !p.startsWith('signature='))
        .join('&');
    const expected = createHmac('sha256', apiSecret)
      .update(`${strip(query)}${strip(body)}`)
      .digest('hex');
    if (signature.length !== expected.length || !timingSafeEqual(Buffer.from(signature), Buffer.from(expected)))
      throw new Refusal(400, -1022);
    const timestamp = Number(params.timestamp);
    const recvWindow = Number(params.recvWindow ?? 5000);
    if (!Number.isFinite(timestamp))
      throw new Refusal(400, -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.");
    if (recvWindow > 60_000) throw new Refusal(400, -1131, 'recvWindow must be less than 60000');
    const server = now();
    if (timestamp >= server + 1000)
      throw new Refusal(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.");
    if (server - timestamp > recvWindow) throw new Refusal(400, -1021);
  };

  const need = (params: Record<string, string>, name: string): string => {
    const v = params[name];
    if (v === undefined || v === '')
      throw new Refusal(400, -1102, `Mandatory parameter '${name}' was not sent, was empty/null, or malformed.`);
    return v;
  };
  const decimal = (params: Record<string, string>, name: string): number => {
    const v = need(params, name);
    if (!DECIMAL.test(v))
      throw new Refusal(
        400,
        -1100,
        `Illegal characters found in parameter '${name}'; legal range is '${DECIMAL.source}'.`,
      );
    return Number(v);
  };
  const fmt = (n: number) => n.toFixed(8);
  const queryShape = (o: FakeOrder) => ({
    symbol: o.symbol,
    orderId: o.orderId,
    orderListId: -1,
    clientOrderId: o.clientOrderId,
    price: fmt(o.price),
    origQty: fmt(o.origQty),
    executedQty: fmt(o.executedQty),
    cummulativeQuoteQty: fmt(o.cummulativeQuoteQty),
    status: o.status,
    timeInForce: 'GTC',
    type: o.type,
    side: o.side,
    stopPrice: '0.00000000',
    icebergQty: '0.00000000',
    time: o.time,
    updateTime: o.time,
    isWorking: true,
    workingTime: o.time,
    origQuoteOrderQty: '0.00000000',
    selfTradePreventionMode: 'EXPIRE_MAKER',
  });

  const newOrder = (params: Record<string, string>, record: FakeRequest): Answer => {
    const symbol = need(params, 'symbol');
    const market = prices.get(symbol);
    if (market === undefined) throw new Refusal(400, -1121);
    const side = need(params, 'side');
    const type = need(params, 'type');
    if ((side !== 'BUY' && side !== 'SELL') || (type !== 'MARKET' && type !== 'LIMIT'))
      throw new Refusal(400, -1116, 'Invalid orderType.');
    const qty = decimal(params, 'quantity');
    const price = type === 'LIMIT' ? decimal(params, 'price') : 0;
    if (type === 'LIMIT' && need(params, 'timeInForce') !== 'GTC')
      throw new Refusal(400, -1115, 'Invalid timeInForce.');
    const clientOrderId = params.newClientOrderId ?? `fake-${nextOrderId}`;
    const existing = find(clientOrderId);
    if (existing && isOpen(existing)) throw new Refusal(400, -2010, 'Duplicate order sent.');
    const order: FakeOrder = {
      orderId: nextOrderId++,
      clientOrderId,
      symbol,
      side,
      type,
      status: 'NEW',
      price,
      origQty: qty,
      executedQty: 0,
      cummulativeQuoteQty: 0,
      time: now(),
      fills: [],
    };
    const marketable = type === 'MARKET' || (side === 'BUY' ? price >= market : price <= market);
    if (marketable) {
      // Commission is charged in the asset received, as on Binance without BNB discounts.
      const quote = QUOTES.find((q) => symbol.endsWith(q) && symbol.length > q.length) ?? 'USDT';
      const base = symbol.slice(0, symbol.length - quote.length);
      const commission = side === 'BUY' ? qty * commissionRate : qty * market * commissionRate;
      order.fills.push({
        price: market,
        qty,
        commission,
        commissionAsset: side === 'BUY' ? base : quote,
        tradeId: nextTradeId++,
      });
      order.status = 'FILLED';
      order.executedQty = qty;
      order.cummulativeQuoteQty = qty * market;
    }
    orders.push(order);
    record.createdOrder = clientOrderId;
    bump('orders10s', 10_000, 1);
    bump('orders1d', 86_400_000, 1);
    const fills = order.fills.map((f) => ({
      ...f,
      price: fmt(f.price),
      qty: fmt(f.qty),
      commission: fmt(f.commission),
    }));
    return { status: 200, body: { ...queryShape(order), transactTime: order.time, fills } };
  };

  const routes: Record<string, (params: Record<string, string>, record: FakeRequest) => Answer> = {
    'GET /api/v3/time': () => ({ status: 200, body: { serverTime: now() } }),
    'POST /api/v3/order': newOrder,
    'GET /api/v3/order': (params) => {
      need(params, 'symbol');
      const o = find(need(params, 'origClientOrderId'));
      if (!o || o.symbol !== params.symbol) throw new Refusal(400, -2013);
      return { status: 200, body: queryShape(o) };
    },
    'DELETE /api/v3/order': (params) => {
      need(params, 'symbol');
      const o = find(need(params, 'origClientOrderId'));
      if (!o || o.symbol !== params.symbol || !isOpen(o)) throw new Refusal(400, -2011);
      o.status = 'CANCELED';
      const { stopPrice: _s, icebergQty: _i, time: _t, updateTime: _u, isWorking: _w, ...shape } = queryShape(o);
      return {
        status: 200,
        body: {
          ...shape,
          origClientOrderId: o.clientOrderId,
          clientOrderId: `cancel-${o.orderId}`,
          transactTime: now(),
        },
      };
    },
    'GET /api/v3/openOrders': (params) => ({
      status: 200,
      body: orders.filter((o) => isOpen(o) && (!params.symbol || o.symbol === params.symbol)).map(queryShape),
    }),
    'GET /api/v3/account': (params) => ({
      status: 200,
      body: {
        makerCommission: 10,
        takerCommission: 10,
        canTrade: true,
        accountType: 'SPOT',
        balances: [...balances]
          .filter(([, b]) => params.omitZeroBalances !== 'true' || b.free > 0 || b.locked > 0)
          .map(([asset, b]) => ({ asset, free: fmt(b.free), locked: fmt(b.locked) })),
        permissions: ['SPOT'],
        uid: 42,
      },
    }),
  };

  const send = (res: ServerResponse, record: FakeRequest, answer: Answer, headers: Record<string, string>) => {
    record.status = answer.status;
    const text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
    const type = typeof answer.body === 'string' ? 'text/plain' : 'application/json;charset=UTF-8';
    res.writeHead(answer.status, { 'content-type': type, ...headers });
    res.end(text);
  };

  const faultAnswer = (fault: FakeFault): Answer => {
    const status = fault.status ?? 500;
    if (fault.code === undefined) return { status, body: status >= 500 ? 'Service Unavailable' : '' };
    const msg =
      fault.msg ??
      (status === 418
        ? `Way too much request weight used; IP banned until ${now() + (fault.retryAfterSec ?? 120) * 1000}. Please use WebSocket Streams for live updates to avoid bans.`
        : (MSG[fault.code] ?? 'error'));
    return { status, body: { code: fault.code, msg } };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://fake');
    const query = url.search.slice(1);
    const method = req.method ?? 'GET';
    const path = url.pathname;
    const params = Object.fromEntries(new URLSearchParams(body ? `${query}&${body}` : query));
    const apiKeyHeader = req.headers['x-mbx-apikey'];
    const record: FakeRequest = {
      method,
      path,
      params,
      time: now(),
      apiKey: typeof apiKeyHeader === 'string' ? apiKeyHeader : undefined,
    };
    requests.push(record);
    const route = routes[`${method} ${path}`];
    if (!route) return send(res, record, { status: 404, body: '' }, {});
    const weight = path === '/api/v3/openOrders' && !params.symbol ? 80 : (WEIGHTS[`${method} ${path}`] ?? 1);
    const headers: Record<string, string> = { 'x-mbx-used-weight-1m': String(bump('weight1m', 60_000, weight)) };
    const fault = takeFault(method, path);
    const retryAfter: Record<string, string> =
      fault?.retryAfterSec === undefined ? {} : { 'retry-after': String(fault.retryAfterSec) };
    if (fault && !fault.afterProcessing && fault.kind !== 'delay') {
      if (fault.kind === 'drop') return void res.socket?.destroy();
      return send(res, record, faultAnswer(fault), { ...headers, ...retryAfter });
    }
    let answer: Answer;
    try {
      if (path !== '/api/v3/time') authenticate(req, query, body, params);
      answer = route(params, record);
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      answer = { status: err.status, body: { code: err.code, msg: err.message } };
    }
    if (method === 'POST') {
      headers['x-mbx-order-count-10s'] = String(bump('orders10s', 10_000, 0));
      headers['x-mbx-order-count-1d'] = String(bump('orders1d', 86_400_000, 0));
    }
    if (fault?.kind === 'drop') return void res.socket?.destroy();
    if (fault?.kind === 'error') return send(res, record, faultAnswer(fault), { ...headers, ...retryAfter });
    if (fault?.kind === 'delay') {
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (!res.destroyed) send(res, record, answer, headers);
      }, fault.delayMs ?? 1000);
      timers.add(timer);
      return;
    }
    send(res, record, answer, headers);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;

  return {
    url: `http://127.0.0.1:${port}`,
    apiKey,
    apiSecret,
    requests,
    orders,
    order: find,
    requestsTo: (method, path) => requests.filter((r) => r.method === method && r.path === path),
    fail: (fault) => {
      faults.push({ fault, left: fault.times ?? 1 });
    },
    pendingFaults: () => faults.reduce((n, f) => n + f.left, 0),
    setPrice: (symbol, price) => {
      prices.set(symbol, price);
    },
    setClockSkew: (ms) => {
      skew = ms;
    },
    setBalance: (asset, free, locked = 0) => {
      balances.set(asset, { free, locked });
    },
    setUsedWeight: (weight) => {
      counters.set(`weight1m:${Math.floor(now() / 60_000)}`, weight);
    },
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        timers.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

/** A clock tests advance by hand: `sleep` records the wait and moves time on at once. */
export interface SimulatedClock {
  now(): number;
  sleep(ms: number): Promise<void>;
  /** Every wait passed to `sleep`, in order. */
  readonly sleeps: number[];
  advance(ms: number): void;
}

/**
 * A simulated clock starting at `start` (default: one second into a minute,
 * so budget windows are predictable). Share it between the adapters and the
 * fake so the fake's timestamp check agrees with them.
 */
export function simulatedClock(start = 1_750_000_020_000 + 1000): SimulatedClock {
  let t = start;
  const sleeps: number[] = [];
  return {
    now: () => t,
    sleep: async (ms) => {
      sleeps.push(ms);
      t += ms;
    },
    sleeps,
    advance: (ms) => {
      t += ms;
    },
  };
}
