/**
 * A local HTTP server that behaves like Binance spot for the endpoints the
 * adapter, the live feed's back-fill and monitoring's probe use, with Binance's answer and error
 * shapes: it checks the API key header (-2015), the HMAC-SHA256 signature
 * over query string + body (-1022), the timestamp against its own clock and
 * `recvWindow` (-1021), keeps orders by client order id (`orders.ts`),
 * serves each symbol's filters on `GET /api/v3/exchangeInfo` and refuses an
 * order that fails one (-1013, `filters.ts`), answers `GET /api/v3/klines`
 * from a source the caller sets, and reports
 * `X-MBX-USED-WEIGHT-1M` and `X-MBX-ORDER-COUNT-10S`/`-1D`.
 *
 * Faults are scripted (`faults.ts`): {@link FakeBinance.fail} queues one;
 * the next matching request gets it. Every request is recorded, so tests and
 * the failure simulations can assert what reached the venue, and the weight
 * each minute carried is kept ({@link FakeBinance.weightWindows}). The fake
 * reports usage but never enforces limits itself; rate-limit answers come
 * only from scripted faults. With `enforceBans`, a 418 it answered bans the
 * IP as Binance does: every request until the ban ends is answered 418.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BINANCE_MESSAGES, type FakeFault } from './faults.js';
import type { FakeFilter } from './filters.js';
import { type Answer, FakeAccount, type FakeOrder, need, Refusal } from './orders.js';

export type { FakeFilter } from './filters.js';
export type { FakeOrder } from './orders.js';

/** One request as the fake received it. */
export interface FakeRequest {
  readonly method: string;
  readonly path: string;
  /** Query and form-body parameters, signature included. */
  readonly params: Readonly<Record<string, string>>;
  /** The fake's clock when it arrived (skew included). */
  readonly time: number;
  readonly apiKey: string | undefined;
  /** HTTP status answered; undefined for a dropped connection (or one still held). */
  status?: number;
  /** Client order id of the order this request created. */
  createdOrder?: string;
  /** Answered 418 because a ban was in force (`enforceBans`). */
  refusedByBan?: boolean;
}

/** A ban the fake imposed by answering 418: from the answer to `until` (its clock). */
export interface FakeBan {
  readonly from: number;
  readonly until: number;
}

/** A `GET /api/v3/klines` query. */
export interface KlinesQuery {
  readonly symbol: string;
  readonly interval: string;
  readonly startTime: number | undefined;
  readonly endTime: number | undefined;
  readonly limit: number;
}

/** Binance's 12-column kline rows for a query. */
export type KlineSource = (query: KlinesQuery) => unknown[][];

/** Options of {@link startFakeBinance}. */
export interface FakeBinanceOptions {
  readonly apiKey?: string;
  readonly apiSecret?: string;
  /** The fake's clock before skew (default `Date.now`); share the test's simulated clock. */
  readonly now?: () => number;
  readonly commissionRate?: number;
  readonly prices?: Record<string, number>;
  readonly balances?: Record<string, { free: number; locked: number }>;
  /**
   * Symbol filters by symbol, over `DEFAULT_SYMBOL_FILTERS` (BTCUSDT and
   * ETHUSDT as Binance lists them); other symbols get 8-decimal steps.
   */
  readonly filters?: Record<string, readonly FakeFilter[]>;
  /** Fills move the balances (default false: balances stay as set). */
  readonly settle?: boolean;
  /** A 418 answered bans every request until its end, as Binance does (default false). */
  readonly enforceBans?: boolean;
  /** Answers `GET /api/v3/klines` (default: no candles). */
  readonly klines?: KlineSource;
}

