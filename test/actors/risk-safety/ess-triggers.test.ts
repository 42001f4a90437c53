/**
 * Each ESS trigger (docs/architecture.md §9.2), driven only by the `at` the events carry:
 * drawdown soft/hard, flash crash, daily loss, health CRITICAL duration, manual.
 */
import test from 'ava';
import { FLASH_CRASH_MAX_POINTS } from '../../../src/actors/risk-safety/ess-monitor.js';
import { changes, clock, EssDriver, health, portfolio, published, TEST_CONFIG, tick, trip } from './helpers.js';

const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);

test('a fresh ESS is armed with an empty outbox', (t) => {
  const ess = new EssDriver();
  t.is(ess.state, 'armed');
  t.deepEqual(ess.context.outbox, []);
  t.is(ess.context.cooldownUntil, null);
});

test('soft drawdown (5 % from peak, marked to market) moves armed to reducing', (t) => {
  const ess = new EssDriver();
  t.is(ess.step(portfolio(T0, 95_500)).after.state, 'armed', '4.5 % is below the soft limit');
  const step = ess.step(portfolio(T0 + 1_000, 95_000));
  t.is(step.after.state, 'reducing');
  const [changed] = published(step.entries, 'ess.state_changed');
  t.like(changed, { from: 'armed', to: 'reducing', trigger: 'drawdown_soft' });
  t.regex(changed?.reason ?? '', /drawdown 5\.00 %/);
  t.deepEqual(published(step.entries, 'ess.tripped'), [], 'the soft limit is not a trip');
  t.is(step.after.context.cooldownUntil, null, 'reducing has no cooldown');
});

test('hard drawdown (10 %) trips the ESS from armed, with a cooldown and an order-cancel intent', (t) => {
  const ess = new EssDriver();
  const step = ess.step(portfolio(T0, 88_000));
  t.is(step.after.state, 'tripped');
  t.is(step.after.context.cooldownUntil, T0 + TEST_CONFIG.cooldownMs);
  const cooldownUntil = new Date(T0 + TEST_CONFIG.cooldownMs).toISOString();
  t.like(published(step.entries, 'ess.tripped'), [{ trigger: 'drawdown_hard', cooldownUntil }]);
  t.like(published(step.entries, 'ess.state_changed'), [
    { from: 'armed', to: 'tripped', trigger: 'drawdown_hard', cooldownUntil },
  ]);
  t.like(
    step.entries.find((e) => e.kind === 'intent'),
    { intent: 'cancel_open_orders', keepEmergencyExits: true, trigger: 'drawdown_hard' },
  );
});

test('a drawdown that deepens from soft to hard goes reducing, then tripped', (t) => {
  const ess = new EssDriver();
  const [soft, hard] = ess.send(portfolio(T0, 94_000), portfolio(T0 + 1_000, 90_000));
  t.is(soft?.after.state, 'reducing');
  t.is(hard?.after.state, 'tripped');
  t.like(published(hard?.entries ?? [], 'ess.state_changed'), [{ from: 'reducing', to: 'tripped' }]);
});

test('the drawdown peak follows equity up (a new high raises the bar)', (t) => {
  const ess = new EssDriver();
  ess.send(portfolio(T0, 110_000), portfolio(T0 + 1_000, 105_000));
  t.is(ess.state, 'armed', '4.5 % below the new high');
  ess.send(portfolio(T0 + 2_000, 104_000));
  t.is(ess.state, 'reducing', '5.45 % below the new high, though above the peak the portfolio reported');
});

test('flash crash: a 15 % fall within 60 s trips the ESS', (t) => {
  const ess = new EssDriver();
  ess.send(tick(T0, 100), tick(T0 + 30_000, 97));
  const step = ess.step(tick(T0 + 60_000, 85));
  t.is(step.after.state, 'tripped');
  t.like(published(step.entries, 'ess.tripped'), [{ trigger: 'flash_crash' }]);
  t.regex(published(step.entries, 'ess.tripped')[0]?.reason ?? '', /BTCUSDT fell 15\.00 % from 100 to 85 in 60000 ms/);
});

