/**
 * The rl-training machine: outcomes at the horizon, both policies scored on
 * the same outcomes, the evaluation cadence, the promotion rule (never before
 * a full window, only when the candidate wins), rejection of a losing
 * candidate, the pending cap, and JSON snapshots.
 */
import test from 'ava';
import { createActor } from 'xstate';
import { DEFAULT_RL_CONFIG, resolveRlConfig } from '../../../src/actors/rl-training/rl-config.js';
import {
  createRlMachine,
  createRlSpec,
  rlToEvents,
  rlTrainingSpec,
} from '../../../src/actors/rl-training/rl-machine.js';
import type { RlOutput } from '../../../src/actors/rl-training/rl-state.js';
import { outcomePnl, windowScore } from '../../../src/actors/rl-training/score.js';
import { DEFAULT_SIZING_MODEL, type SizingModel, sizingModelOf } from '../../../src/actors/rl-training/sizing.js';
import {
  DEFAULT_RL_EVALUATE_EVERY as DEFAULT_EVALUATE_EVERY,
  DEFAULT_RL_HORIZON_MS as DEFAULT_HORIZON_MS,
  DEFAULT_RL_PROMOTION_MARGIN as DEFAULT_PROMOTION_MARGIN,
  DEFAULT_RL_WINDOW_SIZE as DEFAULT_WINDOW_SIZE,
} from '../../../src/config/defaults.js';
import { EVENT_CATALOG } from '../../../src/events/catalog.js';
import { createEnvelope } from '../../../src/events/envelope.js';
import { confidencePays, HORIZON_MS, RlDriver, T0, TEST_CONFIG } from './helpers.js';

const slopeOf = (m: SizingModel): number => (m.kind === 'confidence-scaled' ? m.params.b : 0);
const valid = (t: { true(v: boolean, m?: string): void }, outputs: readonly RlOutput[]) => {
  for (const o of outputs) {
    const parsed = EVENT_CATALOG[o.type].safeParse(o.data);
    t.true(parsed.success, JSON.stringify(parsed.error?.issues));
  }
};

test('config: named defaults; bad values are QT_CONFIG_INVALID', (t) => {
  t.deepEqual(resolveRlConfig(), DEFAULT_RL_CONFIG);
  t.is(DEFAULT_RL_CONFIG.windowSize, DEFAULT_WINDOW_SIZE);
  t.is(DEFAULT_RL_CONFIG.horizonMs, DEFAULT_HORIZON_MS);
  t.is(DEFAULT_RL_CONFIG.evaluateEvery, DEFAULT_EVALUATE_EVERY);
  t.is(DEFAULT_RL_CONFIG.margin, DEFAULT_PROMOTION_MARGIN);
  t.like(resolveRlConfig({ windowSize: 20, margin: undefined }), { windowSize: 20, margin: DEFAULT_PROMOTION_MARGIN });
  t.true(Object.isFrozen(resolveRlConfig()));
  const bad = [
    { windowSize: 1 },
    { windowSize: 2.5 },
    { horizonMs: 0 },
    { horizonMs: Number.POSITIVE_INFINITY },
    { evaluateEvery: 0 },
    { margin: -0.1 },
    { margin: Number.NaN },
    { rejectAfter: 0 },
    { maxPending: 0 },
    { minConfidence: 1.1 },
    { orderNotional: 0 },
    { seed: 1.5 },
    { searchStep: 0 },
    { searchStep: 5 },
  ];
  for (const config of bad) {
    t.throws(() => createRlMachine(config), { code: 'QT_CONFIG_INVALID' } as never, JSON.stringify(config));
  }
});

test('starts with fixed-1 live and the generation-1 candidate', (t) => {
  const d = new RlDriver();
  t.deepEqual(d.context.live, DEFAULT_SIZING_MODEL);
  t.like(d.context.candidate, { modelId: 'cs-g1', kind: 'confidence-scaled' });
  t.is(d.context.generation, 1);
  t.deepEqual(d.context.outbox, []);
});