/** A running fake; see {@link startFakeBinance}. */
export interface FakeBinance {
  readonly url: string;
  readonly apiKey: string;
  readonly apiSecret: string;
  readonly requests: FakeRequest[];
  /** Every order ever created, oldest first. */
  readonly orders: FakeOrder[];
  /** Every ban imposed by a 418, oldest first. */
  readonly bans: FakeBan[];
  /** The newest order with this client order id. */
  order(clientOrderId: string): FakeOrder | undefined;
  /** Requests with this method and path. */
  requestsTo(method: string, path: string): FakeRequest[];
  /** Calls `listener` with each request as it arrives, before it is answered. */
  onRequest(listener: (request: FakeRequest) => void): void;
  fail(fault: FakeFault): void;
  /** Faults queued and not yet used. */
  pendingFaults(): number;
  setPrice(symbol: string, price: number): void;
  /** The fake's clock runs `ms` ahead of `now()` (negative: behind). */
  setClockSkew(ms: number): void;
  setBalance(asset: string, free: number, locked?: number): void;
  /** Replaces a symbol's filters (exchangeInfo lists them and new orders must pass them from now on). */
  setFilters(symbol: string, filters: readonly FakeFilter[]): void;
  /** Sets the weight already used in the current minute, as if other clients of the IP had spent it. */
  setUsedWeight(weight: number): void;
  /** The request weight counted in each minute (epoch-aligned, its start in ms), oldest first. */
  weightWindows(): { start: number; weight: number }[];
  close(): Promise<void>;
}

const WEIGHTS: Record<string, number> = {
  'POST /api/v3/order': 1,
  'GET /api/v3/order': 4,
  'DELETE /api/v3/order': 1,
  'GET /api/v3/openOrders': 6,
  'GET /api/v3/account': 20,
  'GET /api/v3/myTrades': 5,
  'GET /api/v3/time': 1,
  'GET /api/v3/ping': 1,
  'GET /api/v3/klines': 2,
  'GET /api/v3/exchangeInfo': 20,
};
/** Endpoints answered without a signature. */
const UNSIGNED = new Set(['/api/v3/time', '/api/v3/ping', '/api/v3/klines', '/api/v3/exchangeInfo']);
const MINUTE_MS = 60_000;

