/**
 * Operator trips arrive twice (docs/architecture.md §9.6): sent directly by
 * `POST /ess/trip`, and consumed from the `ess.trip_requested` that records
 * it. The ESS applies a request id once, and a manual trip of an ESS already
 * tripped is recorded without moving its cooldown.
 */
import test from 'ava';
import { type EssInputEvent, toEssEvents } from '../../../src/actors/risk-safety/ess-events.js';
import { TRIP_REQUESTS_KEPT } from '../../../src/actors/risk-safety/ess-machine.js';
import { createEnvelope } from '../../../src/events/envelope.js';
import { clock, EssDriver, portfolio, published, TEST_CONFIG, tick } from './helpers.js';

const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);
const COOLDOWN = TEST_CONFIG.cooldownMs;

const trip = (at: number, requestId: string, operator = 'alice', reason = 'drill'): EssInputEvent => ({
  type: 'TRIP',
  at,
  operator,
  reason,
  requestId,
});

test('ess.trip_requested becomes a TRIP carrying its request id, at the envelope time', (t) => {
  const envelope = createEnvelope({
    type: 'ess.trip_requested',
    data: { requestId: 'req-1', operator: 'bob', reason: 'stalled', requestedAt: new Date(T0).toISOString() },
    source: 'risk-safety',
    producer: 'risk',
    seq: 1,
    now: new Date(T0 + 5),
  });
  t.deepEqual(toEssEvents(envelope), [
    { type: 'TRIP', at: T0 + 5, operator: 'bob', reason: 'stalled', requestId: 'req-1' },
  ]);
});

test('a trip request applied twice (direct, then recorded) trips once: one ess.tripped, nothing the second time', (t) => {
  const ess = new EssDriver();
  const first = ess.step(trip(T0, 'req-1'));
  t.is(first.after.state, 'tripped');
  t.is(published(first.entries, 'ess.tripped').length, 1);
  const again = ess.step(trip(T0 + 3_000, 'req-1'));
  t.deepEqual(again.entries, [], 'no event');
  t.deepEqual(again.after.context, again.before.context, 'nothing changed, not even the clock');
  t.is(ess.context.cooldownUntil, T0 + COOLDOWN);
});

test('a request seen before is ignored whatever the state since: tripped, awaitingReset or armed again', (t) => {
  const ess = new EssDriver();
  ess.send(trip(T0, 'req-1'), clock(T0 + COOLDOWN));
  t.is(ess.state, 'awaitingReset');
  t.deepEqual(ess.step(trip(T0 + COOLDOWN + 1, 'req-1')).entries, [], 'the late copy does not re-trip');
  t.is(ess.state, 'awaitingReset');
  ess.send({ type: 'RESET', at: T0 + COOLDOWN + 2, operator: 'alice', reason: 'ok' });
  t.is(ess.state, 'armed');
  t.deepEqual(ess.step(trip(T0 + COOLDOWN + 3, 'req-1')).entries, []);
  t.is(ess.state, 'armed', 'a copy delivered after the reset does not trip again');
  t.is(ess.step(trip(T0 + COOLDOWN + 4, 'req-2')).after.state, 'tripped', 'a new request does');
});

test('a manual trip of a tripped ESS is recorded with the unchanged cooldown; an automatic one restarts it', (t) => {
  const ess = new EssDriver();
  ess.send(trip(T0, 'req-1'));
  const manual = ess.step(trip(T0 + 4_000, 'req-2', 'bob', 'me too'));
  t.is(manual.after.state, 'tripped');
  t.is(manual.after.context.cooldownUntil, T0 + COOLDOWN, 'not extended');
  t.like(published(manual.entries, 'ess.tripped'), [
    { trigger: 'manual', operator: 'bob', reason: 'me too', cooldownUntil: new Date(T0 + COOLDOWN).toISOString() },
  ]);
  t.deepEqual(published(manual.entries, 'ess.state_changed'), []);
  t.like(manual.after.context.trip, { operator: 'alice', reason: 'drill' }, 'the trip the cooldown counts from');
  t.is(ess.step(clock(T0 + COOLDOWN)).after.state, 'awaitingReset', 'the cooldown ends when the operator was told');

  const auto = new EssDriver();
  auto.send(trip(T0, 'req-1'), portfolio(T0 + 1, 100_000));
  const crash = auto.step(portfolio(T0 + 4_000, 80_000));
  t.is(crash.after.context.cooldownUntil, T0 + 4_000 + COOLDOWN, 'new information restarts the cooldown');
  t.like(crash.after.context.trip, { trigger: 'drawdown_hard' });
  t.is(auto.step(tick(T0 + 4_001, 100)).after.context.cooldownUntil, T0 + 4_000 + COOLDOWN);
});

test('the ESS remembers the last TRIP_REQUESTS_KEPT request ids; a snapshot from before request ids still trips', (t) => {
  const ess = new EssDriver();
  for (let i = 0; i < TRIP_REQUESTS_KEPT + 5; i++) ess.send(trip(T0 + i, `req-${i}`));
  const kept = ess.context.tripRequests ?? [];
  t.is(kept.length, TRIP_REQUESTS_KEPT);
  t.is(kept.at(-1), `req-${TRIP_REQUESTS_KEPT + 4}`);
  t.false(kept.includes('req-0'));

  const fresh = new EssDriver();
  const old = fresh.persisted() as unknown as { context: Record<string, unknown> };
  delete old.context.tripRequests;
  const restored = new EssDriver(TEST_CONFIG, old as never);
  t.is(restored.step(trip(T0, 'req-1')).after.state, 'tripped');
  t.deepEqual(restored.context.tripRequests, ['req-1']);
  t.deepEqual(restored.step(trip(T0 + 1, 'req-1')).entries, []);
});
