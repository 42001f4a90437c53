/**
 * Properties of the ESS over random event sequences (docs/architecture.md §9, §16): it is
 * never armed except by a RESET, the order gate never lets through what the
 * state forbids, a RESET is accepted only when it may be, and every state
 * change is published exactly once.
 */
import { fc, testProp } from '@fast-check/ava';
import test from 'ava';
import type { EssInputEvent } from '../../../src/actors/risk-safety/ess-events.js';
import { gateOrder } from '../../../src/actors/risk-safety/order-gate.js';
import { type EssState, EVENT_CATALOG } from '../../../src/events/catalog.js';
import { CaseTally } from '../../support/case-tally.js';
import { essEvents } from './arbitraries.js';
import { changes, EssDriver, published, type Step } from './helpers.js';

/** Sequences are cheap (no I/O), so run more of them than fast-check's default 100. */
const PARAMS = { numRuns: 300 };

const ORDERS = [
  { reduceOnly: false },
  { reduceOnly: true },
  { reduceOnly: false, emergencyExit: true },
  { reduceOnly: true, emergencyExit: false },
  { reduceOnly: true, emergencyExit: true },
];

function run(events: readonly EssInputEvent[]): Step[] {
  return new EssDriver().send(...events);
}

/** (1) is only tested when the ESS is off armed and gets other events than RESET, and when a RESET re-arms it. */
const armingCases = new CaseTally('(1)', { otherEventsWhileNotArmed: 0.7, rearmed: 0.5 });

testProp(
  '(1) the ESS never moves to armed except on a RESET',
  [essEvents],
  (t, events) => {
    const hit = armingCases.run();
    for (const step of run(events)) {
      if (step.before.state !== 'armed' && step.event.type !== 'RESET') hit('otherEventsWhileNotArmed');
      for (const [, to] of changes(step.path)) {
        if (to === 'armed') {
          t.is(step.event.type, 'RESET', `moved to armed on ${step.event.type}`);
          hit('rearmed');
        }
      }
    }
    t.pass();
  },
  PARAMS,
);

/** (2) is only tested in the states where the gate refuses something. */
const gateCases = new CaseTally('(2)', { reducing: 0.2, tripped: 0.7, awaitingReset: 0.5, armed: 0.8 });

testProp(
  '(2) the order gate never allows a non-reduce-only order while reducing, nor anything but reduce-only emergency exits while tripped or awaitingReset',
  [essEvents],
  (t, events) => {
    const hit = gateCases.run();
    for (const step of run(events)) {
      const state: EssState = step.after.state;
      hit(state);
      for (const order of ORDERS) {
        const allowed = gateOrder(state, order).allowed;
        if (state === 'reducing' && allowed) t.true(order.reduceOnly);
        if ((state === 'tripped' || state === 'awaitingReset') && allowed) {
          t.true(order.reduceOnly && order.emergencyExit === true);
        }
        if (state === 'armed') t.true(allowed);
      }
    }
    t.pass();
  },
  PARAMS,
);

/**
 * (3) is only tested by RESETs in every situation: after a trip, both during
 * the cooldown and after it, in one run; accepted and refused.
 */
const resetCases = new CaseTally('(3)', {
  tripThenResetDuringAndAfterCooldown: 0.4,
  accepted: 0.5,
  refused: 0.7,
  resetWhileReducing: 0.1,
});

