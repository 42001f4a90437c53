import test from 'ava';
import { decide } from '../../../src/actors/ai-engine/ensemble.js';
import {
  bollingerReversion,
  emaCrossover,
  rsiReversion,
  STRATEGIES,
  type Strategy,
} from '../../../src/actors/ai-engine/strategies.js';

const flat = (n: number, p = 100): number[] => Array.from({ length: n }, () => p);
const rising = (n: number, step = 0.01): number[] => Array.from({ length: n }, (_, i) => 100 * (1 + step) ** i);
const falling = (n: number, step = 0.01): number[] => Array.from({ length: n }, (_, i) => 100 * (1 - step) ** i);
/** Flat, then a sharp drop: RSI and Bollinger say buy (oversold), EMA says sell. */
const crash = (): number[] => [...flat(30), 97, 94, 90, 85];
/** Flat, then a sharp rise: RSI and Bollinger say sell (overbought), EMA says buy. */
const spike = (): number[] => [...flat(30), 103, 106, 110, 115];

const all = Object.entries(STRATEGIES) as [string, Strategy][];

test('every strategy holds with score 0 until it has enough data', (t) => {
  for (const [name, s] of all) {
    t.deepEqual(s([]), { side: 'hold', score: 0 }, name);
    t.deepEqual(s(rising(14)), { side: 'hold', score: 0 }, name);
  }
  t.deepEqual(emaCrossover(rising(19)), { side: 'hold', score: 0 });
  t.deepEqual(bollingerReversion(spike().slice(-19)), { side: 'hold', score: 0 });
  t.not(rsiReversion(rising(15)).side, 'hold');
});

test('every strategy holds on a flat series', (t) => {
  for (const [name, s] of all) t.deepEqual(s(flat(60)), { side: 'hold', score: 0 }, name);
});

test('EMA crossover: rising → buy, falling → sell; score grows with the spread', (t) => {
  const up = emaCrossover(rising(40));
  t.is(up.side, 'buy');
  t.true(up.score > 0 && up.score <= 1);
  t.is(emaCrossover(falling(40)).side, 'sell');
  const gentle = emaCrossover(rising(40, 0.0001));
  t.is(gentle.side, 'buy');
  t.true(gentle.score < up.score);
});

test('RSI reversion: falling sharply → buy, rising sharply → sell, choppy → hold', (t) => {
  t.deepEqual(rsiReversion(falling(30, 0.03)), { side: 'buy', score: 1 });
  t.deepEqual(rsiReversion(rising(30, 0.03)), { side: 'sell', score: 1 });
  const choppy = Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? 100 : 101));
  t.is(rsiReversion(choppy).side, 'hold');
});

test('Bollinger reversion: below the lower band → buy, above the upper → sell, inside → hold', (t) => {
  const down = bollingerReversion(crash());
  t.is(down.side, 'buy');
  t.true(down.score >= 0.5 && down.score <= 1);
  const up = bollingerReversion(spike());
  t.is(up.side, 'sell');
  t.true(up.score >= 0.5 && up.score <= 1);
  t.is(bollingerReversion(rising(40)).side, 'hold');
});

test('ensemble: crash → buy by RSI + Bollinger against EMA; spike → sell', (t) => {
  const d = decide(crash());
  t.is(d.side, 'buy');
  t.deepEqual(
    d.strategies.map((s) => [s.name, s.side]),
    [
      ['ema-crossover', 'sell'],
      ['rsi-reversion', 'buy'],
      ['bollinger-reversion', 'buy'],
    ],
  );
  // agreement-weighted: the two buyers' scores over the total weight
  const [, rsi, bb] = d.strategies;
  t.true(Math.abs(d.confidence - ((rsi?.score ?? 0) + (bb?.score ?? 0)) / 3) < 1e-12);
  t.true(d.confidence >= 0.5 && d.confidence <= 1);
  t.is(decide(spike()).side, 'sell');
});

test('ensemble: no majority → hold with confidence 0', (t) => {
  // EMA buy vs RSI sell, Bollinger holds: 1 vs 1 of 3
  t.deepEqual(
    { side: decide(rising(40)).side, confidence: decide(rising(40)).confidence },
    { side: 'hold', confidence: 0 },
  );
  t.is(decide(flat(40)).side, 'hold');
  t.is(decide([]).side, 'hold');
  // a lone voter (RSI only has data) is no majority of the total weight
  t.is(decide(falling(16, 0.03)).side, 'hold');
});

test('ensemble: weights decide the majority and scale the confidence', (t) => {
  const d = decide(rising(40), { 'ema-crossover': 3, 'rsi-reversion': 1, 'bollinger-reversion': 1 });
  t.is(d.side, 'buy');
  t.true(Math.abs(d.confidence - 3 / 5) < 1e-12);
  const unanimous = decide(rising(40), { 'ema-crossover': 1, 'rsi-reversion': 0, 'bollinger-reversion': 0 });
  t.deepEqual([unanimous.side, unanimous.confidence], ['buy', 1]);
  t.is(decide(rising(40), { 'ema-crossover': 0, 'rsi-reversion': 0, 'bollinger-reversion': 0 }).side, 'hold');
});
