/**
 * Indicator strategies of the ai-engine (DESIGN §8). Each is a pure function
 * of a window of closes (oldest first) that recomputes its indicator from
 * scratch with `trading-signals`, so callers only ever keep plain numbers
 * (the actor's context stays JSON-serialisable).
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
/** Spread of the fast EMA over the slow one (relative) that scores 1. */
export const EMA_FULL_SCORE_SPREAD = 0.01;
export const RSI_PERIOD = 14;
export const RSI_OVERSOLD = 30;
export const RSI_OVERBOUGHT = 70;
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
 * EMA crossover (trend following): buy while EMA(5) is above EMA(20), sell
 * while below; the score grows with the spread and is 1 from a 1% spread on.
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
  if (spread === 0) return HOLD;
  return vote(spread > 0 ? 'buy' : 'sell', Math.abs(spread) / EMA_FULL_SCORE_SPREAD);
};

/**
 * RSI(14) mean reversion: buy below 30 (score 1 at RSI 0), sell above 70
 * (score 1 at RSI 100). A window without any price change holds.
 */
export const rsiReversion: Strategy = (closes) => {
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
  if (r === null) return HOLD;
  if (r < RSI_OVERSOLD) return vote('buy', (RSI_OVERSOLD - r) / RSI_OVERSOLD);
  if (r > RSI_OVERBOUGHT) return vote('sell', (r - RSI_OVERBOUGHT) / (100 - RSI_OVERBOUGHT));
  return HOLD;
};

/**
 * Bollinger(20, 2) reversion: a close beyond a band is taken as overextended,
 * buy below the lower band, sell above the upper one. With z the distance
 * from the middle in band half-widths, the score is z / 2 (0.5 on the band,
 * 1 at twice its distance); inside the bands it holds.
 */
export const bollingerReversion: Strategy = (closes) => {
  if (closes.length < BOLLINGER_PERIOD) return HOLD;
  const bands = new BollingerBands(BOLLINGER_PERIOD, BOLLINGER_DEVIATIONS);
  for (const c of closes.slice(-BOLLINGER_PERIOD)) bands.add(c);
  const b = bands.getResult();
  const last = closes[closes.length - 1];
  if (b === null || last === undefined) return HOLD;
  const half = b.upper - b.middle;
  if (!(half > 0)) return HOLD;
  const z = (last - b.middle) / half;
  if (z >= 1) return vote('sell', z / 2);
  if (z <= -1) return vote('buy', -z / 2);
  return HOLD;
};

/** The strategies of the ensemble, by the name they are reported under. */
export const STRATEGIES = {
  'ema-crossover': emaCrossover,
  'rsi-reversion': rsiReversion,
  'bollinger-reversion': bollingerReversion,
} as const satisfies Record<string, Strategy>;

export type StrategyName = keyof typeof STRATEGIES;