test('an outcome is the first tick of the symbol at or after signal time + horizon', (t) => {
  const d = new RlDriver();
  d.send({ type: 'SIGNAL', signalId: 's1', symbol: 'BTCUSDT', side: 'sell', confidence: 0.8, price: 200, at: T0 });
  d.send({ type: 'TICK', symbol: 'BTCUSDT', price: 150, at: T0 + HORIZON_MS - 1 });
  d.send({ type: 'TICK', symbol: 'ETHUSDT', price: 150, at: T0 + HORIZON_MS });
  t.is(d.context.pending.length, 1, 'too early, or another symbol: still pending');
  t.is(d.context.window.length, 0);
  d.send({ type: 'TICK', symbol: 'BTCUSDT', price: 180, at: T0 + HORIZON_MS });
  d.send({ type: 'TICK', symbol: 'BTCUSDT', price: 100, at: T0 + HORIZON_MS + 1 });
  t.deepEqual(d.context.pending, []);
  t.deepEqual(d.context.window, [{ signalId: 's1', confidence: 0.8, ret: 0.1 }], 'sell 200 → 180: +10 %');
  t.is(d.context.resolved, 1);
});

test('one tick resolves every due signal of its symbol, oldest first', (t) => {
  const d = new RlDriver();
  for (let i = 0; i < 3; i++) {
    d.send({
      type: 'SIGNAL',
      signalId: `s${i}`,
      symbol: 'BTCUSDT',
      side: 'buy',
      confidence: 0.7,
      price: 100,
      at: T0 + i,
    });
  }
  d.send({ type: 'TICK', symbol: 'BTCUSDT', price: 101, at: T0 + HORIZON_MS + 1 });
  t.deepEqual(
    d.context.window.map((o) => o.signalId),
    ['s0', 's1'],
  );
  t.deepEqual(
    d.context.pending.map((p) => p.signalId),
    ['s2'],
  );
});

test('signals below minConfidence are skipped: pre-trade would reject them whatever the size', (t) => {
  const d = new RlDriver({ ...TEST_CONFIG, minConfidence: 0.6 });
  d.send({ type: 'SIGNAL', signalId: 'low', symbol: 'BTCUSDT', side: 'buy', confidence: 0.59, price: 100, at: T0 });
  t.deepEqual(d.context.pending, []);
  t.is(d.context.skippedSignals, 1);
});

test('pending signals are capped: the oldest is dropped and counted', (t) => {
  const d = new RlDriver({ ...TEST_CONFIG, maxPending: 3 });
  for (let i = 1; i <= 5; i++) {
    d.send({
      type: 'SIGNAL',
      signalId: `s${i}`,
      symbol: 'BTCUSDT',
      side: 'buy',
      confidence: 0.7,
      price: 100,
      at: T0 + i,
    });
  }
  t.deepEqual(
    d.context.pending.map((p) => p.signalId),
    ['s3', 's4', 's5'],
  );
  t.is(d.context.droppedSignals, 2);
  d.send({ type: 'TICK', symbol: 'BTCUSDT', price: 101, at: T0 + HORIZON_MS + 10 });
  t.is(d.context.resolved, 3);
});

test('model.evaluated every evaluateEvery outcomes, never in between', (t) => {
  const d = new RlDriver({ ...TEST_CONFIG, windowSize: 50, evaluateEvery: 4 });
  const trades = confidencePays(13, 1);
  const evaluatedAfter: number[] = [];
  trades.forEach((trade, i) => {
    if (d.trade(trade).some((o) => o.type === 'model.evaluated')) evaluatedAfter.push(i + 1);
  });
  t.deepEqual(evaluatedAfter, [4, 8, 12]);
  t.deepEqual(
    d.of('model.evaluated').map((e) => [e.data.outcomes, e.data.decision]),
    [
      [4, 'filling'],
      [8, 'filling'],
      [12, 'filling'],
    ],
  );
  valid(t, d.outputs);
});

