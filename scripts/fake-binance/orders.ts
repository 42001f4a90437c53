/**
 * The fake Binance's account (`server.ts` serves it): orders by client order
 * id (an open duplicate is -2010 "Duplicate order sent."), the symbol
 * filters a new order must pass (`filters.ts`; -1013 "Filter failure: …")
 * and the exchangeInfo listing them, market and
 * marketable limit orders filled at once at a settable price with
 * commission, balances, and the answer shapes of the order, open-orders and
 * account endpoints. With `settle`, a fill moves the balances as Binance's
 * would (the asset received net of commission, the asset paid in full).
 */
import { BINANCE_MESSAGES } from './faults.js';
import { DEFAULT_SYMBOL_FILTERS, type FakeFilter, failedFilter, PERMISSIVE_FILTERS } from './filters.js';

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

/** An HTTP answer of the fake. */
export type Answer = { status: number; body: unknown };

/** A refusal in Binance's shape: the HTTP status and `{code,msg}`. */
export class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    msg?: string,
  ) {
    super(msg ?? BINANCE_MESSAGES[code] ?? 'error');
  }
}

type Params = Record<string, string>;

const DECIMAL = /^([0-9]{1,20})(\.[0-9]{1,20})?$/;
const QUOTES = ['USDT', 'USDC', 'FDUSD', 'BUSD', 'BTC', 'ETH', 'BNB'];

/** A mandatory parameter, or -1102. */
export function need(params: Params, name: string): string {
  const v = params[name];
  if (v === undefined || v === '')
    throw new Refusal(400, -1102, `Mandatory parameter '${name}' was not sent, was empty/null, or malformed.`);
  return v;
}

function decimal(params: Params, name: string): number {
  const v = need(params, name);
  if (!DECIMAL.test(v))
    throw new Refusal(
      400,
      -1100,
      `Illegal characters found in parameter '${name}'; legal range is '${DECIMAL.source}'.`,
    );
  return Number(v);
}

const fmt = (n: number) => n.toFixed(8);

/** Base and quote asset of a symbol (`BTCUSDT` → `BTC`, `USDT`). */
function assets(symbol: string): { base: string; quote: string } {
  const quote = QUOTES.find((q) => symbol.endsWith(q) && symbol.length > q.length) ?? 'USDT';
  return { base: symbol.slice(0, symbol.length - quote.length), quote };
}

/** Options of {@link FakeAccount}. */
export interface FakeAccountOptions {
  readonly commissionRate: number;
  readonly prices: Record<string, number>;
  readonly balances: Record<string, { free: number; locked: number }>;
  /** Filters per symbol, over {@link DEFAULT_SYMBOL_FILTERS}; a symbol in neither gets {@link PERMISSIVE_FILTERS}. */
  readonly filters: Readonly<Record<string, readonly FakeFilter[]>>;
  readonly settle: boolean;
  readonly now: () => number;
}

/** The account and order book behind the fake's endpoints. */
export class FakeAccount {
  readonly orders: FakeOrder[] = [];
  readonly prices: Map<string, number>;
  readonly balances: Map<string, { free: number; locked: number }>;
  readonly filters: Map<string, readonly FakeFilter[]>;
  readonly #o: FakeAccountOptions;
  #nextOrderId = 1;
  #nextTradeId = 1;

  constructor(options: FakeAccountOptions) {
    this.#o = options;
    this.prices = new Map(Object.entries(options.prices));
    this.balances = new Map(Object.entries(options.balances).map(([a, b]) => [a, { ...b }]));
    this.filters = new Map(Object.entries({ ...DEFAULT_SYMBOL_FILTERS, ...options.filters }));
  }

  /** The filters a symbol's orders must pass. */
  filtersOf(symbol: string): readonly FakeFilter[] {
    return this.filters.get(symbol) ?? PERMISSIVE_FILTERS;
  }

  /** The newest order with this client order id. */
  find(clientOrderId: string): FakeOrder | undefined {
    return this.orders.findLast((o) => o.clientOrderId === clientOrderId);
  }

