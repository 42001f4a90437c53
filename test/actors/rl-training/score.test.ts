/** Outcomes and the window score: signed returns, PnL per policy, the risk-adjusted ratio. */
import test from 'ava';
import { type Outcome, outcomePnl, signalReturn, windowScore } from '../../../src/actors/rl-training/score.js';
import { DEFAULT_SIZING_MODEL, type SizingModel } from '../../../src/actors/rl-training/sizing.js';

const fixed = (multiplier: number): SizingModel => ({ modelId: 'f', kind: 'fixed', params: { multiplier } });
const o = (confidence: number, ret: number, i = 0): Outcome => ({ signalId: `s${i}`, confidence, ret });

test('a buy gains when the price rises, a sell when it falls', (t) => {
  t.is(signalReturn('buy', 100, 110), 0.1);
  t.is(signalReturn('sell', 100, 110), -0.1);
  t.is(signalReturn('sell', 200, 150), 0.25);
  t.is(signalReturn('buy', 100, 100), 0);
});

test('PnL = orderNotional × multiplier(confidence) × return', (t) => {
  t.is(outcomePnl(DEFAULT_SIZING_MODEL, o(0.7, 0.02), 1000), 20);
  t.is(outcomePnl(fixed(1.5), o(0.7, -0.02), 1000), -30);
  const cs: SizingModel = { modelId: 'c', kind: 'confidence-scaled', params: { a: 1, b: 2 } };
  t.is(outcomePnl(cs, o(0.75, 0.01), 1000), 15);
});

test('score = mean PnL / standard deviation; total PnL alongside', (t) => {
  const w = [o(0.7, 0.03, 1), o(0.7, -0.01, 2)]; // PnL 30, −10: mean 10, sd 20
  const s = windowScore(DEFAULT_SIZING_MODEL, w, 1000);
  t.is(s.pnl, 20);
  t.is(s.score, 0.5);
});

test('the score is invariant to scaling every size: leverage alone never wins', (t) => {
  const w = [o(0.7, 0.03, 1), o(0.8, -0.01, 2), o(0.9, 0.02, 3)];
  const one = windowScore(fixed(1), w, 1000);
  const two = windowScore(fixed(2), w, 1000);
  t.true(Math.abs(one.score - two.score) < 1e-12);
  t.true(Math.abs(two.pnl - 2 * one.pnl) < 1e-9, 'while PnL doubles');
});

test('an empty window, no spread, or a policy that sizes nothing scores 0', (t) => {
  t.deepEqual(windowScore(DEFAULT_SIZING_MODEL, [], 1000), { score: 0, pnl: 0 });
  t.is(windowScore(fixed(0), [o(0.7, 0.03), o(0.7, -0.01)], 1000).score, 0);
  t.is(windowScore(DEFAULT_SIZING_MODEL, [o(0.7, 0.1), o(0.8, 0.1), o(0.9, 0.1)], 1000).score, 0);
});
