import { z } from 'zod';
import { type OrderRequest, VenueError } from '../adapter.js';
import {
  compareDecimal,
  type Decimal,
  decimalOf,
  formatDecimal,
  isZero,
  multiplyDecimal,
  parseDecimal,
  roundToStep,
} from './decimal.js';

/**
 * Binance's symbol filters (`GET /api/v3/exchangeInfo?symbol=`) and their
 * application to an order before it is sent: the quantity is rounded down to
 * the lot step, a limit price to the tick, and an order that still breaks a
 * bound is refused here, naming the filter, so nothing reaches the venue.
 * Unlike `mapping.ts`, the amounts stay exact decimals: the filters are
 * compared and rounded against, never shown. Filters absent from the answer
 * are not applied (Binance calls every filter optional).
 */

const decimalText = z
  .string()
  .regex(/^\d+(\.\d+)?$/, 'decimal string')
  .transform(parseDecimal);

const LotSizeFields = { minQty: decimalText, maxQty: decimalText, stepSize: decimalText };

/** The filters the adapter applies; any other `filterType` passes unread. */
const KNOWN_FILTERS = new Set(['LOT_SIZE', 'MARKET_LOT_SIZE', 'PRICE_FILTER', 'NOTIONAL', 'MIN_NOTIONAL']);

const FilterSchema = z.union([
  z.looseObject({ filterType: z.literal('LOT_SIZE'), ...LotSizeFields }),
  z.looseObject({ filterType: z.literal('MARKET_LOT_SIZE'), ...LotSizeFields }),
  z.looseObject({
    filterType: z.literal('PRICE_FILTER'),
    minPrice: decimalText,
    maxPrice: decimalText,
    tickSize: decimalText,
  }),
  z.looseObject({
    filterType: z.literal('NOTIONAL'),
    minNotional: decimalText,
    applyMinToMarket: z.boolean(),
    maxNotional: decimalText,
    applyMaxToMarket: z.boolean(),
  }),
  z.looseObject({ filterType: z.literal('MIN_NOTIONAL'), minNotional: decimalText, applyToMarket: z.boolean() }),
  // A known filter that does not match its shape above must fail the answer, not pass as an unknown one.
  z
    .looseObject({ filterType: z.string().refine((t) => !KNOWN_FILTERS.has(t), 'malformed filter') })
    .transform(() => ({ filterType: 'OTHER' as const })),
]);

/** `GET /api/v3/exchangeInfo` (only the symbols' filters are read). */
export const BinanceExchangeInfoSchema = z.object({
  symbols: z.array(z.looseObject({ symbol: z.string(), filters: z.array(FilterSchema) })),
});
export type BinanceExchangeInfo = z.output<typeof BinanceExchangeInfoSchema>;

/** `LOT_SIZE` / `MARKET_LOT_SIZE`. */
export interface LotSizeRule {
  readonly filter: 'LOT_SIZE' | 'MARKET_LOT_SIZE';
  readonly minQty: Decimal;
  readonly maxQty: Decimal;
  readonly stepSize: Decimal;
}

/** `NOTIONAL`, or the older `MIN_NOTIONAL` (no maximum; one `applyToMarket` for its minimum). */
export interface NotionalRule {
  readonly filter: 'NOTIONAL' | 'MIN_NOTIONAL';
  readonly minNotional: Decimal;
  readonly maxNotional: Decimal | undefined;
  readonly minToMarket: boolean;
  readonly maxToMarket: boolean;
}

/** One symbol's filters as the adapter applies them. */
export interface SymbolFilters {
  readonly symbol: string;
  readonly lotSize: LotSizeRule | undefined;
  readonly marketLotSize: LotSizeRule | undefined;
  readonly price: { readonly minPrice: Decimal; readonly maxPrice: Decimal; readonly tickSize: Decimal } | undefined;
  readonly notional: readonly NotionalRule[];
}

/** The filters of `symbol` in an exchangeInfo answer, or undefined when the answer does not list it. */
export function toSymbolFilters(info: BinanceExchangeInfo, symbol: string): SymbolFilters | undefined {
  const entry = info.symbols.find((s) => s.symbol === symbol);
  if (!entry) return undefined;
  const out: {
    lotSize?: LotSizeRule;
    marketLotSize?: LotSizeRule;
    price?: SymbolFilters['price'];
    notional: NotionalRule[];
  } = { notional: [] };
  for (const f of entry.filters) {
    switch (f.filterType) {
      case 'LOT_SIZE':
      case 'MARKET_LOT_SIZE': {
        const rule = { filter: f.filterType, minQty: f.minQty, maxQty: f.maxQty, stepSize: f.stepSize };
        if (f.filterType === 'LOT_SIZE') out.lotSize = rule;
        else out.marketLotSize = rule;
        break;
      }
      case 'PRICE_FILTER':
        out.price = { minPrice: f.minPrice, maxPrice: f.maxPrice, tickSize: f.tickSize };
        break;
      case 'NOTIONAL':
        out.notional.push({
          filter: 'NOTIONAL',
          minNotional: f.minNotional,
          maxNotional: f.maxNotional,
          minToMarket: f.applyMinToMarket,
          maxToMarket: f.applyMaxToMarket,
        });
        break;
      case 'MIN_NOTIONAL':
        out.notional.push({
          filter: 'MIN_NOTIONAL',
          minNotional: f.minNotional,
          maxNotional: undefined,
          minToMarket: f.applyToMarket,
          maxToMarket: false,
        });
        break;
    }
  }
  return { symbol, lotSize: out.lotSize, marketLotSize: out.marketLotSize, price: out.price, notional: out.notional };
}

