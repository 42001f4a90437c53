/**
 * The pre-trade checks (docs/architecture.md §10): each reason code, the order of the
 * checks, the shape of an approval, and reduce-only detection.
 */
import test from 'ava';
import { DEFAULT_RISK_POLICY, type RiskPolicy } from '../../../src/actors/risk-safety/policy.js';
import {
  evaluateSignal,
  isReduceOnly,
  type PreTradeInput,
  type PreTradeResult,
  sizeQuantity,
} from '../../../src/actors/risk-safety/pre-trade.js';
import { EVENT_CATALOG, type EventData } from '../../../src/events/catalog.js';

const NOW = Date.UTC(2026, 0, 5, 12, 0, 0);

type Overrides = Partial<Omit<PreTradeInput, 'signal' | 'policy' | 'book'>> & {
  signal?: Partial<EventData<'signal.generated'>>;
  policy?: Partial<RiskPolicy>;
  book?: Partial<PreTradeInput['book']>;
};

/** A signal that passes every check with the default policy: buy 0.01 BTC at 100 000 (notional 1 000). */
function input(o: Overrides = {}): PreTradeInput {
  return {
    signal: {
      signalId: 'sig-1',
      symbol: 'BTCUSDT',
      side: 'buy',
      confidence: 0.8,
      price: 100_000,
      strategies: [{ name: 'momentum', side: 'buy', score: 0.8 }],
      ...o.signal,
    },
    signalTime: o.signalTime ?? NOW - 100,
    now: o.now ?? NOW,
    policy: { ...DEFAULT_RISK_POLICY, ...o.policy },
    essState: o.essState ?? 'armed',
    book: { positions: {}, openOrders: 0, recentOrderTimes: [], ...o.book },
    orderId: o.orderId ?? 'ord-1',
  };
}

function rejection(result: PreTradeResult): EventData<'order.rejected'> {
  if (!('rejected' in result)) throw new Error(`expected a rejection, got ${JSON.stringify(result)}`);
  EVENT_CATALOG['order.rejected'].parse(result.rejected);
  return result.rejected;
}

function approval(result: PreTradeResult): EventData<'order.approved'> {
  if (!('approved' in result)) throw new Error(`expected an approval, got ${JSON.stringify(result)}`);
  EVENT_CATALOG['order.approved'].parse(result.approved);
  return result.approved;
}

test('a good signal becomes an approved market order sized to orderNotional', (t) => {
  const order = approval(evaluateSignal(input()));
  t.deepEqual(order, {
    orderId: 'ord-1',
    symbol: 'BTCUSDT',
    side: 'buy',
    signalId: 'sig-1',
    type: 'market',
    quantity: 0.01,
    reduceOnly: false,
    notional: 1_000,
  });
});

test('quantity × price never exceeds orderNotional, even where division rounds up', (t) => {
  for (const price of [3, 7, 0.1, 0.3, 29_999.99, 1e-7, 12345.6789]) {
    const q = sizeQuantity(1_000, price);
    t.true(q > 0, `price ${price}`);
    t.true(q * price <= 1_000, `price ${price}`);
    t.true(q * price > 1_000 * (1 - 1e-12), `price ${price}`);
  }
  // An order sized exactly to the per-order maximum is not refused by a rounding error.
  const order = approval(evaluateSignal(input({ signal: { price: 3 }, policy: { maxNotionalPerOrder: 1_000 } })));
  t.true(order.notional <= 1_000);
});

test('TRADING_HALTED while tripped or awaitingReset, even for reduce-only orders', (t) => {
  for (const essState of ['tripped', 'awaitingReset'] as const) {
    for (const quantity of [0, 1]) {
      const r = rejection(
        evaluateSignal(input({ essState, signal: { side: 'sell' }, book: { positions: { BTCUSDT: { quantity } } } })),
      );
      t.is(r.reason, 'TRADING_HALTED');
      t.is(r.detail, `ESS is ${essState}: trading is halted`);
      t.like(r, { orderId: 'ord-1', symbol: 'BTCUSDT', side: 'sell', signalId: 'sig-1' });
    }
  }
});