test('both policies are scored on exactly the same outcomes', (t) => {
  const d = new RlDriver({ ...TEST_CONFIG, windowSize: 50 });
  const trades = [
    { confidence: 0.62, ret: 0.013 },
    { confidence: 0.95, ret: -0.004 },
    { confidence: 0.71, ret: 0.021, side: 'sell' as const },
    { confidence: 0.88, ret: -0.017, side: 'sell' as const },
    { confidence: 0.77, ret: 0.006 },
  ];
  const { live, candidate } = d.context;
  d.trades(trades);
  const [evaluated] = d.of('model.evaluated');
  const window = d.context.window;
  t.is(window.length, 5);
  const sum = (m: SizingModel) => window.reduce((s, o) => s + outcomePnl(m, o, 1000), 0);
  t.like(evaluated?.data, {
    modelId: candidate.modelId,
    liveModelId: live.modelId,
    outcomes: 5,
    windowSize: 50,
    livePnl: sum(live),
    candidatePnl: sum(candidate),
    liveScore: windowScore(live, window, 1000).score,
    candidateScore: windowScore(candidate, window, 1000).score,
  });
  for (const [i, o] of window.entries()) t.true(Math.abs(o.ret - (trades[i]?.ret ?? Number.NaN)) < 1e-12);
});

test('never promotes before the window is full, however much better the candidate is', (t) => {
  const d = new RlDriver({ ...TEST_CONFIG, windowSize: 10, evaluateEvery: 3 });
  const trades = confidencePays(12, slopeOf(d.context.candidate));
  d.trades(trades.slice(0, 9));
  t.deepEqual(
    d.of('model.evaluated').map((e) => e.data.decision),
    ['filling', 'filling', 'filling'],
  );
  t.true(d.of('model.evaluated').every((e) => e.data.candidateScore > e.data.liveScore + 0.01));
  t.deepEqual(d.of('model.promoted'), []);
  d.trades(trades.slice(9));
  t.is(d.of('model.promoted').length, 1, 'promoted at the first evaluation with a full window');
  t.is(d.of('model.evaluated').at(-1)?.data.outcomes, 10);
});

test('promotes a better candidate: model.promoted with its kind and params; it becomes live', (t) => {
  const d = new RlDriver();
  const candidate = d.context.candidate;
  const out = d.trades(confidencePays(10, slopeOf(candidate)));
  valid(t, out);
  t.deepEqual(
    out.map((o) => o.type),
    ['model.evaluated', 'model.evaluated', 'model.promoted'],
  );
  const evaluated = d.of('model.evaluated')[1]!;
  t.is(evaluated.data.decision, 'promoted');
  t.is(evaluated.data.liveScore, 0, 'fixed-1 breaks even on these trades');
  t.true(evaluated.data.candidateScore > 0.01);
  const promoted = d.of('model.promoted')[0]!;
  t.like(promoted.data, {
    modelId: 'cs-g1',
    previousModelId: 'fixed-1',
    outcomes: 10,
    candidateScore: evaluated.data.candidateScore,
    liveScore: 0,
  });
  t.regex(promoted.data.reason, /beat live/);
  t.deepEqual(sizingModelOf(promoted.data), candidate);
  t.deepEqual(d.context.live, candidate);
  t.like(d.context, { generation: 2, window: [], sinceEvaluation: 0, failedEvaluations: 0 });
  t.is(d.context.candidate.modelId, 'cs-g2');
});

test('a worse candidate is never promoted; after rejectAfter losses a new one replaces it', (t) => {
  const d = new RlDriver();
  const first = d.context.candidate;
  d.trades(confidencePays(15, -slopeOf(first)));
  t.deepEqual(d.of('model.promoted'), []);
  t.deepEqual(
    d.of('model.evaluated').map((e) => [e.data.modelId, e.data.decision]),
    [
      ['cs-g1', 'filling'],
      ['cs-g1', 'holding'],
      ['cs-g1', 'rejected'],
    ],
  );
  t.true(d.of('model.evaluated').every((e) => e.data.candidateScore < e.data.liveScore));
  t.deepEqual(d.context.live, DEFAULT_SIZING_MODEL, 'live unchanged');
  t.like(d.context, { generation: 2, window: [], failedEvaluations: 0 });
});

