/**
 * Properties of the pre-trade checks over random signals, books, policies
 * and ESS states (DESIGN §7): the ESS state is always obeyed and an approved
 * order never exceeds the per-order notional cap, whatever the sizing model.
 */
import { fc, testProp } from '@fast-check/ava';
import { RiskPolicySchema } from '../../../src/actors/risk-safety/policy.js';
import { evaluateSignal, type PreTradeInput } from '../../../src/actors/risk-safety/pre-trade.js';
import {
  DEFAULT_SIZING_MODEL,
  MAX_SIZE_MULTIPLIER,
  type SizingModel,
  sizeMultiplier,
} from '../../../src/actors/rl-training/sizing.js';
import { EVENT_CATALOG } from '../../../src/events/catalog.js';

const NOW = Date.UTC(2026, 0, 5, 12, 0, 0);
const SYMBOLS = ['BTCUSDT', 'ETHUSDT'] as const;

/**
 * Amounts spread evenly over the range (fc.double alone crowds near zero),
 * mixed with arbitrary doubles for awkward rounding.
 */
const amount = (min: number, max: number) =>
  fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min: min * 100, max: max * 100 }).map((n) => n / 100) },
    { weight: 1, arbitrary: fc.double({ min, max, noNaN: true, noDefaultInfinity: true }) },
  );
const price = amount(0.01, 200_000);

const policy = fc
  .record({
    maxOrdersPerSecond: fc.integer({ min: 1, max: 20 }),
    maxNotionalPerOrder: amount(1, 20_000),
    maxPositionNotionalPerSymbol: amount(1, 100_000),
    maxOpenOrders: fc.integer({ min: 1, max: 30 }),
    minConfidence: amount(0, 0.8),
    maxSignalAgeMs: fc.integer({ min: 1, max: 10_000 }),
    // Often exactly the cap, where rounding would bite.
    orderNotional: amount(1, 20_000),
    allowShortSelling: fc.boolean(),
  })
  .chain((p) =>
    fc.boolean().map((atCap) => RiskPolicySchema.parse(atCap ? { ...p, orderNotional: p.maxNotionalPerOrder } : p)),
  );

/** Positions are drawn as a notional at the signal price, so reduce-only and flipping orders are both common. */
const inputs: fc.Arbitrary<PreTradeInput> = fc
  .record({
    signal: fc.record({
      signalId: fc.constant('sig-1'),
      symbol: fc.constantFrom(...SYMBOLS),
      side: fc.constantFrom('buy' as const, 'sell' as const),
      confidence: amount(0.3, 1),
      price,
      strategies: fc.constant([] as { name: string; side: 'buy' | 'sell' | 'hold'; score: number }[]),
    }),
    signalAgeMs: fc.integer({ min: 0, max: 6_000 }),
    policy,
    essState: fc.constantFrom('armed' as const, 'reducing' as const, 'tripped' as const, 'awaitingReset' as const),
    positionNotional: fc.oneof(fc.constant(0), amount(-60_000, 60_000)),
    otherSymbolQuantity: amount(-10, 10),
    openOrders: fc.integer({ min: 0, max: 30 }),
    recentOrderTimes: fc.array(fc.integer({ min: NOW - 3_000, max: NOW }), { maxLength: 25 }),
  })
  .map(
    ({
      signal,
      signalAgeMs,
      policy,
      essState,
      positionNotional,
      otherSymbolQuantity,
      openOrders,
      recentOrderTimes,
    }) => {
      const other = SYMBOLS.find((s) => s !== signal.symbol) as string;
      return {
        signal,
        signalTime: NOW - signalAgeMs,
        now: NOW,
        policy,
        essState,
        book: {
          positions: {
            [signal.symbol]: { quantity: positionNotional / signal.price },
            [other]: { quantity: otherSymbolQuantity },
          },
          openOrders,
          recentOrderTimes,
        },
        orderId: 'ord-1',
      };
    },
  );

