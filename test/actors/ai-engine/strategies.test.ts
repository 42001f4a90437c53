/**
 * The ai-engine strategies and the ensemble vote (docs/architecture.md §11.2): each momentum
 * member on rising, falling, flat and too-short series, and the
 * weighted-majority rule.
 */
import test from 'ava';
import { combineVotes, DEFAULT_WEIGHTS, decide, type StrategyReport } from '../../../src/actors/ai-engine/ensemble.js';
import {
  bollingerBreakout,
  EMA_FULL_SCORE_MOVES,
  emaCrossover,
  rsiMomentum,
  STRATEGIES,
  type Strategy,
  typicalMove,
} from '../../../src/actors/ai-engine/strategies.js';

const flat = (n: number, p = 100): number[] => Array.from({ length: n }, () => p);
const rising = (n: number, step = 0.01): number[] => Array.from({ length: n }, (_, i) => 100 * (1 + step) ** i);
const falling = (n: number, step = 0.01): number[] => Array.from({ length: n }, (_, i) => 100 * (1 - step) ** i);
/** Alternating ±0.1 % around 100: noise without a trend. */
const noise = (n: number): number[] => Array.from({ length: n }, (_, i) => (i % 2 === 0 ? 100.1 : 99.9));
/** Flat, then a sharp drop: every member says sell (momentum). */
const crash = (): number[] => [...flat(30), 97, 94, 90, 85];
/** Flat, then a sharp rise: every member says buy. */
const spike = (): number[] => [...flat(30), 103, 106, 110, 115];

const all = Object.entries(STRATEGIES) as [string, Strategy][];

test('every strategy holds with score 0 until it has enough data', (t) => {
  for (const [name, s] of all) {
    t.deepEqual(s([]), { side: 'hold', score: 0 }, name);
    t.deepEqual(s(rising(14)), { side: 'hold', score: 0 }, name);
  }
  t.deepEqual(emaCrossover(rising(19)), { side: 'hold', score: 0 });
  t.deepEqual(bollingerBreakout(spike().slice(-19)), { side: 'hold', score: 0 });
  t.not(rsiMomentum(rising(15)).side, 'hold');
});

test('every strategy holds on a flat series', (t) => {
  for (const [name, s] of all) t.deepEqual(s(flat(60)), { side: 'hold', score: 0 }, name);
});

test('typicalMove is the RMS of the log returns: the step of a steady trend, 0 when flat or too short', (t) => {
  t.is(typicalMove([]), 0);
  t.is(typicalMove([100]), 0);
  t.is(typicalMove(flat(10)), 0);
  t.true(Math.abs(typicalMove(rising(30)) - Math.log(1.01)) < 1e-12);
  t.true(Math.abs(typicalMove(noise(41)) - Math.log(100.1 / 99.9)) < 1e-12);
});

test('EMA crossover: rising → buy, falling → sell; score is the spread in typical moves', (t) => {
  const up = emaCrossover(rising(40));
  t.deepEqual(up, { side: 'buy', score: 1 }, 'a steady trend stands far out of its own noise');
  t.deepEqual(emaCrossover(falling(40)), { side: 'sell', score: 1 });
  // Scale-free: the same shape at 1/100 of the moves scores the same.
  const wiggle = (k: number) => [
    ...noise(40).map((p) => 100 + (p - 100) * k),
    ...[1, 2, 3].map((i) => 100 + 0.1 * k * i),
  ];
  const big = emaCrossover(wiggle(1));
  const small = emaCrossover(wiggle(0.01));
  t.is(big.side, 'buy');
  t.true(big.score > 0 && big.score < 1, `${big.score}`);
  t.true(Math.abs(big.score - small.score) < 1e-3, `${big.score} vs ${small.score}`);
  t.is(EMA_FULL_SCORE_MOVES, 2);
});

test('RSI momentum: gains dominate → buy, losses dominate → sell, score |RSI − 50| / 50', (t) => {
  t.deepEqual(rsiMomentum(rising(30, 0.03)), { side: 'buy', score: 1 });
  t.deepEqual(rsiMomentum(falling(30, 0.03)), { side: 'sell', score: 1 });
  const choppy = rsiMomentum(noise(41));
  t.true(choppy.score < 0.2, `choppy scores low: ${JSON.stringify(choppy)}`);
  t.deepEqual(rsiMomentum([...rising(30), ...flat(14, 100 * 1.01 ** 29)]), { side: 'hold', score: 0 });
});

