/**
 * The ESS after a restart (docs/architecture.md §8.3, §9.5): its persisted snapshot, through
 * JSON as stored in Redis, restores the same state with the same remaining
 * cooldown, and the restored actor behaves exactly as the original would.
 */
import { fc, testProp } from '@fast-check/ava';
import test from 'ava';
import { CaseTally } from '../../support/case-tally.js';
import { essEvents } from './arbitraries.js';
import { clock, EssDriver, portfolio, reset, TEST_CONFIG, tick, trip } from './helpers.js';

const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);
const COOLDOWN = TEST_CONFIG.cooldownMs;

test('a tripped ESS restored mid-cooldown keeps its state and cooldownUntil, and goes on identically', (t) => {
  const original = new EssDriver();
  original.send(
    portfolio(T0, 94_000),
    tick(T0 + 1_000, 100),
    tick(T0 + 20_000, 97, 'ETHUSDT'),
    trip(T0 + 30_000, 'erin', 'suspicious fills'),
    clock(T0 + 35_000),
  );
  t.is(original.state, 'tripped');

  const restored = new EssDriver(TEST_CONFIG, original.persisted());
  t.is(restored.state, 'tripped');
  t.is(restored.context.cooldownUntil, T0 + 30_000 + COOLDOWN);
  t.deepEqual(restored.context, original.context);

  const rest = [
    reset(T0 + 36_000),
    tick(T0 + 38_000, 99),
    clock(T0 + 30_000 + COOLDOWN),
    reset(T0 + 30_000 + COOLDOWN + 1),
    tick(T0 + 50_000, 84),
  ];
  const a = original.send(...rest);
  const b = restored.send(...rest);
  t.deepEqual(
    b.map((s) => s.after.state),
    ['tripped', 'tripped', 'awaitingReset', 'armed', 'tripped'],
    'the last tick trips on the price window that survived the restart (100 → 84 in 49 s)',
  );
  t.like(b[0]?.after.context.lastReset, { accepted: false, code: 'COOLDOWN_ACTIVE', remainingMs: COOLDOWN - 6_000 });
  t.deepEqual(
    b.map((s) => [s.after.state, s.after.context, s.entries]),
    a.map((s) => [s.after.state, s.after.context, s.entries]),
  );
});

test('the persisted snapshot is plain JSON: no scheduled events, nothing that depends on the wall clock', (t) => {
  const ess = new EssDriver();
  ess.send(trip(T0));
  const raw = JSON.stringify(ess.actor.getPersistedSnapshot());
  const parsed = JSON.parse(raw) as { value: string; context: { cooldownUntil: number }; children: object };
  t.is(parsed.value, 'tripped');
  t.is(parsed.context.cooldownUntil, T0 + COOLDOWN);
  t.deepEqual(parsed.children, {}, 'no invoked or delayed children to re-run');
  t.is(JSON.stringify(JSON.parse(raw)), raw);
});

/**
 * Restoring an armed ESS with nothing left to send tests little: count
 * restores in each state off armed with events after them, and runs where the
 * restored ESS then changes state.
 */
const restoreCases = new CaseTally('restore at any point', {
  restoredTripped: 0.2,
  restoredAwaitingReset: 0.12,
  restoredReducing: 0.04,
  stateChangedAfterRestore: 0.55,
});

const RESTORED_IN = {
  tripped: 'restoredTripped',
  awaitingReset: 'restoredAwaitingReset',
  reducing: 'restoredReducing',
} as const;

type CutTarget = 'anywhere' | keyof typeof RESTORED_IN;

/**
 * Where to cut a sequence: anywhere, or, when the sequence passes through
 * `target`, at one of the points where the ESS is in that state (a uniform cut
 * seldom lands in the short-lived reducing state).
 */
function cutPoint(events: Parameters<EssDriver['send']>, n: number, target: CutTarget): number {
  if (target !== 'anywhere') {
    const states = new EssDriver().send(...events).map((step) => step.after.state);
    const inTarget = states.flatMap((state, i) => (state === target ? [i + 1] : []));
    if (inTarget.length > 0) return inTarget[n % inTarget.length]!;
  }
  return n % (events.length + 1);
}

/** Each target equally often (fc.constantFrom favours its first values). */
const cutTarget = fc.oneof(
  ...(['anywhere', 'tripped', 'awaitingReset', 'reducing'] as const).map((c) => fc.constant(c)),
);

testProp(
  'restoring at any point of any sequence changes nothing: same states, contexts and outputs as never stopping',
  [essEvents, fc.nat(), cutTarget],
  (t, events, cut, target) => {
    const at = cutPoint(events, cut, target);
    const original = new EssDriver();
    original.send(...events.slice(0, at));
    const restored = new EssDriver(TEST_CONFIG, original.persisted());
    t.is(restored.state, original.state);
    t.deepEqual(restored.context, original.context);
    const restoredIn = restored.state;
    const a = original.send(...events.slice(at));
    const b = restored.send(...events.slice(at));
    const hit = restoreCases.run();
    if (a.length > 0 && restoredIn !== 'armed') hit(RESTORED_IN[restoredIn]);
    if (a.some((s) => s.after.state !== s.before.state)) hit('stateChangedAfterRestore');
    t.deepEqual(
      b.map((s) => [s.after.state, s.after.context, s.entries]),
      a.map((s) => [s.after.state, s.after.context, s.entries]),
    );
  },
  { numRuns: 300 },
);
