/**
 * The pure parts of the symbol filters: exact decimal rounding (with a
 * property over random steps and values: the result is a multiple of the
 * step, never past the input, and less than one step from it), the
 * exchangeInfo schema, and the filters applied to an order.
 */
import { fc, testProp } from '@fast-check/ava';
import test from 'ava';
import { DEFAULT_SYMBOL_FILTERS } from '../../scripts/fake-binance/filters.js';
import { isVenueError, type OrderRequest, type VenueError } from '../../src/exchange/adapter.js';
import {
  compareDecimal,
  type Decimal,
  decimalOf,
  formatDecimal,
  multiplyDecimal,
  parseDecimal,
  roundToStep,
} from '../../src/exchange/binance/decimal.js';
import {
  applySymbolFilters,
  BinanceExchangeInfoSchema,
  type SymbolFilters,
  toSymbolFilters,
} from '../../src/exchange/binance/symbol-filters.js';
import { CaseTally } from '../support/case-tally.js';

const d = parseDecimal;
const text = (x: Decimal) => formatDecimal(x);

test('decimals parse, print without trailing zeros, and take a number as the text it prints as', (t) => {
  t.like(d('0.00100000'), { units: 100000n, scale: 8 });
  t.is(text(d('0.00100000')), '0.001');
  t.is(text(d('5.00000000')), '5');
  t.is(text(d('0')), '0');
  t.is(text(d('120')), '120');
  t.is(text(decimalOf(1e-7)), '0.0000001');
  t.is(text(decimalOf(0.1 + 0.2)), '0.30000000000000004');
  t.is(text(multiplyDecimal(d('0.1'), d('3'))), '0.3', 'exact, unlike 0.1 * 3');
  t.is(compareDecimal(d('0.30'), d('0.3')), 0);
  t.is(compareDecimal(d('0.29999'), d('0.3')), -1);
  for (const bad of ['', '-1', '1e-7', '.5', '1.', 'NaN']) t.throws(() => d(bad), { message: /non-negative decimal/ });
  t.throws(() => decimalOf(Number.NaN), { message: /finite/ });
  t.throws(() => roundToStep(d('1'), d('0.000'), 'down'), { message: /zero/ });
});

test('rounding to a step: float dust and awkward sums come out as the step allows', (t) => {
  const step = d('0.00001000');
  t.is(text(roundToStep(decimalOf(0.1 + 0.2), step, 'down')), '0.3');
  t.is(text(roundToStep(decimalOf(1e-9), step, 'down')), '0');
  t.is(text(roundToStep(decimalOf(1000 / 65_000), step, 'down')), '0.01538');
  t.is(text(roundToStep(d('0.01538'), step, 'down')), '0.01538', 'an exact multiple is unchanged');
  t.is(text(roundToStep(d('2500.555'), d('0.01'), 'down')), '2500.55');
  t.is(text(roundToStep(d('2500.551'), d('0.01'), 'up')), '2500.56');
  t.is(text(roundToStep(d('2500.55'), d('0.01'), 'up')), '2500.55');
  t.is(text(roundToStep(d('17'), d('5'), 'down')), '15', 'steps above 1');
});

/** `a − b` exactly, as a decimal string of the larger scale (the test's own arithmetic, independent of the module). */
function minus(a: Decimal, b: Decimal): Decimal {
  const scale = Math.max(a.scale, b.scale);
  const units = a.units * 10n ** BigInt(scale - a.scale) - b.units * 10n ** BigInt(scale - b.scale);
  return { units, scale };
}
const isMultiple = (x: Decimal, step: Decimal) => {
  const scale = Math.max(x.scale, step.scale);
  return (x.units * 10n ** BigInt(scale - x.scale)) % (step.units * 10n ** BigInt(scale - step.scale)) === 0n;
};

/** Steps as Binance sets them: 1, 2.5 or 5 times a power of ten, from 1e-8 to 10. */
const stepArb: fc.Arbitrary<Decimal> = fc
  .record({ mantissa: fc.constantFrom(1n, 25n, 5n), scale: fc.integer({ min: 0, max: 9 }) })
  .map(({ mantissa, scale }) => ({ units: mantissa, scale: mantissa === 25n ? scale + 1 : scale }));

