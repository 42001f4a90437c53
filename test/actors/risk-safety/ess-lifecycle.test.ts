/**
 * The ESS lifecycle (docs/architecture.md §9.1): cooldown, RESET (refused or accepted),
 * re-trips, and the outbox the host publishes from.
 */
import test from 'ava';
import { EVENT_CATALOG } from '../../../src/events/catalog.js';
import { changes, clock, EssDriver, health, portfolio, published, reset, TEST_CONFIG, tick, trip } from './helpers.js';

const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);
const COOLDOWN = TEST_CONFIG.cooldownMs;

function tripped(): EssDriver {
  const ess = new EssDriver();
  ess.send(trip(T0));
  return ess;
}

test('the cooldown expires on the first event at or after cooldownUntil: tripped → awaitingReset', (t) => {
  const ess = tripped();
  t.is(ess.step(clock(T0 + COOLDOWN - 1)).after.state, 'tripped');
  const step = ess.step(clock(T0 + COOLDOWN));
  t.is(step.after.state, 'awaitingReset');
  t.like(published(step.entries, 'ess.state_changed'), [{ from: 'tripped', to: 'awaitingReset' }]);
});

test('a RESET before the cooldown is over is refused with a reason, and nothing changes', (t) => {
  const ess = tripped();
  const before = ess.context;
  const step = ess.step(reset(T0 + 4_000, 'carol', 'looks fine', 'req-1'));
  t.is(step.after.state, 'tripped');
  t.deepEqual(step.entries, [], 'nothing to publish');
  t.is(step.after.context.cooldownUntil, before.cooldownUntil);
  t.like(step.after.context.lastReset, {
    accepted: false,
    code: 'COOLDOWN_ACTIVE',
    state: 'tripped',
    operator: 'carol',
    requestId: 'req-1',
    at: T0 + 4_000,
    remainingMs: COOLDOWN - 4_000,
    cooldownUntil: new Date(T0 + COOLDOWN).toISOString(),
  });
  t.regex(step.after.context.lastReset?.accepted === false ? step.after.context.lastReset.message : '', /cooldown/);
});

test('a RESET after the cooldown re-arms the ESS and publishes ess.reset and ess.state_changed', (t) => {
  const ess = tripped();
  ess.send(clock(T0 + COOLDOWN));
  const step = ess.step(reset(T0 + COOLDOWN + 500, 'carol', 'venue back'));
  t.is(step.after.state, 'armed');
  t.deepEqual(published(step.entries, 'ess.reset'), [{ operator: 'carol', reason: 'venue back' }]);
  t.like(published(step.entries, 'ess.state_changed'), [{ from: 'awaitingReset', to: 'armed' }]);
  t.like(step.after.context.lastReset, { accepted: true, from: 'awaitingReset', operator: 'carol' });
  t.is(step.after.context.cooldownUntil, null);
  t.is(step.after.context.trip, null);
});

test('a RESET arriving after cooldownUntil with no CLOCK in between passes through awaitingReset', (t) => {
  const ess = tripped();
  const step = ess.step(reset(T0 + COOLDOWN));
  t.is(step.after.state, 'armed');
  t.deepEqual(changes(step.path), [
    ['tripped', 'awaitingReset'],
    ['awaitingReset', 'armed'],
  ]);
  t.deepEqual(
    published(step.entries, 'ess.state_changed').map((c) => [c.from, c.to]),
    changes(step.path),
  );
});

test('a RESET in reducing returns to armed at once (no cooldown) and re-bases the drawdown peak', (t) => {
  const ess = new EssDriver();
  ess.send(portfolio(T0, 93_000));
  t.is(ess.state, 'reducing');
  const step = ess.step(reset(T0 + 1));
  t.is(step.after.state, 'armed');
  t.like(published(step.entries, 'ess.state_changed'), [{ from: 'reducing', to: 'armed' }]);
  ess.send(portfolio(T0 + 2, 93_000));
  t.is(ess.state, 'armed', 'the acknowledged loss does not reduce again');
  ess.send(portfolio(T0 + 3, 88_350));
  t.is(ess.state, 'reducing', 'a further 5 % from the re-based peak does');
});

test('a RESET while armed is refused (nothing to reset)', (t) => {
  const ess = new EssDriver();
  const step = ess.step(reset(T0));
  t.is(step.after.state, 'armed');
  t.like(step.after.context.lastReset, { accepted: false, code: 'NOT_TRIPPED' });
  t.deepEqual(step.entries, []);
});

test('after a hard-drawdown trip, RESET re-bases the peak: the same loss does not re-trip, a further 10 % does', (t) => {
  const ess = new EssDriver();
  ess.send(portfolio(T0, 89_000), clock(T0 + COOLDOWN), reset(T0 + COOLDOWN + 1));
  t.is(ess.state, 'armed');
  ess.send(portfolio(T0 + COOLDOWN + 2, 89_000));
  t.is(ess.state, 'armed');
  ess.send(portfolio(T0 + COOLDOWN + 3, 80_000));
  t.is(ess.state, 'tripped');
});