const PARAMS = { numRuns: 1_000 };

testProp(
  'tripped or awaitingReset: no non-reduce-only order is ever approved',
  [
    fc
      .tuple(inputs, fc.constantFrom('tripped' as const, 'awaitingReset' as const))
      .map(([i, essState]) => ({ ...i, essState })),
  ],
  (t, input) => {
    const result = evaluateSignal(input);
    t.true(!('approved' in result) || result.approved.reduceOnly);
  },
  PARAMS,
);

testProp(
  'reducing: every approved order is reduce-only',
  [inputs.map((i) => ({ ...i, essState: 'reducing' as const }))],
  (t, input) => {
    const result = evaluateSignal(input);
    t.true(!('approved' in result) || result.approved.reduceOnly);
  },
  PARAMS,
);

testProp(
  'without short selling, an approved sell never takes the position below zero',
  [inputs.map((i) => ({ ...i, policy: { ...i.policy, allowShortSelling: false } }))],
  (t, input) => {
    const result = evaluateSignal(input);
    const held = input.book.positions[input.signal.symbol]?.quantity ?? 0;
    if ('approved' in result && result.approved.side === 'sell') t.true(held - result.approved.quantity >= 0);
    else t.pass();
  },
  PARAMS,
);

testProp(
  'an approved order never exceeds maxNotionalPerOrder, and every verdict is valid event data',
  [inputs],
  (t, input) => {
    const result = evaluateSignal(input);
    if ('approved' in result) {
      t.true(result.approved.notional <= input.policy.maxNotionalPerOrder);
      t.true(result.approved.quantity * input.signal.price <= input.policy.maxNotionalPerOrder);
      t.true(EVENT_CATALOG['order.approved'].safeParse(result.approved).success);
    } else {
      t.true(EVENT_CATALOG['order.rejected'].safeParse(result.rejected).success);
    }
  },
  PARAMS,
);

/** Any sizing model the catalog admits, extremes included (sizeMultiplier clamps them). */
const sizing: fc.Arbitrary<SizingModel> = fc.oneof(
  fc.record({
    modelId: fc.constant('fixed-x'),
    kind: fc.constant('fixed' as const),
    params: fc.record({ multiplier: fc.double({ min: -5, max: 5, noNaN: true }) }),
  }),
  fc.record({
    modelId: fc.constant('cs-x'),
    kind: fc.constant('confidence-scaled' as const),
    params: fc.record({ a: amount(0, 2), b: fc.double({ min: -10, max: 10, noNaN: true }) }),
  }),
);

testProp(
  'the default sizing model decides exactly as no sizing model at all',
  [inputs],
  (t, input) => {
    t.deepEqual(evaluateSignal({ ...input, sizing: DEFAULT_SIZING_MODEL }), evaluateSignal(input));
  },
  PARAMS,
);

testProp(
  'with any sizing model, an approved order is within maxNotionalPerOrder and orderNotional × multiplier',
  [inputs, sizing],
  (t, input, model) => {
    const result = evaluateSignal({ ...input, sizing: model });
    if (!('approved' in result)) return t.true(EVENT_CATALOG['order.rejected'].safeParse(result.rejected).success);
    const m = sizeMultiplier(model, input.signal.confidence);
    t.true(m > 0 && m <= MAX_SIZE_MULTIPLIER);
    t.true(result.approved.notional <= input.policy.maxNotionalPerOrder);
    t.true(result.approved.notional <= input.policy.orderNotional * m);
    // Sized to it up to rounding (subnormal quantities lose relative precision, so they are left out),
    // unless a sell was capped at the long held because short selling is off.
    const capped = input.signal.side === 'sell' && !input.policy.allowShortSelling;
    if (result.approved.quantity > 1e-290 && !capped) {
      t.true(result.approved.notional > input.policy.orderNotional * m * (1 - 1e-12));
    }
    t.true(EVENT_CATALOG['order.approved'].safeParse(result.approved).success);
  },
  PARAMS,
);
