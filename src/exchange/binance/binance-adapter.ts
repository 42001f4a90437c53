import { type Logger, silentLogger } from '../../log.js';
import {
  type Balance,
  type ExchangeAdapter,
  isVenueError,
  type OrderRequest,
  VenueError,
  type VenueOrder,
  type VenueUsage,
} from '../adapter.js';
import { toVenueClientOrderId } from './client-order-id.js';
import { type Decimal, decimalOf } from './decimal.js';
import { BINANCE_CODES, BINANCE_ENDPOINTS } from './endpoints.js';
import { SymbolFilterCache } from './filter-cache.js';
import { SharedLimits } from './limits.js';
import {
  BinanceAccountSchema,
  BinanceOpenOrdersSchema,
  type BinanceOrder,
  BinanceOrderSchema,
  BinanceTradesSchema,
  toBalances,
  toVenueFills,
  toVenueOrder,
} from './mapping.js';
import { BinanceRestClient } from './rest-client.js';
import { type BinanceAdapterOptions, type BinanceSettings, parseBinanceSettings } from './settings.js';
import {
  applySymbolFilters,
  BinanceExchangeInfoSchema,
  type SymbolFilters,
  toSymbolFilters,
} from './symbol-filters.js';

/** Statuses after which an order cannot change any more. */
const FINAL = new Set(['filled', 'cancelled', 'rejected', 'expired']);

/**
 * How long a fill's price stands in for a symbol's market price in a market
 * order's notional check: Binance's filters use the average price of the
 * last `avgPriceMins` minutes, 5 on its main symbols.
 */
const MARKET_PRICE_MAX_AGE_MS = 5 * 60_000;

/**
 * The Binance spot {@link ExchangeAdapter} (docs/architecture.md §11.3): signed REST against
 * mainnet or testnet, with Binance's rate-limit, ban and unknown-outcome
 * rules. The request budget and bans live in Redis (`keys.venueLimits(venue)`)
 * so every process sharing the IP keeps to one budget.
 *
 * Idempotency: the caller's `clientOrderId` is sent as `newClientOrderId`
 * (hashed to Binance's 36 characters when longer, see
 * `toVenueClientOrderId`). When a new order's outcome is `unknown`, the
 * adapter looks the order up by that id before it submits again, so one
 * `placeOrder` never creates two orders; if the lookup fails too, it throws
 * `unknown` and the caller must `findOrder` later.
 */
export class BinanceAdapter implements ExchangeAdapter {
  readonly venue: string;
  readonly #settings: BinanceSettings;
  readonly #client: BinanceRestClient;
  readonly #limits: SharedLimits;
  readonly #filters: SymbolFilterCache;
  /** The price of the newest fill seen per symbol, and when: a market order's notional estimate. */
  readonly #fillPrices = new Map<string, { price: number; at: number }>();
  readonly #now: () => number;
  readonly #log: Logger;