  /** `POST /api/v3/order`: creates (and, when marketable, fills) an order; its client order id. */
  create(params: Params): { answer: Answer; clientOrderId: string } {
    const symbol = need(params, 'symbol');
    const market = this.prices.get(symbol);
    if (market === undefined) throw new Refusal(400, -1121);
    const side = need(params, 'side');
    const type = need(params, 'type');
    if ((side !== 'BUY' && side !== 'SELL') || (type !== 'MARKET' && type !== 'LIMIT'))
      throw new Refusal(400, -1116, 'Invalid orderType.');
    const qty = decimal(params, 'quantity');
    const price = type === 'LIMIT' ? decimal(params, 'price') : 0;
    if (type === 'LIMIT' && need(params, 'timeInForce') !== 'GTC')
      throw new Refusal(400, -1115, 'Invalid timeInForce.');
    const failed = failedFilter(this.filtersOf(symbol), {
      type,
      quantity: need(params, 'quantity'),
      price: params.price,
      marketPrice: market,
    });
    if (failed !== undefined) throw new Refusal(400, -1013, `Filter failure: ${failed}`);
    const clientOrderId = params.newClientOrderId ?? `fake-${this.#nextOrderId}`;
    const existing = this.find(clientOrderId);
    if (existing && isOpen(existing)) throw new Refusal(400, -2010, 'Duplicate order sent.');
    const order: FakeOrder = {
      orderId: this.#nextOrderId++,
      clientOrderId,
      symbol,
      side,
      type,
      status: 'NEW',
      price,
      origQty: qty,
      executedQty: 0,
      cummulativeQuoteQty: 0,
      time: this.#o.now(),
      fills: [],
    };
    const marketable = type === 'MARKET' || (side === 'BUY' ? price >= market : price <= market);
    if (marketable) this.#fill(order, qty, market);
    this.orders.push(order);
    const fills = order.fills.map((f) => ({
      ...f,
      price: fmt(f.price),
      qty: fmt(f.qty),
      commission: fmt(f.commission),
    }));
    return { answer: { status: 200, body: { ...queryShape(order), transactTime: order.time, fills } }, clientOrderId };
  }

  /** `GET /api/v3/exchangeInfo`: the symbol given (-1121 if the fake has no price for it), else every priced one. */
  exchangeInfo(params: Params): Answer {
    const wanted = params.symbol;
    if (wanted !== undefined && !this.prices.has(wanted)) throw new Refusal(400, -1121);
    const symbols = (wanted === undefined ? [...this.prices.keys()] : [wanted]).map((symbol) => {
      const { base, quote } = assets(symbol);
      return {
        symbol,
        status: 'TRADING',
        baseAsset: base,
        baseAssetPrecision: 8,
        quoteAsset: quote,
        quotePrecision: 8,
        quoteAssetPrecision: 8,
        orderTypes: ['LIMIT', 'LIMIT_MAKER', 'MARKET', 'STOP_LOSS_LIMIT', 'TAKE_PROFIT_LIMIT'],
        icebergAllowed: true,
        ocoAllowed: true,
        quoteOrderQtyMarketAllowed: true,
        isSpotTradingAllowed: true,
        isMarginTradingAllowed: false,
        filters: this.filtersOf(symbol),
        permissions: [],
        permissionSets: [['SPOT']],
        defaultSelfTradePreventionMode: 'EXPIRE_MAKER',
        allowedSelfTradePreventionModes: ['EXPIRE_TAKER', 'EXPIRE_MAKER', 'EXPIRE_BOTH'],
      };
    });
    return {
      status: 200,
      body: {
        timezone: 'UTC',
        serverTime: this.#o.now(),
        rateLimits: [
          { rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: 6000 },
          { rateLimitType: 'ORDERS', interval: 'SECOND', intervalNum: 10, limit: 100 },
          { rateLimitType: 'ORDERS', interval: 'DAY', intervalNum: 1, limit: 200000 },
          { rateLimitType: 'RAW_REQUESTS', interval: 'MINUTE', intervalNum: 5, limit: 61000 },
        ],
        exchangeFilters: [],
        symbols,
      },
    };
  }

