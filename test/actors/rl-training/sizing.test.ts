/** Sizing models: the multiplier, the default, events, and the deterministic policy search. */
import test from 'ava';
import {
  DEFAULT_SIZING_MODEL,
  MAX_SIZE_MULTIPLIER,
  MAX_SLOPE,
  proposeCandidate,
  type SizingModel,
  searchNoise,
  sizeMultiplier,
  sizingModelOf,
} from '../../../src/actors/rl-training/sizing.js';
import { EVENT_CATALOG } from '../../../src/events/catalog.js';

const cs = (a: number, b: number): SizingModel => ({ modelId: 'cs', kind: 'confidence-scaled', params: { a, b } });

test('the default model is fixed-1 and gives exactly 1 at every confidence', (t) => {
  t.deepEqual(DEFAULT_SIZING_MODEL, { modelId: 'fixed-1', kind: 'fixed', params: { multiplier: 1 } });
  for (const c of [0, 0.3, 0.5, 0.6, 0.99, 1]) t.is(sizeMultiplier(DEFAULT_SIZING_MODEL, c), 1);
  t.true(Object.isFrozen(DEFAULT_SIZING_MODEL));
});

test('confidence-scaled: a + b × (confidence − 0.5), clamped to [0, MAX_SIZE_MULTIPLIER]', (t) => {
  t.is(sizeMultiplier(cs(1, 2), 0.5), 1);
  t.is(sizeMultiplier(cs(1, 2), 0.75), 1.5);
  t.is(sizeMultiplier(cs(1, 2), 0.25), 0.5);
  t.is(sizeMultiplier(cs(1, 4), 1), MAX_SIZE_MULTIPLIER, 'capped above');
  t.is(sizeMultiplier(cs(1, -4), 1), 0, 'floored at 0');
  const fixed = (multiplier: number): SizingModel => ({ modelId: 'f', kind: 'fixed', params: { multiplier } });
  t.is(sizeMultiplier(fixed(5), 0.7), MAX_SIZE_MULTIPLIER);
  t.is(sizeMultiplier(fixed(-1), 0.7), 0);
  t.is(sizeMultiplier(fixed(Number.NaN), 0.7), 0, 'NaN sizes nothing');
});

test('a model.promoted carries the model: sizingModelOf gives it back', (t) => {
  for (const model of [DEFAULT_SIZING_MODEL, cs(1.1, -0.75)]) {
    const data = EVENT_CATALOG['model.promoted'].parse({
      ...model,
      previousModelId: 'prev',
      reason: 'test',
      outcomes: 10,
      candidateScore: 0.5,
      liveScore: 0.1,
    });
    t.deepEqual(sizingModelOf(data), model);
  }
  t.false(
    EVENT_CATALOG['model.promoted'].safeParse({
      modelId: 'x',
      previousModelId: 'y',
      reason: 'r',
      outcomes: 1,
      candidateScore: 0,
      liveScore: 0,
      kind: 'fixed',
      params: { a: 1, b: 1 },
    }).success,
    'params must match the kind',
  );
});

test('searchNoise is deterministic, in [0, 1), and differs across seeds and generations', (t) => {
  const draws = new Set<number>();
  for (let seed = 0; seed < 5; seed++) {
    for (let g = 1; g <= 50; g++) {
      const u = searchNoise(seed, g);
      t.true(u >= 0 && u < 1);
      t.is(searchNoise(seed, g), u);
      draws.add(u);
    }
  }
  t.true(draws.size > 245, 'practically no repeats');
});

test('proposeCandidate moves only the slope of live, by 0.25..1 step, within bounds; ids carry the generation', (t) => {
  let live: SizingModel = DEFAULT_SIZING_MODEL;
  let ups = 0;
  for (let g = 1; g <= 200; g++) {
    const c = proposeCandidate(live, g, 7, 0.5);
    t.is(c.modelId, `cs-g${g}`);
    t.is(c.kind, 'confidence-scaled');
    if (c.kind !== 'confidence-scaled') return;
    const before = live.kind === 'fixed' ? { a: live.params.multiplier, b: 0 } : live.params;
    t.is(c.params.a, before.a);
    const move = Math.abs(c.params.b - before.b);
    t.true(move > 0 && move <= 0.5 + 1e-9, `move ${move}`);
    t.true(Math.abs(c.params.b) <= MAX_SLOPE);
    if (c.params.b > before.b) ups++;
    t.deepEqual(proposeCandidate(live, g, 7, 0.5), c, 'deterministic');
    live = c;
  }
  t.true(ups > 50 && ups < 150, `both directions explored (${ups} up of 200)`);
});

test('at the slope bound a proposal moves back inside', (t) => {
  for (let g = 1; g <= 40; g++) {
    const c = proposeCandidate(cs(1, MAX_SLOPE), g, 1, 1);
    t.true(c.kind === 'confidence-scaled' && c.params.b < MAX_SLOPE);
  }
});