test('a candidate that only ties live (within the margin) is not promoted', (t) => {
  // Every signal at the pivot confidence: the candidate sizes exactly like live.
  const d = new RlDriver({ ...TEST_CONFIG, minConfidence: 0 });
  d.trades(Array.from({ length: 10 }, (_, i) => ({ confidence: 0.5, ret: i % 3 === 0 ? -0.01 : 0.02 })));
  const last = d.of('model.evaluated').at(-1)!;
  t.is(last.data.outcomes, 10);
  t.is(last.data.candidateScore, last.data.liveScore);
  t.is(last.data.decision, 'holding');
  t.deepEqual(d.of('model.promoted'), []);
});

test('the snapshot is JSON: a restored actor continues exactly like the original', (t) => {
  const trades = confidencePays(30, 1).map((tr, i) => ({ ...tr, ret: tr.ret * (1 + (i % 7) / 10) }));
  const whole = new RlDriver();
  whole.trades(trades);

  const first = new RlDriver();
  first.trades(trades.slice(0, 13));
  const json = JSON.parse(JSON.stringify(first.actor.getPersistedSnapshot()));
  const machine = createRlMachine(TEST_CONFIG);
  const restored = createActor(machine, { snapshot: json }).start();
  t.deepEqual(restored.getSnapshot().context, first.context);
  restored.stop();

  const second = new RlDriver(TEST_CONFIG, json);
  // A new driver counts trades from 0, so the rest is sent by hand with the original ids and times.
  for (const [k, trade] of trades.slice(13).entries()) {
    const i = 13 + k;
    const at = T0 + i * 1000;
    second.send({
      type: 'SIGNAL',
      signalId: `sig-${i}`,
      symbol: 'BTCUSDT',
      side: 'buy',
      confidence: trade.confidence,
      price: 100,
      at,
    });
    second.send({ type: 'TICK', symbol: 'BTCUSDT', price: 100 * (1 + trade.ret), at: at + HORIZON_MS });
  }
  t.deepEqual([...first.outputs, ...second.outputs], whole.outputs);
  t.deepEqual(second.context, whole.context);
});

test('envelopes: signal.generated → SIGNAL and market.tick → TICK at envelope time; others ignored', (t) => {
  const now = new Date(T0);
  const signal = createEnvelope({
    type: 'signal.generated',
    data: { signalId: 'x', symbol: 'BTCUSDT', side: 'sell', confidence: 0.7, price: 10, strategies: [] },
    source: 'ai',
    producer: 'ai',
    seq: 1,
    now,
  });
  t.deepEqual(rlToEvents(signal), [
    { type: 'SIGNAL', signalId: 'x', symbol: 'BTCUSDT', side: 'sell', confidence: 0.7, price: 10, at: T0 },
  ]);
  const tick = createEnvelope({
    type: 'market.tick',
    data: { symbol: 'ETHUSDT', price: 3, volume: 1 },
    source: 'md',
    producer: 'md',
    seq: 1,
    now,
  });
  t.deepEqual(rlToEvents(tick), [{ type: 'TICK', symbol: 'ETHUSDT', price: 3, at: T0 }]);
  const other = createEnvelope({
    type: 'ess.reset',
    data: { operator: 'o', reason: 'r' },
    source: 'x',
    producer: 'x',
    seq: 1,
    now,
  });
  t.deepEqual(rlToEvents(other), []);
  const spec = createRlSpec();
  t.is(spec.name, 'rl-training');
  t.deepEqual([...spec.topics], ['signal', 'market']);
  t.is(rlTrainingSpec.name, 'rl-training');
  t.deepEqual([...rlTrainingSpec.topics], ['signal', 'market']);
});