  /** `GET /api/v3/order`. */
  query(params: Params): Answer {
    need(params, 'symbol');
    const o = this.find(need(params, 'origClientOrderId'));
    if (!o || o.symbol !== params.symbol) throw new Refusal(400, -2013);
    return { status: 200, body: queryShape(o) };
  }

  /** `DELETE /api/v3/order`. */
  cancel(params: Params): Answer {
    need(params, 'symbol');
    const o = this.find(need(params, 'origClientOrderId'));
    if (!o || o.symbol !== params.symbol || !isOpen(o)) throw new Refusal(400, -2011);
    o.status = 'CANCELED';
    const { stopPrice: _s, icebergQty: _i, time: _t, updateTime: _u, isWorking: _w, ...shape } = queryShape(o);
    return {
      status: 200,
      body: {
        ...shape,
        origClientOrderId: o.clientOrderId,
        clientOrderId: `cancel-${o.orderId}`,
        transactTime: this.#o.now(),
      },
    };
  }

  /** `GET /api/v3/openOrders`. */
  openOrders(params: Params): Answer {
    const open = this.orders.filter((o) => isOpen(o) && (!params.symbol || o.symbol === params.symbol));
    return { status: 200, body: open.map(queryShape) };
  }

  /** `GET /api/v3/myTrades` (`orderId` given: that order's trades). */
  trades(params: Params): Answer {
    const symbol = need(params, 'symbol');
    const orderId = params.orderId === undefined ? undefined : Number(params.orderId);
    const rows = this.orders
      .filter((o) => o.symbol === symbol && (orderId === undefined || o.orderId === orderId))
      .flatMap((o) =>
        o.fills.map((f) => ({
          symbol,
          id: f.tradeId,
          orderId: o.orderId,
          orderListId: -1,
          price: fmt(f.price),
          qty: fmt(f.qty),
          quoteQty: fmt(f.price * f.qty),
          commission: fmt(f.commission),
          commissionAsset: f.commissionAsset,
          time: o.time,
          isBuyer: o.side === 'BUY',
          isMaker: false,
          isBestMatch: true,
        })),
      );
    return { status: 200, body: rows };
  }

  /** `GET /api/v3/account`. */
  account(params: Params): Answer {
    return {
      status: 200,
      body: {
        makerCommission: 10,
        takerCommission: 10,
        canTrade: true,
        accountType: 'SPOT',
        balances: [...this.balances]
          .filter(([, b]) => params.omitZeroBalances !== 'true' || b.free > 0 || b.locked > 0)
          .map(([asset, b]) => ({ asset, free: fmt(b.free), locked: fmt(b.locked) })),
        permissions: ['SPOT'],
        uid: 42,
      },
    };
  }

  #fill(order: FakeOrder, qty: number, price: number): void {
    // Commission is charged in the asset received, as on Binance without BNB discounts.
    const { base, quote } = assets(order.symbol);
    const buy = order.side === 'BUY';
    const commission = buy ? qty * this.#o.commissionRate : qty * price * this.#o.commissionRate;
    order.fills.push({ price, qty, commission, commissionAsset: buy ? base : quote, tradeId: this.#nextTradeId++ });
    order.status = 'FILLED';
    order.executedQty = qty;
    order.cummulativeQuoteQty = qty * price;
    if (!this.#o.settle) return;
    this.#move(base, buy ? qty - commission : -qty);
    this.#move(quote, buy ? -qty * price : qty * price - commission);
  }

  #move(asset: string, by: number): void {
    const b = this.balances.get(asset) ?? { free: 0, locked: 0 };
    this.balances.set(asset, { free: b.free + by, locked: b.locked });
  }
}

/** True while an order can still fill or be cancelled. */
export function isOpen(o: FakeOrder): boolean {
  return o.status === 'NEW' || o.status === 'PARTIALLY_FILLED';
}

function queryShape(o: FakeOrder) {
  return {
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
  };
}
