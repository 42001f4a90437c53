/**
 * Indicator strategies of the ai-engine (docs/architecture.md §11.2). Each is a pure function
 * of a window of closes (oldest first) that recomputes its indicator from
 * scratch with `trading-signals`, so callers only ever keep plain numbers
 * (the actor's context stays JSON-serialisable).
 *
 * All three follow momentum: each asks "is the latest move strong enough to
 * continue?" from a different angle (trend direction, up/down balance,
 * statistical extremeness). Members of one hypothesis can agree; the former
 * mix of one trend and two mean-reversion members voted against itself on
 * every gradual move, so the ensemble held nearly always (docs/actors.md).
 */
import { BollingerBands, EMA, RSI } from 'trading-signals';

/** What a strategy thinks of the latest close. */
export type StrategySide = 'buy' | 'sell' | 'hold';

/** A strategy's vote: a side and its strength in 0..1 (0 for hold). */
export interface StrategyVote {
  readonly side: StrategySide;
  readonly score: number;
}

/** A strategy: a pure function of closes, oldest first. */
export type Strategy = (closes: readonly number[]) => StrategyVote;

export const EMA_FAST = 5;
export const EMA_SLOW = 20;
/**
 * Spread of the fast EMA over the slow one that scores 1, in units of the
 * window's typical per-close move ({@link typicalMove}). Scale-free, so the
 * same setting works for a 2-ticks/s synthetic walk and a 1-minute CSV replay.
 */
export const EMA_FULL_SCORE_MOVES = 2;
export const RSI_PERIOD = 14;
export const BOLLINGER_PERIOD = 20;
export const BOLLINGER_DEVIATIONS = 2;

const HOLD: StrategyVote = { side: 'hold', score: 0 };

function clamp01(x: number): number {
  if (!Number.isFinite(x)) return 0;
  return x < 0 ? 0 : x > 1 ? 1 : x;
}

function vote(side: 'buy' | 'sell', score: number): StrategyVote {
  const s = clamp01(score);
  return s > 0 ? { side, score: s } : HOLD;
}

/**
 * The typical per-close move of a window: the root mean square of its log
 * returns (0 for fewer than two closes). Not detrended, so a perfectly steady
 * trend still has a non-zero typical move (its step).
 */
export function typicalMove(closes: readonly number[]): number {
  let sum = 0;
  let n = 0;
  for (let i = 1; i < closes.length; i++) {
    const prev = closes[i - 1];
    const cur = closes[i];
    if (prev === undefined || cur === undefined || !(prev > 0 && cur > 0)) continue;
    const r = Math.log(cur / prev);
    sum += r * r;
    n++;
  }
  return n === 0 ? 0 : Math.sqrt(sum / n);
}

/**
 * EMA crossover (trend direction): buy while EMA(5) is above EMA(20), sell
 * while below. The score is the relative spread over
 * {@link EMA_FULL_SCORE_MOVES} typical moves of the window, capped at 1: a
 * spread that stands out from the noise scores high whatever the symbol's
 * volatility.
 */
export const emaCrossover: Strategy = (closes) => {
  if (closes.length < EMA_SLOW) return HOLD;
  const fast = new EMA(EMA_FAST);
  const slow = new EMA(EMA_SLOW);
  for (const c of closes) {
    fast.add(c);
    slow.add(c);
  }
  const f = fast.getResult();
  const s = slow.getResult();
  if (f === null || s === null || s === 0) return HOLD;
  const spread = (f - s) / s;
  const move = typicalMove(closes);
  if (spread === 0 || !(move > 0)) return HOLD;
  return vote(spread > 0 ? 'buy' : 'sell', Math.abs(spread) / (EMA_FULL_SCORE_MOVES * move));
};

/**
 * RSI(14) momentum: above 50 gains dominate (buy), below 50 losses do (sell);
 * the score is |RSI − 50| / 50, so 1 at RSI 100 or 0 and 0 at 50. A window
 * whose last 14 closes never changed holds.
 */
export const rsiMomentum: Strategy = (closes) => {
  if (closes.length < RSI_PERIOD + 1) return HOLD;
  let moved = false;
  for (let i = closes.length - RSI_PERIOD; i < closes.length; i++) {
    if (closes[i] !== closes[i - 1]) {
      moved = true;
      break;
    }
  }
  if (!moved) return HOLD;
  const rsi = new RSI(RSI_PERIOD);
  for (const c of closes) rsi.add(c);
  const r = rsi.getResult();
  if (r === null || r === 50) return HOLD;
  return vote(r > 50 ? 'buy' : 'sell', Math.abs(r - 50) / 50);
};

/**
 * Bollinger(20, 2) breakout: a close at or beyond a band is a move the last
 * 20 closes do not explain, and it is followed: buy at or above the upper
 * band, sell at or below the lower one. With z the distance from the middle
 * in band half-widths, the score is z / 2 (0.5 on the band, 1 at twice its
 * distance); inside the bands it holds. This member is the ensemble's gate:
 * the other two lean one way most of the time, a breakout is rare.
 */
export const bollingerBreakout: Strategy = (closes) => {
  if (closes.length < BOLLINGER_PERIOD) return HOLD;
  const bands = new BollingerBands(BOLLINGER_PERIOD, BOLLINGER_DEVIATIONS);
  for (const c of closes.slice(-BOLLINGER_PERIOD)) bands.add(c);
  const b = bands.getResult();
  const last = closes[closes.length - 1];
  if (b === null || last === undefined) return HOLD;
  const half = b.upper - b.middle;
  if (!(half > 0)) return HOLD;
  const z = (last - b.middle) / half;
  if (z >= 1) return vote('buy', z / 2);
  if (z <= -1) return vote('sell', -z / 2);
  return HOLD;
};

/** The strategies of the ensemble, by the name they are reported under. */
export const STRATEGIES = {
  'ema-crossover': emaCrossover,
  'rsi-momentum': rsiMomentum,
  'bollinger-breakout': bollingerBreakout,
} as const satisfies Record<string, Strategy>;

export type StrategyName = keyof typeof STRATEGIES;