test('REDUCE_ONLY while reducing for an order that does not reduce; a reducing order passes', (t) => {
  const r = rejection(evaluateSignal(input({ essState: 'reducing' })));
  t.is(r.reason, 'REDUCE_ONLY');
  t.regex(r.detail, /reducing/);
  const order = approval(
    evaluateSignal(
      input({ essState: 'reducing', signal: { side: 'sell' }, book: { positions: { BTCUSDT: { quantity: 0.5 } } } }),
    ),
  );
  t.true(order.reduceOnly);
});

test('STALE_SIGNAL when older than maxSignalAgeMs; exactly maxSignalAgeMs is still fresh', (t) => {
  const r = rejection(evaluateSignal(input({ signalTime: NOW - 5_001 })));
  t.is(r.reason, 'STALE_SIGNAL');
  t.is(r.detail, 'signal age 5001 ms > 5000 ms');
  approval(evaluateSignal(input({ signalTime: NOW - 5_000 })));
});

test('LOW_CONFIDENCE below minConfidence, with the numbers in the detail', (t) => {
  const r = rejection(evaluateSignal(input({ signal: { confidence: 0.42 } })));
  t.is(r.reason, 'LOW_CONFIDENCE');
  t.is(r.detail, 'confidence 0.42 < 0.60');
  approval(evaluateSignal(input({ signal: { confidence: 0.6 } })));
});

test('RATE_LIMIT_EXCEEDED counts only approvals within the last 1000 ms', (t) => {
  const full = Array.from({ length: 10 }, (_, i) => NOW - 999 + i * 50);
  const r = rejection(evaluateSignal(input({ book: { recentOrderTimes: full } })));
  t.is(r.reason, 'RATE_LIMIT_EXCEEDED');
  t.is(r.detail, '10 orders approved in the last 1000 ms >= 10/s');
  // Nine in the window and older ones outside it: allowed.
  const old = [NOW - 5_000, NOW - 1_000, ...full.slice(1)];
  approval(evaluateSignal(input({ book: { recentOrderTimes: old } })));
  rejection(evaluateSignal(input({ policy: { maxOrdersPerSecond: 1 }, book: { recentOrderTimes: [NOW - 1] } })));
});

test('NOTIONAL_EXCEEDS_MAX when the sized order is above maxNotionalPerOrder', (t) => {
  const r = rejection(evaluateSignal(input({ policy: { orderNotional: 2_000, maxNotionalPerOrder: 1_500 } })));
  t.is(r.reason, 'NOTIONAL_EXCEEDS_MAX');
  t.is(r.detail, 'notional 2000.00 > 1500.00');
});

test('POSITION_LIMIT when |position after the order| exceeds the per-symbol max; reduce-only never hits it', (t) => {
  // Long 0.495 BTC (49 500) + 0.01 → 50 500 > 50 000.
  const long = { positions: { BTCUSDT: { quantity: 0.495 } } };
  const r = rejection(evaluateSignal(input({ book: long })));
  t.is(r.reason, 'POSITION_LIMIT');
  t.is(r.detail, 'BTCUSDT position notional after the order 50500.00 > 50000.00');
  // Short side counts by absolute value (where short selling is allowed).
  const short = rejection(
    evaluateSignal(
      input({
        signal: { side: 'sell' },
        policy: { allowShortSelling: true },
        book: { positions: { BTCUSDT: { quantity: -0.495 } } },
      }),
    ),
  );
  t.is(short.reason, 'POSITION_LIMIT');
  // A sell that reduces a position already over the limit is allowed.
  const over = { positions: { BTCUSDT: { quantity: 0.9 } } };
  t.true(approval(evaluateSignal(input({ signal: { side: 'sell' }, book: over }))).reduceOnly);
  // Other symbols' positions do not count.
  approval(evaluateSignal(input({ book: { positions: { ETHUSDT: { quantity: 1_000 } } } })));
});

test('MAX_OPEN_ORDERS when maxOpenOrders are already open', (t) => {
  const r = rejection(evaluateSignal(input({ book: { openOrders: 20 } })));
  t.is(r.reason, 'MAX_OPEN_ORDERS');
  t.is(r.detail, '20 open orders >= 20');
  approval(evaluateSignal(input({ book: { openOrders: 19 } })));
});

test('INVALID_ORDER when the order notional cannot be turned into a quantity', (t) => {
  const r = rejection(evaluateSignal(input({ signal: { price: 1e300 }, policy: { orderNotional: 1e-300 } })));
  t.is(r.reason, 'INVALID_ORDER');
});