type ValueKind = 'multiple' | 'double' | 'dust' | 'sum';
/** Values: exact multiples (also written with extra zeros), arbitrary doubles, float dust, and sums with float noise. */
const valueArb = (step: Decimal): fc.Arbitrary<{ kind: ValueKind; value: Decimal }> =>
  fc.oneof(
    fc
      .record({ k: fc.bigInt({ min: 0n, max: 10n ** 9n }), zeros: fc.integer({ min: 0, max: 4 }) })
      .map(({ k, zeros }) => ({
        kind: 'multiple' as const,
        value: { units: k * step.units * 10n ** BigInt(zeros), scale: step.scale + zeros },
      })),
    fc
      .double({ min: 0, max: 1e6, noNaN: true, noDefaultInfinity: true })
      .map((x) => ({ kind: 'double' as const, value: decimalOf(x) })),
    fc
      .double({ min: 1e-15, max: 1e-6, noNaN: true, noDefaultInfinity: true })
      .map((x) => ({ kind: 'dust' as const, value: decimalOf(x) })),
    fc
      .tuple(fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 0, max: 10_000 }))
      .map(([a, b]) => ({ kind: 'sum' as const, value: decimalOf(a / 10 + b / 100) })),
  );

const roundingCases = new CaseTally('rounding down to a step', {
  'exact multiple, unchanged': 0.05,
  'dust rounded to zero': 0.05,
  'rounded down, not to zero': 0.05,
  'input in exponent form': 0.02,
  'input with more decimals than the step': 0.1,
});

testProp(
  'rounding down gives a multiple of the step, not above the input, and less than one step below it',
  [stepArb.chain((step) => fc.tuple(fc.constant(step), valueArb(step)))],
  (t, [step, { value }]) => {
    const tally = roundingCases.run();
    const result = roundToStep(value, step, 'down');
    t.true(isMultiple(result, step), `${text(result)} is a multiple of ${text(step)}`);
    t.true(compareDecimal(result, value) <= 0, `${text(result)} ≤ ${text(value)}`);
    t.true(compareDecimal(minus(value, result), step) < 0, `${text(value)} − ${text(result)} < ${text(step)}`);
    const up = roundToStep(value, step, 'up');
    t.true(isMultiple(up, step) && compareDecimal(up, value) >= 0 && compareDecimal(minus(up, value), step) < 0);

    if (compareDecimal(result, value) === 0 && value.units > 0n) tally('exact multiple, unchanged');
    if (value.units > 0n && result.units === 0n) tally('dust rounded to zero');
    if (result.units > 0n && compareDecimal(result, value) < 0) tally('rounded down, not to zero');
    if (value.scale > step.scale && value.units % 10n ** BigInt(value.scale - step.scale) !== 0n)
      tally('input with more decimals than the step');
    if (/e/.test(String(Number(text(value))))) tally('input in exponent form');
  },
  { numRuns: 500 },
);

/** BTCUSDT as the fake lists it, read through the adapter's schema. */
function btcFilters(): SymbolFilters {
  const info = BinanceExchangeInfoSchema.parse({
    symbols: [{ symbol: 'BTCUSDT', status: 'TRADING', filters: DEFAULT_SYMBOL_FILTERS.BTCUSDT }],
  });
  const filters = toSymbolFilters(info, 'BTCUSDT');
  if (!filters) throw new Error('BTCUSDT missing');
  return filters;
}

test('exchangeInfo: known filters are read exactly, unknown ones pass, a malformed known one fails the answer', (t) => {
  const filters = btcFilters();
  t.is(text(filters.lotSize!.stepSize), '0.00001');
  t.is(text(filters.marketLotSize!.maxQty), '120');
  t.is(text(filters.price!.tickSize), '0.01');
  t.like(filters.notional[0], { filter: 'NOTIONAL', minToMarket: true, maxToMarket: false });
  t.is(toSymbolFilters(BinanceExchangeInfoSchema.parse({ symbols: [] }), 'BTCUSDT'), undefined);

  const older = BinanceExchangeInfoSchema.parse({
    symbols: [
      {
        symbol: 'LTCBTC',
        filters: [{ filterType: 'MIN_NOTIONAL', minNotional: '0.00010000', applyToMarket: false, avgPriceMins: 5 }],
      },
    ],
  });
  t.like(toSymbolFilters(older, 'LTCBTC')?.notional[0], { filter: 'MIN_NOTIONAL', minToMarket: false });

  const malformed = BinanceExchangeInfoSchema.safeParse({
    symbols: [{ symbol: 'BTCUSDT', filters: [{ filterType: 'LOT_SIZE', minQty: '0.001', maxQty: '9000' }] }],
  });
  t.false(malformed.success, 'a LOT_SIZE without stepSize is not silently ignored');
  t.false(
    BinanceExchangeInfoSchema.safeParse({
      symbols: [
        {
          symbol: 'BTCUSDT',
          filters: [{ filterType: 'PRICE_FILTER', minPrice: 0.01, maxPrice: '1', tickSize: '0.01' }],
        },
      ],
    }).success,
    'numbers where Binance sends decimal strings',
  );
});