  constructor(options: BinanceAdapterOptions) {
    this.#settings = parseBinanceSettings(options);
    this.venue = this.#settings.venue;
    const now = options.now ?? Date.now;
    this.#now = now;
    this.#log = (options.log ?? silentLogger).child({ venue: this.venue });
    const limits = new SharedLimits({
      redis: options.redis,
      key: options.keys.venueLimits(this.venue),
      limits: this.#settings.limits,
      now,
    });
    this.#limits = limits;
    this.#client = new BinanceRestClient({
      ...this.#settings,
      limits,
      now,
      sleep: options.sleep,
      random: options.random ?? Math.random,
      log: this.#log,
    });
    this.#filters = new SymbolFilterCache({
      fetch: (symbol) => this.#fetchFilters(symbol),
      ttlMs: this.#settings.symbolFiltersTtlMs,
      now,
      log: this.#log,
    });
  }

  /** Venue time minus local time as last measured (0 until a -1021 forced a resync). */
  get clockOffsetMs(): number {
    return this.#client.clockOffsetMs;
  }

  async placeOrder(request: OrderRequest): Promise<VenueOrder> {
    const params = await this.#orderParams(request);
    const call = () => this.#client.call(BINANCE_ENDPOINTS.newOrder, params, BinanceOrderSchema);
    for (let submission = 1; ; submission++) {
      try {
        return this.#seen(toVenueOrder(this.venue, await call(), request.clientOrderId));
      } catch (err) {
        if (isVenueError(err, 'rejected') && err.venueCode === BINANCE_CODES.INVALID_MESSAGE) {
          // A filter refused what the cached filters let through: they may have changed since the fetch.
          if (/filter failure/i.test(err.message)) this.#filters.expire(request.symbol);
          throw err;
        }
        if (isVenueError(err, 'rejected') && isDuplicate(err)) {
          // A resubmit (ours or the caller's) of an order that is open at the venue: that order is the answer.
          const existing = await this.#lookupAfter(err, request);
          if (existing) return existing;
          throw err;
        }
        if (!isVenueError(err, 'unknown')) throw err;
        const existing = await this.#lookupAfter(err, request);
        if (existing) {
          this.#log.warn(
            { clientOrderId: request.clientOrderId, submission, venueCode: err.venueCode, httpStatus: err.httpStatus },
            'order found by client order id after an unknown outcome',
          );
          return existing;
        }
        if (submission >= this.#settings.maxAttempts) throw err;
        this.#log.warn(
          { clientOrderId: request.clientOrderId, submission, venueCode: err.venueCode, httpStatus: err.httpStatus },
          'order absent after unknown outcome; resubmitting',
        );
      }
    }
  }

  async findOrder(symbol: string, clientOrderId: string): Promise<VenueOrder | undefined> {
    try {
      const order = await this.#client.call(
        BINANCE_ENDPOINTS.queryOrder,
        { symbol, origClientOrderId: toVenueClientOrderId(clientOrderId) },
        BinanceOrderSchema,
      );
      return this.#seen(await this.#withFills(order, clientOrderId));
    } catch (err) {
      if (isVenueError(err, 'rejected') && err.venueCode === BINANCE_CODES.NO_SUCH_ORDER) return undefined;
      throw err;
    }
  }

  async cancelOrder(symbol: string, clientOrderId: string): Promise<VenueOrder | undefined> {
    const params = { symbol, origClientOrderId: toVenueClientOrderId(clientOrderId) };
    for (let attempt = 1; ; attempt++) {
      try {
        const order = await this.#client.call(BINANCE_ENDPOINTS.cancelOrder, params, BinanceOrderSchema);
        return this.#seen(await this.#withFills(order, clientOrderId));
      } catch (err) {
        if (isVenueError(err, 'rejected') && err.venueCode === BINANCE_CODES.CANCEL_REJECTED) return undefined;
        if (!isVenueError(err, 'unknown')) throw err;
        // A repeated DELETE of a cancelled order answers -2011 (unknown order): look first, so the
        // final state is returned instead of "no such order".
        const found = await this.#lookupAfter(err, { symbol, clientOrderId });
        if (found === undefined || FINAL.has(found.status)) return found;
        if (attempt >= this.#settings.maxAttempts) throw err;
      }
    }
  }

  async openOrders(symbol?: string): Promise<VenueOrder[]> {
    const endpoint = symbol === undefined ? BINANCE_ENDPOINTS.openOrdersAll : BINANCE_ENDPOINTS.openOrdersOneSymbol;
    const orders = await this.#client.call(endpoint, { symbol }, BinanceOpenOrdersSchema);
    return orders.map((o) => toVenueOrder(this.venue, o));
  }

  async balances(): Promise<Record<string, Balance>> {
    const account = await this.#client.call(
      BINANCE_ENDPOINTS.account,
      { omitZeroBalances: 'true' },
      BinanceAccountSchema,
    );
    return toBalances(account);
  }

  /** The shared budget's minute weight and any ban in force (from Redis; spends nothing). */
  async usage(): Promise<VenueUsage> {
    const { used, limit, bannedUntil } = await this.#limits.weightUsage();
    return { weightUsed: used, weightLimit: limit, bannedUntil };
  }

  /** Aborts requests and waits in flight; the Redis connection belongs to the caller. Idempotent. */
  async close(): Promise<void> {
    this.#client.close();
  }

  /**
   * The order as Binance's parameters, after the symbol's filters
   * (`symbol-filters.ts`): quantity and price rounded to the step and tick,
   * or a `rejected` error naming the filter and nothing sent.
   */
  async #orderParams(request: OrderRequest): Promise<Record<string, string>> {
    if (!(request.quantity > 0) || !Number.isFinite(request.quantity)) {
      throw new VenueError('rejected', `order ${request.clientOrderId}: quantity must be a positive number`);
    }
    const limit = request.type === 'limit';
    if (limit && (request.price === undefined || !(request.price > 0) || !Number.isFinite(request.price))) {
      throw new VenueError('rejected', `order ${request.clientOrderId}: a limit order needs a positive price`);
    }
    const filters = await this.#filtersFor(request);
    const { quantity, price } = applySymbolFilters(request, filters, limit ? undefined : this.#marketPrice(request));
    return {
      symbol: request.symbol,
      side: request.side === 'buy' ? 'BUY' : 'SELL',
      type: limit ? 'LIMIT' : 'MARKET',
      ...(limit && price !== undefined ? { timeInForce: 'GTC', price } : {}),
      quantity,
      newClientOrderId: toVenueClientOrderId(request.clientOrderId),
      newOrderRespType: 'FULL',
    };
  }

  /**
   * The symbol's filters, cached. Without a copy the order cannot be checked,
   * so it is not sent: the fetch's failure is thrown with the order named,
   * `unknown` becoming `unavailable` (the order itself never left).
   */
  async #filtersFor(request: OrderRequest): Promise<SymbolFilters> {
    try {
      return await this.#filters.get(request.symbol);
    } catch (err) {
      if (!isVenueError(err)) throw err;
      throw new VenueError(
        err.kind === 'unknown' ? 'unavailable' : err.kind,
        `order ${request.clientOrderId}: the symbol filters of ${request.symbol} could not be read (${err.message}); order not sent`,
        {
          cause: err,
          ...(err.retryAt === undefined ? {} : { retryAt: err.retryAt }),
          ...(err.venueCode === undefined ? {} : { venueCode: err.venueCode }),
          ...(err.httpStatus === undefined ? {} : { httpStatus: err.httpStatus }),
        },
      );
    }
  }

  async #fetchFilters(symbol: string): Promise<SymbolFilters> {
    const info = await this.#client.call(BINANCE_ENDPOINTS.exchangeInfo, { symbol }, BinanceExchangeInfoSchema);
    const filters = toSymbolFilters(info, symbol);
    if (filters === undefined) {
      throw new VenueError('unknown', `GET /api/v3/exchangeInfo: the answer does not list ${symbol}`);
    }
    return filters;
  }

  /** The newest fill price of the symbol while recent enough to stand for the market price. */
  #marketPrice(request: OrderRequest): Decimal | undefined {
    const seen = this.#fillPrices.get(request.symbol);
    if (seen === undefined || this.#now() - seen.at > MARKET_PRICE_MAX_AGE_MS) return undefined;
    return decimalOf(seen.price);
  }

  /** Notes the order's last fill price for {@link #marketPrice}; returns the order. */
  #seen<O extends VenueOrder | undefined>(order: O): O {
    const fill = order?.fills.at(-1);
    if (order && fill && fill.price > 0) this.#fillPrices.set(order.symbol, { price: fill.price, at: this.#now() });
    return order;
  }

  /**
   * An order as a {@link VenueOrder} with its fills. A lookup or a cancel
   * answer carries none (only a new order's FULL answer does), yet what
   * executed of a final order must come with its commission: execution's
   * position, the portfolio's cash and the trade store are built from the
   * fills. So a final order that executed is completed from its trades
   * (`GET /api/v3/myTrades?orderId=`). Trades that do not yet add up to what
   * executed (the venue a moment behind) fail `unknown`, to be asked again.
   */
  async #withFills(order: BinanceOrder, clientOrderId: string): Promise<VenueOrder> {
    const mapped = toVenueOrder(this.venue, order, clientOrderId);
    if (mapped.fills.length > 0 || mapped.executedQuantity <= 0 || !FINAL.has(mapped.status)) return mapped;
    const trades = await this.#client.call(
      BINANCE_ENDPOINTS.orderTrades,
      { symbol: order.symbol, orderId: order.orderId },
      BinanceTradesSchema,
    );
    const fills = toVenueFills(trades.filter((t) => t.orderId === order.orderId));
    const traded = fills.reduce((sum, f) => sum + f.quantity, 0);
    if (traded < mapped.executedQuantity * (1 - 1e-9)) {
      throw new VenueError(
        'unknown',
        `order ${clientOrderId}: the venue lists trades for ${traded} of the ${mapped.executedQuantity} executed; ask again`,
      );
    }
    return { ...mapped, fills };
  }

  /** `findOrder` after a failed call; a failing lookup leaves the order's fate `unknown`. */
  async #lookupAfter(
    failure: VenueError,
    order: { symbol: string; clientOrderId: string },
  ): Promise<VenueOrder | undefined> {
    try {
      return await this.findOrder(order.symbol, order.clientOrderId);
    } catch (lookupError) {
      const why = lookupError instanceof Error ? lookupError.message : String(lookupError);
      throw new VenueError(
        'unknown',
        `order ${order.clientOrderId}: ${failure.message}; the lookup by client order id failed too (${why}); find the order before resubmitting`,
        {
          cause: lookupError,
          ...(failure.venueCode === undefined ? {} : { venueCode: failure.venueCode }),
          ...(failure.httpStatus === undefined ? {} : { httpStatus: failure.httpStatus }),
        },
      );
    }
  }
}

/** Creates the Binance spot adapter; see {@link BinanceAdapter}. */
export function createBinanceAdapter(options: BinanceAdapterOptions): BinanceAdapter {
  return new BinanceAdapter(options);
}

/** -2010 "Duplicate order sent.": an open order already has this client order id. */
function isDuplicate(err: VenueError): boolean {
  return err.venueCode === BINANCE_CODES.NEW_ORDER_REJECTED && /duplicate/i.test(err.message);
}
