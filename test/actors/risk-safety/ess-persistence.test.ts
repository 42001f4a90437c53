/**
 * The ESS after a restart (DESIGN §6, §7): its persisted snapshot, through
 * JSON as stored in Redis, restores the same state with the same remaining
 * cooldown, and the restored actor behaves exactly as the original would.
 */
import { fc, testProp } from '@fast-check/ava';
import test from 'ava';
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

testProp(
  'restoring at any point of any sequence changes nothing: same states, contexts and outputs as never stopping',
  [essEvents, fc.nat()],
  (t, events, cut) => {
    const at = cut % (events.length + 1);
    const original = new EssDriver();
    original.send(...events.slice(0, at));
    const restored = new EssDriver(TEST_CONFIG, original.persisted());
    t.is(restored.state, original.state);
    t.deepEqual(restored.context, original.context);
    const a = original.send(...events.slice(at));
    const b = restored.send(...events.slice(at));
    t.deepEqual(
      b.map((s) => [s.after.state, s.after.context, s.entries]),
      a.map((s) => [s.after.state, s.after.context, s.entries]),
    );
  },
);