test('a RESET is refused while the daily loss limit is still breached, and accepted once it clears', (t) => {
  const ess = new EssDriver();
  ess.send(portfolio(T0, 100_000, -1_200), clock(T0 + COOLDOWN));
  t.is(ess.state, 'awaitingReset');
  const refused = ess.step(reset(T0 + COOLDOWN + 1));
  t.is(refused.after.state, 'awaitingReset');
  t.like(refused.after.context.lastReset, { accepted: false, code: 'CONDITION_ACTIVE', state: 'awaitingReset' });
  ess.send(portfolio(T0 + COOLDOWN + 2, 100_000, 0));
  t.is(ess.step(reset(T0 + COOLDOWN + 3)).after.state, 'armed');
});

test('a RESET is refused while health is still CRITICAL', (t) => {
  const ess = new EssDriver();
  ess.send(health(T0, 'CRITICAL'), clock(T0 + 6_000), clock(T0 + 6_000 + COOLDOWN));
  t.is(ess.state, 'awaitingReset');
  t.like(ess.step(reset(T0 + 20_000)).after.context.lastReset, { code: 'CONDITION_ACTIVE' });
  ess.send(health(T0 + 21_000, 'OK'));
  t.is(ess.step(reset(T0 + 22_000)).after.state, 'armed');
});

test('a re-trip while tripped restarts the cooldown (ess.tripped, no state change)', (t) => {
  const ess = tripped();
  const step = ess.step(tick(T0 + 1_000, 100));
  t.is(step.after.context.cooldownUntil, T0 + COOLDOWN, 'a tick that trips nothing changes nothing');
  const again = ess.step(portfolio(T0 + 6_000, 80_000));
  t.is(again.after.state, 'tripped');
  t.is(again.after.context.cooldownUntil, T0 + 6_000 + COOLDOWN);
  t.like(published(again.entries, 'ess.tripped'), [
    { trigger: 'drawdown_hard', cooldownUntil: new Date(T0 + 6_000 + COOLDOWN).toISOString() },
  ]);
  t.deepEqual(published(again.entries, 'ess.state_changed'), []);
  t.is(ess.step(clock(T0 + COOLDOWN)).after.state, 'tripped', 'the first cooldown no longer ends it');
  t.is(ess.step(clock(T0 + 6_000 + COOLDOWN)).after.state, 'awaitingReset');
});

test('a trip in awaitingReset goes back to tripped with a new cooldown and a new cancel intent', (t) => {
  const ess = tripped();
  ess.send(clock(T0 + COOLDOWN));
  const step = ess.step(trip(T0 + COOLDOWN + 100, 'dave', 'again'));
  t.is(step.after.state, 'tripped');
  t.is(step.after.context.cooldownUntil, T0 + 2 * COOLDOWN + 100);
  t.like(published(step.entries, 'ess.state_changed'), [{ from: 'awaitingReset', to: 'tripped', trigger: 'manual' }]);
  t.true(step.entries.some((e) => e.kind === 'intent'));
  t.like(ess.step(reset(T0 + COOLDOWN + 200)).after.context.lastReset, { code: 'COOLDOWN_ACTIVE' });
});

test('two triggers in one event publish one ess.tripped each and one state change', (t) => {
  const ess = new EssDriver();
  const step = ess.step(portfolio(T0, 85_000, -2_000));
  t.deepEqual(
    published(step.entries, 'ess.tripped').map((e) => e.trigger),
    ['drawdown_hard', 'daily_loss'],
  );
  t.is(published(step.entries, 'ess.state_changed').length, 1);
});

test('every published entry matches the event catalog; seqs increase; OUTBOX_FLUSHED is idempotent', (t) => {
  const ess = new EssDriver();
  ess.actor.send(portfolio(T0, 94_000));
  ess.actor.send(trip(T0 + 1));
  ess.actor.send(reset(T0 + COOLDOWN + 1));
  const { outbox } = ess.context;
  t.deepEqual(
    outbox.map((e) => e.seq),
    outbox.map((_, i) => i + 1),
  );
  for (const e of outbox) {
    if (e.kind === 'publish') t.true(EVENT_CATALOG[e.type].safeParse(e.data).success, e.type);
  }
  ess.actor.send({ type: 'OUTBOX_FLUSHED', throughSeq: 2 });
  t.is(ess.context.outbox[0]?.seq, 3);
  ess.actor.send({ type: 'OUTBOX_FLUSHED', throughSeq: 2 });
  t.is(ess.context.outbox[0]?.seq, 3, 'a repeated flush drops nothing more');
  ess.actor.send({ type: 'OUTBOX_FLUSHED', throughSeq: outbox.at(-1)?.seq ?? 0 });
  t.deepEqual(ess.context.outbox, []);
  t.is(ess.context.outboxSeq, outbox.length);
});
