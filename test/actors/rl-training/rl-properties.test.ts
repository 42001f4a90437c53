/**
 * Properties of rl-training over random outcome streams and configs, checked
 * against a window the test keeps itself: a promotion always follows at least
 * `windowSize` outcomes of that candidate, its candidate beats live by more
 * than the margin on exactly those outcomes (and a full-window evaluation
 * that beats live always promotes), evaluations come every `evaluateEvery`
 * outcomes, live changes only through `model.promoted`, and every output is
 * valid catalog data.
 */
import { fc, testProp } from '@fast-check/ava';
import type { RlConfig } from '../../../src/actors/rl-training/rl-config.js';
import { type Outcome, signalReturn, windowScore } from '../../../src/actors/rl-training/score.js';
import { sizingModelOf } from '../../../src/actors/rl-training/sizing.js';
import { EVENT_CATALOG } from '../../../src/events/catalog.js';
import { CaseTally } from '../../support/case-tally.js';
import { RlDriver, type Trade } from './helpers.js';

const NOTIONAL = 1000;

const config = fc.record({
  windowSize: fc.integer({ min: 2, max: 20 }),
  evaluateEvery: fc.integer({ min: 1, max: 8 }),
  margin: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 0.5, noNaN: true })),
  rejectAfter: fc.integer({ min: 1, max: 4 }),
  seed: fc.integer({ min: -1000, max: 1000 }),
  searchStep: fc.double({ min: 0.01, max: 4, noNaN: true }),
  horizonMs: fc.constant(60_000),
  minConfidence: fc.constant(0),
  orderNotional: fc.constant(NOTIONAL),
}) satisfies fc.Arbitrary<RlConfig | Partial<RlConfig>>;

/** Returns often correlated with confidence (either way), so promotions happen as well as rejections. */
const trades: fc.Arbitrary<Trade[]> = fc.integer({ min: -1, max: 1 }).chain((bias) =>
  fc.array(
    fc
      .record({
        confidence: fc.integer({ min: 0, max: 100 }).map((n) => n / 100),
        noise: fc.integer({ min: -100, max: 100 }).map((n) => n / 10_000),
        side: fc.constantFrom('buy' as const, 'sell' as const),
      })
      .map(({ confidence, noise, side }) => ({ confidence, side, ret: bias * (confidence - 0.5) * 0.05 + noise })),
    { maxLength: 150, size: 'max' },
  ),
);

/** The outcome the driver's signal and tick make, by the definition (entry 100, exit set from `ret`). */
function outcomeOf(trade: Trade, i: number): Outcome {
  const side = trade.side ?? 'buy';
  const exit = 100 * (1 + (side === 'buy' ? trade.ret : -trade.ret));
  return { signalId: `sig-${i}`, confidence: trade.confidence, ret: signalReturn(side, 100, exit) };
}

/**
 * "Exactly when" is only tested both ways: runs that promote, runs where a
 * full window does not beat live (no promotion), and runs where the candidate
 * beats live before its window is full (no promotion yet).
 */
const promotionCases = new CaseTally('promotion', { promoted: 0.55, fullWindowNotBeating: 0.55, beatsBeforeFull: 0.4 });

testProp(
  'promotes exactly when a full window of the candidate beats live by more than the margin',
  [config, trades],
  (t, cfg, list) => {
    const hit = promotionCases.run();
    const d = new RlDriver(cfg);
    let window: Outcome[] = [];
    let sinceProposal = 0;
    let sinceEvaluation = 0;
    for (const [i, trade] of list.entries()) {
      const { live, candidate } = d.context;
      const out = d.trade(trade);
      window = [...window, outcomeOf(trade, i)].slice(-cfg.windowSize);
      sinceProposal++;
      sinceEvaluation++;
      for (const o of out) t.true(EVENT_CATALOG[o.type].safeParse(o.data).success, JSON.stringify(o));

      const evaluated = out.flatMap((o) => (o.type === 'model.evaluated' ? [o.data] : []));
      const promoted = out.flatMap((o) => (o.type === 'model.promoted' ? [o.data] : []));
      t.true(promoted.length <= evaluated.length);
      t.is(evaluated.length, sinceEvaluation === cfg.evaluateEvery ? 1 : 0, 'one evaluation every evaluateEvery');
      if (evaluated.length === 0) {
        t.is(d.context.live, live, 'live changes only through model.promoted');
        continue;
      }
      const e = evaluated[0]!;
      sinceEvaluation = 0;
      const liveScore = windowScore(live, window, NOTIONAL).score;
      const candidateScore = windowScore(candidate, window, NOTIONAL).score;
      t.is(e.liveScore, liveScore, 'live scored on the same outcomes');
      t.is(e.candidateScore, candidateScore, 'candidate scored on the same outcomes');
      const beats = candidateScore > liveScore + cfg.margin;
      const full = sinceProposal >= cfg.windowSize;
      t.is(promoted.length === 1, full && beats);
      if (full && !beats) hit('fullWindowNotBeating');
      if (!full && beats) hit('beatsBeforeFull');
      if (promoted.length === 1) {
        hit('promoted');
        t.is(promoted[0]!.outcomes, cfg.windowSize);
        t.deepEqual(sizingModelOf(promoted[0]!), candidate);
        t.deepEqual(d.context.live, candidate);
      } else {
        t.is(d.context.live, live, 'live changes only through model.promoted');
      }
      if (e.decision === 'promoted' || e.decision === 'rejected') {
        window = [];
        sinceProposal = 0;
      }
    }
    t.pass();
  },
  { numRuns: 300 },
);