/** An order's `quantity` and `price` as they will be sent. */
export interface FilteredOrder {
  readonly quantity: string;
  readonly price: string | undefined;
}

/**
 * The order's quantity and price after `filters`, or a `rejected`
 * {@link VenueError} naming the symbol, the filter, the value and the bound.
 *
 * - Quantity: rounded down to `LOT_SIZE.stepSize` (never more than asked),
 *   then checked against `minQty` and `maxQty`; a market order also passes
 *   `MARKET_LOT_SIZE`, whose zero fields (Binance's "disabled") are skipped.
 * - Limit price: rounded to `PRICE_FILTER.tickSize`, down for a buy and up
 *   for a sell, so the order never trades at a worse price than asked; then
 *   checked against `minPrice` / `maxPrice` (zero: disabled).
 * - Notional (quantity × price): a limit order uses its price. A market
 *   order has none; Binance uses its average price of the last minutes, and
 *   only where the filter applies to market orders. `marketPrice` is the
 *   adapter's estimate of it (its last fill of the symbol); without one the
 *   market order's notional is left to the venue (-1013 `rejected`).
 */
export function applySymbolFilters(
  request: OrderRequest,
  filters: SymbolFilters,
  marketPrice: Decimal | undefined,
): FilteredOrder {
  const refuse = (what: string) =>
    new VenueError('rejected', `order ${request.clientOrderId}: ${filters.symbol} ${what}; not sent`);
  const market = request.type === 'market';
  let quantity = decimalOf(request.quantity);
  for (const rule of market ? [filters.lotSize, filters.marketLotSize] : [filters.lotSize]) {
    if (rule === undefined) continue;
    const asked = quantity;
    if (!isZero(rule.stepSize)) quantity = roundToStep(quantity, rule.stepSize, 'down');
    const shown =
      compareDecimal(asked, quantity) === 0
        ? `quantity ${formatDecimal(quantity)}`
        : `quantity ${formatDecimal(asked)} rounded down to stepSize ${formatDecimal(rule.stepSize)} is ${formatDecimal(quantity)}`;
    if (isZero(quantity) || (!isZero(rule.minQty) && compareDecimal(quantity, rule.minQty) < 0)) {
      throw refuse(`${rule.filter}: ${shown}, below minQty ${formatDecimal(rule.minQty)}`);
    }
    if (!isZero(rule.maxQty) && compareDecimal(quantity, rule.maxQty) > 0) {
      throw refuse(`${rule.filter}: ${shown}, above maxQty ${formatDecimal(rule.maxQty)}`);
    }
  }

  let price: Decimal | undefined;
  if (!market) {
    price = decimalOf(request.price ?? 0);
    const rule = filters.price;
    if (rule !== undefined) {
      const asked = price;
      const mode = request.side === 'buy' ? 'down' : 'up';
      if (!isZero(rule.tickSize)) price = roundToStep(price, rule.tickSize, mode);
      const shown =
        compareDecimal(asked, price) === 0
          ? `price ${formatDecimal(price)}`
          : `price ${formatDecimal(asked)} rounded ${mode} to tickSize ${formatDecimal(rule.tickSize)} is ${formatDecimal(price)}`;
      if (isZero(price) || (!isZero(rule.minPrice) && compareDecimal(price, rule.minPrice) < 0)) {
        throw refuse(`PRICE_FILTER: ${shown}, below minPrice ${formatDecimal(rule.minPrice)}`);
      }
      if (!isZero(rule.maxPrice) && compareDecimal(price, rule.maxPrice) > 0) {
        throw refuse(`PRICE_FILTER: ${shown}, above maxPrice ${formatDecimal(rule.maxPrice)}`);
      }
    }
  }

  const notionalPrice = price ?? marketPrice;
  if (notionalPrice !== undefined) {
    const notional = multiplyDecimal(quantity, notionalPrice);
    const shown = `notional ${formatDecimal(quantity)} × ${market ? 'last price ' : ''}${formatDecimal(notionalPrice)} = ${formatDecimal(notional)}`;
    for (const rule of filters.notional) {
      if ((!market || rule.minToMarket) && compareDecimal(notional, rule.minNotional) < 0) {
        throw refuse(`${rule.filter}: ${shown}, below minNotional ${formatDecimal(rule.minNotional)}`);
      }
      const max = rule.maxNotional;
      if (max !== undefined && !isZero(max) && (!market || rule.maxToMarket) && compareDecimal(notional, max) > 0) {
        throw refuse(`${rule.filter}: ${shown}, above maxNotional ${formatDecimal(max)}`);
      }
    }
  }
  return { quantity: formatDecimal(quantity), price: price === undefined ? undefined : formatDecimal(price) };
}
