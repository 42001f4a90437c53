/**
 * Pre-trade sizing by the live sizing model (rl-training's `model.promoted`):
 * the default gives today's sizes, a promoted model scales the notional,
 * the existing checks still cap it in the same order, and the pre-trade
 * machine keeps the model in its snapshot.
 */
import test from 'ava';
import { createActor } from 'xstate';
import { DEFAULT_RISK_POLICY } from '../../../src/actors/risk-safety/policy.js';
import { evaluateSignal, type PreTradeInput } from '../../../src/actors/risk-safety/pre-trade.js';
import { type PretradeEvent, pretradeMachine } from '../../../src/actors/risk-safety/pretrade-machine.js';
import { DEFAULT_SIZING_MODEL, type SizingModel } from '../../../src/actors/rl-training/sizing.js';
import type { EventData } from '../../../src/events/catalog.js';

const NOW = Date.UTC(2026, 0, 5, 12, 0, 0);
/** 1 + 2 × (confidence − 0.5): 1.6 at confidence 0.8. */
const SCALED: SizingModel = { modelId: 'cs-g1', kind: 'confidence-scaled', params: { a: 1, b: 2 } };

const signal = (o: Partial<EventData<'signal.generated'>> = {}): EventData<'signal.generated'> => ({
  signalId: 'sig-1',
  symbol: 'BTCUSDT',
  side: 'buy',
  confidence: 0.8,
  price: 100_000,
  strategies: [],
  ...o,
});

const input = (o: Partial<PreTradeInput> = {}): PreTradeInput => ({
  signal: signal(),
  signalTime: NOW - 100,
  now: NOW,
  policy: DEFAULT_RISK_POLICY,
  essState: 'armed',
  book: { positions: {}, openOrders: 0, recentOrderTimes: [] },
  orderId: 'ord-1',
  ...o,
});

test('the default model sizes exactly to orderNotional, as without a model', (t) => {
  const without = evaluateSignal(input());
  t.deepEqual(evaluateSignal(input({ sizing: DEFAULT_SIZING_MODEL })), without);
  t.like(without, { approved: { quantity: 0.01, notional: 1_000 } });
});

test('a promoted model scales the order: orderNotional × multiplier(confidence)', (t) => {
  t.like(evaluateSignal(input({ sizing: SCALED })), { approved: { quantity: 0.016, notional: 1_600 } });
  t.like(evaluateSignal(input({ sizing: SCALED, signal: signal({ confidence: 0.6 }) })), {
    approved: { quantity: 0.012, notional: 1_200 },
  });
});

test('the checks still cap a scaled order, in the same order', (t) => {
  const policy = { ...DEFAULT_RISK_POLICY, maxNotionalPerOrder: 1_500 };
  t.like(evaluateSignal(input({ policy })), { approved: { notional: 1_000 } }, 'unscaled fits');
  t.like(evaluateSignal(input({ policy, sizing: SCALED })), {
    rejected: { reason: 'NOTIONAL_EXCEEDS_MAX', detail: 'notional 1600.00 > 1500.00' },
  });
  // A staler signal is still refused for its age first.
  t.like(evaluateSignal(input({ policy, sizing: SCALED, signalTime: NOW - 60_000 })), {
    rejected: { reason: 'STALE_SIGNAL' },
  });
  // 0.485 BTC long (48 500) + 0.016 (1 600) > 50 000, while the unscaled 0.01 (1 000) fits.
  const book = { positions: { BTCUSDT: { quantity: 0.485 } }, openOrders: 0, recentOrderTimes: [] };
  t.truthy('approved' in evaluateSignal(input({ book })));
  t.like(evaluateSignal(input({ book, sizing: SCALED })), { rejected: { reason: 'POSITION_LIMIT' } });
});

test('a model that sizes a signal to zero gives INVALID_ORDER naming the model', (t) => {
  const zero: SizingModel = { modelId: 'cs-g9', kind: 'confidence-scaled', params: { a: 0, b: 1 } };
  t.like(evaluateSignal(input({ sizing: zero, signal: signal({ confidence: 0.4 }) })), {
    rejected: {
      reason: 'INVALID_ORDER',
      detail: 'order notional 0.00 (1000.00 × 0.000 by cs-g9) at price 100000 gives no usable quantity',
    },
  });
});

const signalEvent = (signalId: string, confidence = 0.8): PretradeEvent => ({
  type: 'SIGNAL',
  signal: signal({ signalId, confidence }),
  signalTime: NOW,
  decidedAt: NOW,
});

test('the machine sizes with the default until model.promoted, then with the promoted model', (t) => {
  const actor = createActor(pretradeMachine).start();
  t.deepEqual(actor.getSnapshot().context.sizingModel, DEFAULT_SIZING_MODEL);
  actor.send(signalEvent('sig-1'));
  actor.send({ type: 'MODEL_PROMOTED', model: SCALED, eventId: 'model-1' });
  t.deepEqual(actor.getSnapshot().context.sizingModel, SCALED);
  actor.send(signalEvent('sig-2'));
  const approved = actor.getSnapshot().context.outbox.map((o) => o.data as EventData<'order.approved'>);
  t.deepEqual(
    approved.map((a) => [a.signalId, a.quantity, a.notional]),
    [
      ['sig-1', 0.01, 1_000],
      ['sig-2', 0.016, 1_600],
    ],
  );
});

test('the sizing model is persisted with the snapshot; an older snapshot without one sizes by default', (t) => {
  const actor = createActor(pretradeMachine).start();
  actor.send({ type: 'MODEL_PROMOTED', model: SCALED, eventId: 'model-1' });
  const json = JSON.parse(JSON.stringify(actor.getPersistedSnapshot()));
  const restored = createActor(pretradeMachine, { snapshot: json }).start();
  t.deepEqual(restored.getSnapshot().context.sizingModel, SCALED);

  delete json.context.sizingModel;
  const old = createActor(pretradeMachine, { snapshot: json }).start();
  old.send(signalEvent('sig-1'));
  t.like(old.getSnapshot().context.outbox[0]?.data, { quantity: 0.01, notional: 1_000 });
});
