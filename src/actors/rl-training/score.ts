/**
 * Outcomes of signals and the window score of a sizing policy (rl-training).
 * Both the live and the candidate policy are scored on exactly the same
 * outcomes; only the multiplier differs. Pure.
 */
import { type SizingModel, sizeMultiplier } from './sizing.js';

/** A resolved signal: what it returned over the horizon, and how confident it was. */
export interface Outcome {
  readonly signalId: string;
  readonly confidence: number;
  /** Signed return over the horizon: `sign(side) × (exit − entry) / entry`. */
  readonly ret: number;
}

/** A policy's result over a window. */
export interface WindowScore {
  /** Risk-adjusted score: mean PnL / standard deviation of PnL (0 when either is 0). */
  readonly score: number;
  /** Total PnL in quote currency. */
  readonly pnl: number;
}

/** The signed return of a signal entered at `entry` and valued at `exit`. */
export function signalReturn(side: 'buy' | 'sell', entry: number, exit: number): number {
  const ret = ((side === 'buy' ? 1 : -1) * (exit - entry)) / entry;
  return Number.isFinite(ret) ? ret : 0;
}

/** The PnL of one outcome under a policy: `orderNotional × multiplier(confidence) × return`. */
export function outcomePnl(model: SizingModel, outcome: Outcome, orderNotional: number): number {
  return orderNotional * sizeMultiplier(model, outcome.confidence) * outcome.ret;
}

/**
 * A policy's score over a window: the mean of its per-outcome PnL divided by
 * their (population) standard deviation, a per-signal Sharpe ratio.
 *
 * Why not plain mean PnL: it rewards leverage. Any policy that sizes every
 * signal up beats live whenever the strategy has an edge, so the search
 * would drift to the maximum multiplier, adding risk without a better
 * policy. The ratio is invariant to scaling every size by the same factor;
 * a candidate wins only by sizing *differently* across confidences, more
 * where signals pay, less where they do not.
 *
 * An empty window, zero spread (every PnL equal, within rounding) or a
 * non-finite result scores 0 (e.g. a policy that sized nothing); the score
 * is always finite.
 */
export function windowScore(model: SizingModel, outcomes: readonly Outcome[], orderNotional: number): WindowScore {
  const n = outcomes.length;
  if (n === 0) return { score: 0, pnl: 0 };
  const pnls = outcomes.map((o) => outcomePnl(model, o, orderNotional));
  const pnl = pnls.reduce((s, x) => s + x, 0);
  const mean = pnl / n;
  const variance = pnls.reduce((s, x) => s + (x - mean) ** 2, 0) / n;
  const sd = Math.sqrt(variance);
  // Rounding leaves a spread of a few ulps where every PnL is equal: that is no spread.
  const scale = pnls.reduce((s, x) => s + Math.abs(x), 0) / n;
  const score = sd > scale * ZERO_SPREAD ? mean / sd : 0;
  return { score: Number.isFinite(score) ? score : 0, pnl: Number.isFinite(pnl) ? pnl : 0 };
}

/** Relative spread below which PnLs count as all equal. */
const ZERO_SPREAD = 1e-9;
