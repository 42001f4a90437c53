import test from 'ava';
import { essProjection, parseEssProjection } from '../../../src/actors/risk-safety/ess-projection.js';
import { EssStateSchema } from '../../../src/events/catalog.js';

test('the projection the ESS writes is what its readers parse, for every catalog ESS state', (t) => {
  for (const state of EssStateSchema.options) {
    const written = essProjection(state, state === 'tripped' ? 1_700_000_060_000 : null, 1_700_000_000_000);
    t.deepEqual(parseEssProjection(JSON.stringify(written)), written, state);
  }
  t.deepEqual(essProjection('tripped', 1_700_000_060_000, 1_700_000_000_000), {
    state: 'tripped',
    cooldownUntil: '2023-11-14T22:14:20.000Z',
    updatedAt: '2023-11-14T22:13:20.000Z',
  });
});

test('a malformed projection parses to undefined: not JSON, an unknown state, a bad time', (t) => {
  const good = essProjection('armed', null, 1_700_000_000_000);
  t.is(parseEssProjection('{not json'), undefined);
  t.is(parseEssProjection(JSON.stringify({ ...good, state: 'halted' })), undefined);
  t.is(parseEssProjection(JSON.stringify({ ...good, updatedAt: 'yesterday' })), undefined);
  t.is(parseEssProjection(JSON.stringify({ state: 'armed' })), undefined);
});