test('flash crash: the same 15 % fall over 61 s does not trip, with or without ticks on the way', (t) => {
  const jump = new EssDriver();
  jump.send(tick(T0, 100), tick(T0 + 61_000, 85));
  t.is(jump.state, 'armed');

  const slide = new EssDriver();
  for (let s = 0; s <= 61; s++) slide.send(tick(T0 + s * 1_000, 100 - (15 * s) / 61));
  t.is(slide.state, 'armed');
  t.is(
    published(
      slide.steps.flatMap((x) => x.entries),
      'ess.tripped',
    ).length,
    0,
  );
});

test('flash crash: windows are per symbol', (t) => {
  const ess = new EssDriver();
  ess.send(tick(T0, 100, 'BTCUSDT'), tick(T0 + 1_000, 85, 'ETHUSDT'), tick(T0 + 2_000, 90, 'BTCUSDT'));
  t.is(ess.state, 'armed', 'ETH 85 is its first price; BTC fell 10 %');
  ess.send(tick(T0 + 3_000, 72, 'ETHUSDT'));
  t.is(ess.state, 'tripped', 'ETH fell 15.3 %');
});

test('flash crash: the price window stays small under a long, noisy stream of ticks', (t) => {
  const ess = new EssDriver();
  let price = 1_000;
  for (let i = 0; i < 5_000; i++) {
    price *= i % 7 === 0 ? 1.0004 : 0.99995;
    ess.actor.send(tick(T0 + i * 50, price));
  }
  t.is(ess.state, 'armed');
  const window = ess.context.monitor.prices.BTCUSDT ?? [];
  t.true(window.length > 0 && window.length <= FLASH_CRASH_MAX_POINTS, `window has ${window.length} points`);
  t.true(window.length < 50, `window has ${window.length} points`);
});

test('daily realized loss at the limit trips the ESS; just below it does not', (t) => {
  const ess = new EssDriver();
  ess.send(portfolio(T0, 100_000, -999));
  t.is(ess.state, 'armed');
  const step = ess.step(portfolio(T0 + 1_000, 100_000, -1_000));
  t.is(step.after.state, 'tripped');
  t.like(published(step.entries, 'ess.tripped'), [{ trigger: 'daily_loss' }]);
});

test('health CRITICAL for longer than N s trips the ESS (even if the health service falls silent)', (t) => {
  const ess = new EssDriver();
  ess.send(health(T0, 'CRITICAL'), clock(T0 + TEST_CONFIG.healthCriticalMs));
  t.is(ess.state, 'armed', 'exactly N s is not longer than N s');
  const step = ess.step(clock(T0 + TEST_CONFIG.healthCriticalMs + 1));
  t.is(step.after.state, 'tripped');
  t.like(published(step.entries, 'ess.tripped'), [{ trigger: 'health_critical' }]);
});

test('a short CRITICAL blip does not trip the ESS; the duration restarts with each spell', (t) => {
  const ess = new EssDriver();
  ess.send(
    health(T0, 'CRITICAL'),
    health(T0 + 3_000, 'CRITICAL'),
    health(T0 + 4_000, 'OK'),
    health(T0 + 4_500, 'CRITICAL'),
    clock(T0 + 9_000),
    health(T0 + 9_400, 'DEGRADED'),
    clock(T0 + 20_000),
  );
  t.is(ess.state, 'armed');
});

test('a manual trip carries its operator and reason', (t) => {
  const ess = new EssDriver();
  const step = ess.step(trip(T0, 'bob', 'venue outage'));
  t.is(step.after.state, 'tripped');
  t.like(published(step.entries, 'ess.tripped'), [{ trigger: 'manual', operator: 'bob', reason: 'venue outage' }]);
  t.deepEqual(changes(step.path), [['armed', 'tripped']]);
});

test('a condition that persists does not re-trip (nor restart the cooldown) at every update', (t) => {
  const ess = new EssDriver();
  ess.send(portfolio(T0, 100_000, -1_500));
  for (let i = 1; i <= 5; i++) ess.send(portfolio(T0 + i * 1_000, 100_000, -1_600));
  t.is(
    published(
      ess.steps.flatMap((s) => s.entries),
      'ess.tripped',
    ).length,
    1,
  );
  t.is(ess.context.cooldownUntil, T0 + TEST_CONFIG.cooldownMs);
});

test('the ESS clock never runs backwards: a late event does not shorten the cooldown', (t) => {
  const ess = new EssDriver();
  ess.send(clock(T0 + 5_000), trip(T0, 'bob', 'late command'));
  t.is(ess.context.cooldownUntil, T0 + 5_000 + TEST_CONFIG.cooldownMs);
});
