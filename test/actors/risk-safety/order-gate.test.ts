import test from 'ava';
import { gateOrder } from '../../../src/actors/risk-safety/order-gate.js';

const open = { reduceOnly: false };
const reduce = { reduceOnly: true };
const exit = { reduceOnly: true, emergencyExit: true };
const oddExit = { reduceOnly: false, emergencyExit: true };

test('armed lets every order through', (t) => {
  for (const order of [open, reduce, exit, oddExit]) t.deepEqual(gateOrder('armed', order), { allowed: true });
});

test('reducing lets only reduce-only orders through (REDUCE_ONLY otherwise)', (t) => {
  t.deepEqual(gateOrder('reducing', open), { allowed: false, reason: 'REDUCE_ONLY' });
  t.deepEqual(gateOrder('reducing', oddExit), { allowed: false, reason: 'REDUCE_ONLY' });
  t.deepEqual(gateOrder('reducing', reduce), { allowed: true });
  t.deepEqual(gateOrder('reducing', exit), { allowed: true });
});

for (const state of ['tripped', 'awaitingReset'] as const) {
  test(`${state} lets only reduce-only emergency exits through (TRADING_HALTED otherwise)`, (t) => {
    t.deepEqual(gateOrder(state, open), { allowed: false, reason: 'TRADING_HALTED' });
    t.deepEqual(gateOrder(state, reduce), { allowed: false, reason: 'TRADING_HALTED' });
    t.deepEqual(gateOrder(state, oddExit), { allowed: false, reason: 'TRADING_HALTED' }, 'an exit must be reduce-only');
    t.deepEqual(gateOrder(state, exit), { allowed: true });
  });
}
