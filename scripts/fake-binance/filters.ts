/**
 * The fake Binance's symbol filters (`server.ts` serves them on
 * `GET /api/v3/exchangeInfo`, `orders.ts` enforces them on new orders):
 * Binance's filter shapes with values like those of its spot mainnet, and
 * Binance's rules, naming the filter an order fails (which `orders.ts`
 * refuses as Binance does: 400, -1013 "Filter failure: LOT_SIZE"). The
 * arithmetic is exact and its own (scaled BigInts), not the adapter's, so
 * the adapter is checked against an independent judge. A market order's
 * notional is judged at the fake's current price (Binance uses its average
 * of the last `avgPriceMins` minutes).
 */

/** One filter of a symbol, as exchangeInfo lists it (decimal strings, booleans, integers). */
export type FakeFilter = { readonly filterType: string } & Readonly<Record<string, string | number | boolean>>;

const lotSize = (minQty: string, maxQty: string, stepSize: string): FakeFilter => ({
  filterType: 'LOT_SIZE',
  minQty,
  maxQty,
  stepSize,
});

/** The notional bounds Binance lists for its USDT pairs. */
const USDT_NOTIONAL: FakeFilter = {
  filterType: 'NOTIONAL',
  minNotional: '5.00000000',
  applyMinToMarket: true,
  maxNotional: '9000000.00000000',
  applyMaxToMarket: false,
  avgPriceMins: 5,
};

/** BTCUSDT's and ETHUSDT's filters, modelled on Binance spot's (the values were not checked against a live answer). */
export const DEFAULT_SYMBOL_FILTERS: Readonly<Record<string, readonly FakeFilter[]>> = {
  BTCUSDT: [
    { filterType: 'PRICE_FILTER', minPrice: '0.01000000', maxPrice: '1000000.00000000', tickSize: '0.01000000' },
    lotSize('0.00001000', '9000.00000000', '0.00001000'),
    { filterType: 'ICEBERG_PARTS', limit: 100 },
    { filterType: 'MARKET_LOT_SIZE', minQty: '0.00000000', maxQty: '120.00000000', stepSize: '0.00000000' },
    { filterType: 'TRAILING_DELTA', minTrailingAboveDelta: 10, maxTrailingAboveDelta: 2000 },
    {
      filterType: 'PERCENT_PRICE_BY_SIDE',
      bidMultiplierUp: '5',
      bidMultiplierDown: '0.2',
      askMultiplierUp: '5',
      askMultiplierDown: '0.2',
      avgPriceMins: 5,
    },
    USDT_NOTIONAL,
    { filterType: 'MAX_NUM_ORDERS', maxNumOrders: 200 },
    { filterType: 'MAX_NUM_ALGO_ORDERS', maxNumAlgoOrders: 5 },
  ],
  ETHUSDT: [
    { filterType: 'PRICE_FILTER', minPrice: '0.01000000', maxPrice: '1000000.00000000', tickSize: '0.01000000' },
    lotSize('0.00010000', '9000.00000000', '0.00010000'),
    { filterType: 'ICEBERG_PARTS', limit: 100 },
    { filterType: 'MARKET_LOT_SIZE', minQty: '0.00000000', maxQty: '2500.00000000', stepSize: '0.00000000' },
    USDT_NOTIONAL,
    { filterType: 'MAX_NUM_ORDERS', maxNumOrders: 200 },
  ],
};

/** What a symbol without listed filters gets: 8-decimal steps and ticks, no notional bound. */
export const PERMISSIVE_FILTERS: readonly FakeFilter[] = [
  { filterType: 'PRICE_FILTER', minPrice: '0.00000001', maxPrice: '10000000.00000000', tickSize: '0.00000001' },
  lotSize('0.00000001', '90000000.00000000', '0.00000001'),
];

/** Decimals of the fixed point the checks use: the most the fake's parameters may carry. */
const SCALE = 20;

/** A decimal string as an integer of 10^-SCALE units. */
function units(text: string): bigint {
  const [int = '0', frac = ''] = text.split('.');
  return BigInt(int + frac.padEnd(SCALE, '0').slice(0, SCALE));
}

const field = (f: FakeFilter, name: string): bigint => units(String(f[name] ?? '0'));
/** True when `quantity` passes a LOT_SIZE-shaped filter; a zero field is disabled (as MARKET_LOT_SIZE's step usually is). */
function lotPasses(f: FakeFilter, quantity: bigint): boolean {
  const min = field(f, 'minQty');
  const max = field(f, 'maxQty');
  const step = field(f, 'stepSize');
  return !(quantity < min || (max > 0n && quantity > max) || (step > 0n && quantity % step !== 0n));
}

/** An order as the filters judge it: its quantity and (limit) price as sent, the market price for a market order. */
export interface FilteredOrder {
  readonly type: 'MARKET' | 'LIMIT';
  readonly quantity: string;
  readonly price: string | undefined;
  readonly marketPrice: number;
}

/** The type of the first filter `order` fails, or undefined when it passes them all. */
export function failedFilter(filters: readonly FakeFilter[], order: FilteredOrder): string | undefined {
  const market = order.type === 'MARKET';
  const quantity = units(order.quantity);
  const price = market ? units(order.marketPrice.toFixed(8)) : units(order.price ?? '0');
  for (const f of filters) {
    switch (f.filterType) {
      case 'PRICE_FILTER': {
        if (market) break;
        const min = field(f, 'minPrice');
        const max = field(f, 'maxPrice');
        const tick = field(f, 'tickSize');
        if ((min > 0n && price < min) || (max > 0n && price > max) || (tick > 0n && price % tick !== 0n)) {
          return f.filterType;
        }
        break;
      }
      case 'LOT_SIZE':
        if (!lotPasses(f, quantity)) return f.filterType;
        break;
      case 'MARKET_LOT_SIZE':
        if (market && !lotPasses(f, quantity)) return f.filterType;
        break;
      case 'NOTIONAL':
      case 'MIN_NOTIONAL': {
        const notional = quantity * price;
        const scaled = (name: string) => field(f, name) * 10n ** BigInt(SCALE);
        const minApplies = !market || f.applyMinToMarket === true || f.applyToMarket === true;
        if (minApplies && notional < scaled('minNotional')) return f.filterType;
        const maxApplies = f.filterType === 'NOTIONAL' && (!market || f.applyMaxToMarket === true);
        if (maxApplies && field(f, 'maxNotional') > 0n && notional > scaled('maxNotional')) return f.filterType;
        break;
      }
    }
  }
  return undefined;
}
