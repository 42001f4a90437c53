/**
 * The ensemble: a weighted vote of the strategies (docs/architecture.md §11.2).
 *
 * A side wins only with a strict majority of the TOTAL weight (strategies
 * that hold, or lack data, count against every side); otherwise the ensemble
 * holds. Confidence is the agreement-weighted score: the weighted sum of the
 * winners' scores over the total weight, so it is in 0..1, 1 only when every
 * strategy agrees at full strength, and 0 on hold.
 *
 * The rule is strict on purpose: since every member follows momentum
 * (strategies.ts), two of three agree on most ticks but weakly; a confidence
 * above the floor needs a strong move, in practice a Bollinger breakout.
 */
import { STRATEGIES, type StrategyName, type StrategySide } from './strategies.js';

/** Weight of each strategy in the vote (non-negative, finite). */
export type EnsembleWeights = Readonly<Record<StrategyName, number>>;

export const DEFAULT_WEIGHTS: EnsembleWeights = {
  'ema-crossover': 1,
  'rsi-momentum': 1,
  'bollinger-breakout': 1,
};

/** One strategy's vote, as reported in `signal.generated`. */
export interface StrategyReport {
  readonly name: StrategyName;
  readonly side: StrategySide;
  readonly score: number;
}

/** What the ensemble decides for the latest close. */
export interface Decision {
  readonly side: StrategySide;
  readonly confidence: number;
  readonly strategies: readonly StrategyReport[];
}

const NAMES = Object.keys(STRATEGIES) as StrategyName[];

/** Combines strategy votes by the weighted-majority rule above; a weight that is not positive and finite ignores its vote. */
export function combineVotes(
  strategies: readonly StrategyReport[],
  weights: EnsembleWeights = DEFAULT_WEIGHTS,
): Decision {
  let total = 0;
  const weight = { buy: 0, sell: 0 };
  const strength = { buy: 0, sell: 0 };
  for (const s of strategies) {
    const w = weights[s.name];
    if (!(w > 0) || !Number.isFinite(w)) continue;
    total += w;
    if (s.side !== 'hold') {
      weight[s.side] += w;
      strength[s.side] += w * s.score;
    }
  }
  const winner = weight.buy * 2 > total ? 'buy' : weight.sell * 2 > total ? 'sell' : undefined;
  if (winner === undefined || total === 0) return { side: 'hold', confidence: 0, strategies };
  const confidence = Math.min(1, Math.max(0, strength[winner] / total));
  return confidence > 0 ? { side: winner, confidence, strategies } : { side: 'hold', confidence: 0, strategies };
}

/** Runs every strategy on the closes (oldest first) and combines their votes. */
export function decide(closes: readonly number[], weights: EnsembleWeights = DEFAULT_WEIGHTS): Decision {
  return combineVotes(
    NAMES.map((name): StrategyReport => ({ name, ...STRATEGIES[name](closes) })),
    weights,
  );
}