/** Starts the fake on 127.0.0.1 on a free port. */
export async function startFakeBinance(options: FakeBinanceOptions = {}): Promise<FakeBinance> {
  const apiKey = options.apiKey ?? 'fake-api-key-0123456789';
  const apiSecret = options.apiSecret ?? 'fake-api-secret-9876543210';
  const baseNow = options.now ?? Date.now;
  let skew = 0;
  const now = () => baseNow() + skew;
  const account = new FakeAccount({
    commissionRate: options.commissionRate ?? 0.001,
    prices: options.prices ?? { BTCUSDT: 50_000, ETHUSDT: 3000 },
    balances: options.balances ?? { USDT: { free: 10_000, locked: 0 } },
    filters: options.filters ?? {},
    settle: options.settle ?? false,
    now,
  });
  const klines: KlineSource = options.klines ?? (() => []);
  const requests: FakeRequest[] = [];
  const bans: FakeBan[] = [];
  const listeners: ((r: FakeRequest) => void)[] = [];
  const faults: { fault: FakeFault; left: number }[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const counters = new Map<string, number>();
  const bump = (name: string, ms: number, by: number) => {
    const key = `${name}:${Math.floor(now() / ms)}`;
    counters.set(key, (counters.get(key) ?? 0) + by);
    return counters.get(key) ?? 0;
  };

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

  const optionalNumber = (v: string | undefined) => (v === undefined || v === '' ? undefined : Number(v));
  const routes: Record<string, (params: Record<string, string>, record: FakeRequest) => Answer> = {
    'GET /api/v3/time': () => ({ status: 200, body: { serverTime: now() } }),
    'GET /api/v3/ping': () => ({ status: 200, body: {} }),
    'GET /api/v3/exchangeInfo': (params) => account.exchangeInfo(params),
    'POST /api/v3/order': (params, record) => {
      const { answer, clientOrderId } = account.create(params);
      record.createdOrder = clientOrderId;
      bump('orders10s', 10_000, 1);
      bump('orders1d', 86_400_000, 1);
      return answer;
    },
    'GET /api/v3/order': (params) => account.query(params),
    'DELETE /api/v3/order': (params) => account.cancel(params),
    'GET /api/v3/openOrders': (params) => account.openOrders(params),
    'GET /api/v3/account': (params) => account.account(params),
    'GET /api/v3/myTrades': (params) => account.trades(params),
    'GET /api/v3/klines': (params) => ({
      status: 200,
      body: klines({
        symbol: need(params, 'symbol'),
        interval: need(params, 'interval'),
        startTime: optionalNumber(params.startTime),
        endTime: optionalNumber(params.endTime),
        limit: optionalNumber(params.limit) ?? 500,
      }),
    }),
  };

  const send = (res: ServerResponse, record: FakeRequest, answer: Answer, headers: Record<string, string>) => {
    record.status = answer.status;
    const text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
    const type = typeof answer.body === 'string' ? 'text/plain' : 'application/json;charset=UTF-8';
    res.writeHead(answer.status, { 'content-type': type, ...headers });
    res.end(text);
  };

  const bannedMessage = (until: number) =>
    `Way too much request weight used; IP banned until ${until}. Please use WebSocket Streams for live updates to avoid bans.`;

  const faultAnswer = (fault: FakeFault): Answer => {
    const status = fault.status ?? 500;
    if (fault.code === undefined) return { status, body: status >= 500 ? 'Service Unavailable' : '' };
    if (status === 418) {
      const until = now() + (fault.retryAfterSec ?? 120) * 1000;
      bans.push({ from: now(), until });
      return { status, body: { code: fault.code, msg: fault.msg ?? bannedMessage(until) } };
    }
    return { status, body: { code: fault.code, msg: fault.msg ?? BINANCE_MESSAGES[fault.code] ?? 'error' } };
  };

  /** The ban in force now, if the fake enforces bans. */
  const banInForce = (): FakeBan | undefined => {
    if (!options.enforceBans) return undefined;
    const ban = bans.at(-1);
    return ban !== undefined && ban.until > now() ? ban : undefined;
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
    for (const listener of listeners) listener(record);
    const route = routes[`${method} ${path}`];
    if (!route) return send(res, record, { status: 404, body: '' }, {});
    const ban = banInForce();
    if (ban) {
      record.refusedByBan = true;
      const retryAfter = String(Math.max(1, Math.ceil((ban.until - now()) / 1000)));
      return send(
        res,
        record,
        { status: 418, body: { code: -1003, msg: bannedMessage(ban.until) } },
        {
          'retry-after': retryAfter,
        },
      );
    }
    const weight =
      path === '/api/v3/openOrders' && !params.symbol
        ? 80
        : path === '/api/v3/myTrades' && !params.orderId
          ? 20
          : (WEIGHTS[`${method} ${path}`] ?? 1);
    const headers: Record<string, string> = { 'x-mbx-used-weight-1m': String(bump('weight1m', MINUTE_MS, weight)) };
    const fault = takeFault(method, path);
    const retryAfter: Record<string, string> =
      fault?.retryAfterSec === undefined ? {} : { 'retry-after': String(fault.retryAfterSec) };
    if (fault && !fault.afterProcessing && fault.kind !== 'delay') {
      if (fault.kind === 'drop') return void res.socket?.destroy();
      return send(res, record, faultAnswer(fault), { ...headers, ...retryAfter });
    }
    let answer: Answer;
    try {
      if (!UNSIGNED.has(path)) authenticate(req, query, body, params);
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
    orders: account.orders,
    bans,
    order: (id) => account.find(id),
    requestsTo: (method, path) => requests.filter((r) => r.method === method && r.path === path),
    onRequest: (listener) => {
      listeners.push(listener);
    },
    fail: (fault) => {
      faults.push({ fault, left: fault.times ?? 1 });
    },
    pendingFaults: () => faults.reduce((n, f) => n + f.left, 0),
    setPrice: (symbol, price) => {
      account.prices.set(symbol, price);
    },
    setClockSkew: (ms) => {
      skew = ms;
    },
    setBalance: (asset, free, locked = 0) => {
      account.balances.set(asset, { free, locked });
    },
    setFilters: (symbol, filters) => {
      account.filters.set(symbol, filters);
    },
    setUsedWeight: (weight) => {
      counters.set(`weight1m:${Math.floor(now() / MINUTE_MS)}`, weight);
    },
    weightWindows: () =>
      [...counters]
        .filter(([key]) => key.startsWith('weight1m:'))
        .map(([key, weight]) => ({ start: Number(key.slice('weight1m:'.length)) * MINUTE_MS, weight }))
        .sort((a, b) => a.start - b.start),
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