const order = (extra: Partial<OrderRequest>): OrderRequest => ({
  clientOrderId: 'ord-f',
  symbol: 'BTCUSDT',
  side: 'sell',
  type: 'market',
  quantity: 1,
  ...extra,
});

const refused = (t: import('ava').ExecutionContext, fn: () => unknown, message: RegExp) => {
  const err = t.throws<VenueError>(fn);
  t.true(isVenueError(err, 'rejected'));
  t.regex(err?.message ?? '', message);
};

test('filters on an order: quantities round down, limit prices round toward the trader, bounds refuse naming the filter', (t) => {
  const f = btcFilters();
  t.deepEqual(applySymbolFilters(order({ quantity: 0.1 + 0.2 }), f, undefined), { quantity: '0.3', price: undefined });
  t.deepEqual(
    applySymbolFilters(order({ type: 'limit', side: 'buy', quantity: 0.0153846, price: 40_000.005 }), f, undefined),
    {
      quantity: '0.01538',
      price: '40000',
    },
  );
  t.is(
    applySymbolFilters(order({ type: 'limit', side: 'sell', quantity: 0.001, price: 40_000.001 }), f, undefined).price,
    '40000.01',
  );

  refused(
    t,
    () => applySymbolFilters(order({ quantity: 1e-9 }), f, undefined),
    /^order ord-f: BTCUSDT LOT_SIZE: quantity 0\.000000001 rounded down to stepSize 0\.00001 is 0, below minQty 0\.00001; not sent$/,
  );
  refused(
    t,
    () => applySymbolFilters(order({ type: 'limit', quantity: 9000.5, price: 1 }), f, undefined),
    /LOT_SIZE: quantity 9000\.5, above maxQty 9000/,
  );
  // A market order also passes MARKET_LOT_SIZE (its zero step and minimum are disabled); a limit order does not.
  refused(
    t,
    () => applySymbolFilters(order({ quantity: 150 }), f, undefined),
    /BTCUSDT MARKET_LOT_SIZE: quantity 150, above maxQty 120/,
  );
  t.is(applySymbolFilters(order({ type: 'limit', quantity: 150, price: 50_000 }), f, undefined).quantity, '150');
  refused(
    t,
    () => applySymbolFilters(order({ type: 'limit', side: 'buy', quantity: 1, price: 0.004 }), f, undefined),
    /PRICE_FILTER: price 0\.004 rounded down to tickSize 0\.01 is 0, below minPrice 0\.01/,
  );
  refused(
    t,
    () => applySymbolFilters(order({ type: 'limit', quantity: 1, price: 2_000_000 }), f, undefined),
    /PRICE_FILTER: price 2000000, above maxPrice 1000000/,
  );
  refused(
    t,
    () => applySymbolFilters(order({ type: 'limit', quantity: 0.0001, price: 40_000 }), f, undefined),
    /BTCUSDT NOTIONAL: notional 0\.0001 × 40000 = 4, below minNotional 5/,
  );
  refused(
    t,
    () => applySymbolFilters(order({ type: 'limit', quantity: 200, price: 50_000 }), f, undefined),
    /NOTIONAL: notional 200 × 50000 = 10000000, above maxNotional 9000000/,
  );
  // A market order's notional: judged at the last price when one is known (applyMinToMarket), else left to the venue.
  t.is(applySymbolFilters(order({ quantity: 0.00005 }), f, undefined).quantity, '0.00005');
  refused(
    t,
    () => applySymbolFilters(order({ quantity: 0.00005 }), f, d('60000')),
    /NOTIONAL: notional 0\.00005 × last price 60000 = 3, below minNotional 5/,
  );
  t.is(applySymbolFilters(order({ quantity: 200 / 1000 }), f, d('60000')).quantity, '0.2', 'applyMaxToMarket is false');

  const noMarketMin: SymbolFilters = { ...f, notional: f.notional.map((n) => ({ ...n, minToMarket: false })) };
  t.is(applySymbolFilters(order({ quantity: 0.00005 }), noMarketMin, d('60000')).quantity, '0.00005');
  const none: SymbolFilters = {
    symbol: 'XYZUSDT',
    lotSize: undefined,
    marketLotSize: undefined,
    price: undefined,
    notional: [],
  };
  t.deepEqual(applySymbolFilters(order({ quantity: 1e-7 }), none, undefined), {
    quantity: '0.0000001',
    price: undefined,
  });
});