test('the first failing check is the reason given', (t) => {
  const everythingWrong = {
    signalTime: NOW - 60_000,
    signal: { confidence: 0.1 },
    policy: { orderNotional: 20_000 },
    book: {
      openOrders: 99,
      recentOrderTimes: Array.from({ length: 20 }, () => NOW),
      positions: { BTCUSDT: { quantity: 10 } },
    },
  } satisfies Overrides;
  const reasons = [
    ['tripped', 'TRADING_HALTED'],
    ['reducing', 'REDUCE_ONLY'],
    ['armed', 'STALE_SIGNAL'],
  ] as const;
  for (const [essState, reason] of reasons) {
    t.is(rejection(evaluateSignal(input({ ...everythingWrong, essState }))).reason, reason);
  }
  const fresh = { ...everythingWrong, signalTime: NOW };
  t.is(rejection(evaluateSignal(input(fresh))).reason, 'LOW_CONFIDENCE');
  const confident = { ...fresh, signal: { confidence: 0.9 } };
  t.is(rejection(evaluateSignal(input(confident))).reason, 'RATE_LIMIT_EXCEEDED');
  const slow = { ...confident, book: { ...confident.book, recentOrderTimes: [] } };
  t.is(rejection(evaluateSignal(input(slow))).reason, 'NOTIONAL_EXCEEDS_MAX');
  const small = { ...slow, policy: { orderNotional: 1_000 } };
  t.is(rejection(evaluateSignal(input(small))).reason, 'POSITION_LIMIT');
  const flat = { ...small, book: { ...small.book, positions: {} } };
  t.is(rejection(evaluateSignal(input(flat))).reason, 'MAX_OPEN_ORDERS');
});

test('without short selling (the default), a sell is capped at the long held; with none held it is SHORT_NOT_ALLOWED', (t) => {
  const capped = approval(
    evaluateSignal(input({ signal: { side: 'sell' }, book: { positions: { BTCUSDT: { quantity: 0.004 } } } })),
  );
  t.is(capped.quantity, 0.004, 'sells what is held, not the 0.01 the notional asks for');
  t.true(capped.reduceOnly);
  t.is(capped.notional, 0.004 * 100_000);
  const full = approval(
    evaluateSignal(input({ signal: { side: 'sell' }, book: { positions: { BTCUSDT: { quantity: 0.5 } } } })),
  );
  t.true(Math.abs(full.quantity - 0.01) < 1e-12, 'a larger long sells the sized quantity');
  for (const quantity of [0, -0.2]) {
    const r = rejection(
      evaluateSignal(input({ signal: { side: 'sell' }, book: { positions: { BTCUSDT: { quantity } } } })),
    );
    t.is(r.reason, 'SHORT_NOT_ALLOWED');
    t.is(r.detail, 'no BTCUSDT held to sell, and short selling is off');
  }
  const halted = rejection(evaluateSignal(input({ signal: { side: 'sell' }, essState: 'tripped' })));
  t.is(halted.reason, 'TRADING_HALTED', 'the ESS gate comes first');
});

test('reduce-only: shrinks an opposite position without flipping it', (t) => {
  t.true(isReduceOnly(1, -0.5), 'sell while long');
  t.true(isReduceOnly(1, -1), 'sell the whole long');
  t.true(isReduceOnly(-2, 1), 'buy while short');
  t.false(isReduceOnly(1, -1.5), 'sell that flips to short');
  t.false(isReduceOnly(-1, 2), 'buy that flips to long');
  t.false(isReduceOnly(1, 0.5), 'buy while long');
  t.false(isReduceOnly(-1, -0.5), 'sell while short');
  t.false(isReduceOnly(0, -1), 'sell while flat');
  t.false(isReduceOnly(0, 1), 'buy while flat');

  // Through evaluateSignal: 0.01 BTC sell against a 0.005 long would flip it (short selling allowed).
  const flips = evaluateSignal(
    input({
      signal: { side: 'sell' },
      policy: { allowShortSelling: true },
      book: { positions: { BTCUSDT: { quantity: 0.005 } } },
    }),
  );
  t.false(approval(flips).reduceOnly);
  const reduces = evaluateSignal(
    input({ signal: { side: 'sell' }, book: { positions: { BTCUSDT: { quantity: 0.01 } } } }),
  );
  t.true(approval(reduces).reduceOnly);
});