testProp(
  '(3) a RESET is accepted only in awaitingReset (cooldown over) or reducing; otherwise it is refused with a reason',
  [essEvents],
  (t, events) => {
    const hit = resetCases.run();
    let tripped = false;
    let duringCooldown = false;
    let afterCooldown = false;
    for (const step of run(events)) {
      if (published(step.entries, 'ess.tripped').length > 0) tripped = true;
      if (step.event.type !== 'RESET') continue;
      const result = step.after.context.lastReset;
      t.truthy(result);
      t.is(result?.at, step.event.at, 'the answer is for this RESET');
      const { state, context } = step.before;
      const now = Math.max(context.monitor.now, step.event.at);
      const cooldownOver = context.cooldownUntil !== null && now >= context.cooldownUntil;
      const mayAccept = state === 'reducing' || state === 'awaitingReset' || (state === 'tripped' && cooldownOver);
      if (tripped && state === 'tripped' && !cooldownOver) duringCooldown = true;
      if (tripped && (state === 'awaitingReset' || (state === 'tripped' && cooldownOver))) afterCooldown = true;
      if (duringCooldown && afterCooldown) hit('tripThenResetDuringAndAfterCooldown');
      if (state === 'reducing') hit('resetWhileReducing');
      hit(result?.accepted ? 'accepted' : 'refused');
      if (result?.accepted) {
        t.true(mayAccept, `accepted in ${state}`);
        t.true(result.from === 'reducing' || result.from === 'awaitingReset');
        t.is(step.after.state, 'armed');
        t.is(published(step.entries, 'ess.reset').length, 1);
      } else {
        t.true(result !== null && result.message.length > 0);
        t.deepEqual(published(step.entries, 'ess.reset'), []);
        t.false(step.after.state === 'armed' && state !== 'armed', 'a refused RESET does not arm');
        if (state === 'tripped' && !cooldownOver) t.like(result, { code: 'COOLDOWN_ACTIVE' });
        if (state === 'armed' && step.after.state === 'armed') t.like(result, { code: 'NOT_TRIPPED' });
      }
    }
    t.pass();
  },
  PARAMS,
);

/** (4) is only tested by runs with several state changes. */
const changeCases = new CaseTally('(4)', { severalStateChanges: 0.6 });

testProp(
  '(4) every state change publishes exactly one ess.state_changed with matching from/to, and nothing else does',
  [essEvents],
  (t, events) => {
    const hit = changeCases.run();
    let lastSeq = 0;
    let stateChanges = 0;
    const ess = new EssDriver();
    for (const step of ess.send(...events)) {
      stateChanges += changes(step.path).length;
      if (stateChanges >= 3) hit('severalStateChanges');
      const announced = published(step.entries, 'ess.state_changed').map((c) => [c.from, c.to]);
      t.deepEqual(announced, changes(step.path));
      for (const e of step.entries) {
        t.true(e.seq > lastSeq);
        lastSeq = e.seq;
        if (e.kind === 'publish') t.true(EVENT_CATALOG[e.type].safeParse(e.data).success, e.type);
      }
      t.deepEqual(step.after.context.pending, { trips: [], soft: null, reset: null }, 'nothing left pending');
    }
    t.deepEqual(ess.context.outbox, [], 'flushing through the last seq empties the outbox');
  },
  PARAMS,
);

test('the random sequences visit every transition and every RESET answer', (t) => {
  const seen = new Map<string, number>();
  const count = (key: string) => seen.set(key, (seen.get(key) ?? 0) + 1);
  for (const events of fc.sample(essEvents, { numRuns: 300, seed: 42 })) {
    for (const step of run(events)) {
      for (const [from, to] of changes(step.path)) count(`${from}->${to}`);
      if (step.before.state === 'tripped' && published(step.entries, 'ess.tripped').length > 0) count('retrip');
      const r = step.after.context.lastReset;
      if (step.event.type === 'RESET' && r) count(r.accepted ? `reset:${r.from}` : `refused:${r.code}`);
      for (const trigger of published(step.entries, 'ess.tripped').map((e) => e.trigger)) count(trigger);
    }
  }
  const expected = [
    'armed->reducing',
    'armed->tripped',
    'reducing->tripped',
    'reducing->armed',
    'tripped->awaitingReset',
    'awaitingReset->armed',
    'awaitingReset->tripped',
    'retrip',
    'reset:reducing',
    'reset:awaitingReset',
    'refused:NOT_TRIPPED',
    'refused:COOLDOWN_ACTIVE',
    'refused:CONDITION_ACTIVE',
    'drawdown_hard',
    'flash_crash',
    'daily_loss',
    'health_critical',
    'manual',
  ];
  for (const key of expected) t.true((seen.get(key) ?? 0) > 0, `never saw ${key}`);
  t.log(Object.fromEntries(seen));
});
