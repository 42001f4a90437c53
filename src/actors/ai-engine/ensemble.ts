/**
 * The ensemble: a weighted vote of the strategies (DESIGN §8).
 *
 * A side wins only with a strict majority of the TOTAL weight (strategies
 * that hold, or lack data, count against every side); otherwise the ensemble
 * holds. Confidence is the agreement-weighted score: the weighted sum of the
 * winners' scores over the total weight, so it is in 0..1, 1 only when every
 * strategy agrees at full strength, and 0 on hold.
 */
import { STRATEGIES, type StrategyName, type StrategySide } from './strategies.js';

/** Weight of each strategy in the vote (non-negative, finite). */
export type EnsembleWeights = Readonly<Record<StrategyName, number>>;

export const DEFAULT_WEIGHTS: EnsembleWeights = {
  'ema-crossover': 1,
  'rsi-reversion': 1,
  'bollinger-reversion': 1,
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

/** Runs every strategy on the closes (oldest first) and combines their votes. */
export function decide(closes: readonly number[], weights: EnsembleWeights = DEFAULT_WEIGHTS): Decision {
  const strategies = NAMES.map((name): StrategyReport => ({ name, ...STRATEGIES[name](closes) }));
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