test('Bollinger breakout: above the upper band → buy, below the lower → sell, inside → hold', (t) => {
  const down = bollingerBreakout(crash());
  t.is(down.side, 'sell');
  t.true(down.score >= 0.5 && down.score <= 1);
  const up = bollingerBreakout(spike());
  t.is(up.side, 'buy');
  t.true(up.score >= 0.5 && up.score <= 1);
  t.is(bollingerBreakout(rising(40)).side, 'hold', 'a steady trend stays inside its bands');
  t.is(bollingerBreakout(noise(40)).side, 'hold');
});

test('ensemble: crash → sell and spike → buy, all three agreeing, confidence the mean score', (t) => {
  const d = decide(crash());
  t.is(d.side, 'sell');
  t.deepEqual(
    d.strategies.map((s) => [s.name, s.side]),
    [
      ['ema-crossover', 'sell'],
      ['rsi-momentum', 'sell'],
      ['bollinger-breakout', 'sell'],
    ],
  );
  const mean = d.strategies.reduce((sum, s) => sum + s.score, 0) / 3;
  t.true(Math.abs(d.confidence - mean) < 1e-12);
  t.true(d.confidence >= 0.6 && d.confidence <= 1, `${d.confidence}`);
  t.is(decide(spike()).side, 'buy');
});

test('ensemble: a steady trend is a weak majority (EMA + RSI, Bollinger holds)', (t) => {
  const d = decide(rising(40));
  t.deepEqual(
    d.strategies.map((s) => s.side),
    ['buy', 'buy', 'hold'],
  );
  t.is(d.side, 'buy');
  t.true(Math.abs(d.confidence - 2 / 3) < 1e-12);
  t.is(decide(flat(40)).side, 'hold');
  t.is(decide([]).side, 'hold');
  // a lone voter (only RSI has data) is no majority of the total weight
  t.is(decide(falling(16, 0.03)).side, 'hold');
});

const report = (name: StrategyReport['name'], side: StrategyReport['side'], score: number): StrategyReport => ({
  name,
  side,
  score,
});

test('combineVotes: no strict majority of the total weight → hold with confidence 0', (t) => {
  const split = [
    report('ema-crossover', 'buy', 1),
    report('rsi-momentum', 'sell', 1),
    report('bollinger-breakout', 'hold', 0),
  ];
  t.like(combineVotes(split), { side: 'hold', confidence: 0 });
  const lone = [
    report('ema-crossover', 'hold', 0),
    report('rsi-momentum', 'sell', 1),
    report('bollinger-breakout', 'hold', 0),
  ];
  t.like(combineVotes(lone), { side: 'hold', confidence: 0 });
  const two = [
    report('ema-crossover', 'sell', 0.3),
    report('rsi-momentum', 'sell', 0.6),
    report('bollinger-breakout', 'buy', 1),
  ];
  const d = combineVotes(two);
  t.is(d.side, 'sell');
  t.true(Math.abs(d.confidence - 0.3) < 1e-12, 'the winners’ scores over the total weight');
  t.is(d.strategies, two);
});

test('combineVotes: weights decide the majority and scale the confidence', (t) => {
  const votes = [
    report('ema-crossover', 'buy', 1),
    report('rsi-momentum', 'sell', 1),
    report('bollinger-breakout', 'hold', 0),
  ];
  const d = combineVotes(votes, { 'ema-crossover': 3, 'rsi-momentum': 1, 'bollinger-breakout': 1 });
  t.is(d.side, 'buy');
  t.true(Math.abs(d.confidence - 3 / 5) < 1e-12);
  const alone = combineVotes(votes, { 'ema-crossover': 1, 'rsi-momentum': 0, 'bollinger-breakout': 0 });
  t.deepEqual([alone.side, alone.confidence], ['buy', 1]);
  t.is(combineVotes(votes, { 'ema-crossover': 0, 'rsi-momentum': 0, 'bollinger-breakout': 0 }).side, 'hold');
  t.deepEqual(DEFAULT_WEIGHTS, { 'ema-crossover': 1, 'rsi-momentum': 1, 'bollinger-breakout': 1 });
  // decide passes its weights through
  t.deepEqual([decide(rising(40), { 'ema-crossover': 1, 'rsi-momentum': 0, 'bollinger-breakout': 0 }).confidence], [1]);
});
