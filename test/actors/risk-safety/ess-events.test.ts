import test from 'ava';
import { createActor } from 'xstate';
import type { ActorSpec } from '../../../src/actors/host.js';
import { EssConfigSchema, EssEventSchema, toEssEvents } from '../../../src/actors/risk-safety/ess-events.js';
import { createEssMachine, type EssMachine } from '../../../src/actors/risk-safety/ess-machine.js';
import { takeEssOutbox } from '../../../src/actors/risk-safety/ess-outbox.js';
import {
  DEFAULT_COOLDOWN_MS,
  DEFAULT_DAILY_LOSS_LIMIT,
  DEFAULT_FLASH_CRASH_DROP,
  DEFAULT_FLASH_CRASH_WINDOW_MS,
  DEFAULT_HARD_DRAWDOWN,
  DEFAULT_HEALTH_CRITICAL_MS,
  DEFAULT_SOFT_DRAWDOWN,
} from '../../../src/config/defaults.js';
import { EVENT_CATALOG } from '../../../src/events/catalog.js';
import { createEnvelope } from '../../../src/events/envelope.js';

const meta = { source: 'test', producer: 'p1', seq: 1, now: new Date('2026-01-05T12:00:00.000Z') };
const AT = Date.parse('2026-01-05T12:00:00.000Z');

test('the config defaults are the named constants; soft must stay below hard', (t) => {
  t.deepEqual(EssConfigSchema.parse({}), {
    softDrawdown: DEFAULT_SOFT_DRAWDOWN,
    hardDrawdown: DEFAULT_HARD_DRAWDOWN,
    flashCrashDrop: DEFAULT_FLASH_CRASH_DROP,
    flashCrashWindowMs: DEFAULT_FLASH_CRASH_WINDOW_MS,
    dailyLossLimit: DEFAULT_DAILY_LOSS_LIMIT,
    healthCriticalMs: DEFAULT_HEALTH_CRITICAL_MS,
    cooldownMs: DEFAULT_COOLDOWN_MS,
  });
  t.false(EssConfigSchema.safeParse({ softDrawdown: 0.1, hardDrawdown: 0.1 }).success);
  t.false(EssConfigSchema.safeParse({ flashCrashDrop: 1.5 }).success);
  t.false(EssConfigSchema.safeParse({ cooldownMs: -1 }).success);
});

test('input events are validated at the edge: RESET needs an operator and a reason; time is epoch ms', (t) => {
  t.true(EssEventSchema.safeParse({ type: 'RESET', at: AT, operator: 'alice', reason: 'ok' }).success);
  t.false(EssEventSchema.safeParse({ type: 'RESET', at: AT, operator: '', reason: 'ok' }).success);
  t.false(EssEventSchema.safeParse({ type: 'RESET', at: AT, operator: 'alice' }).success);
  t.false(EssEventSchema.safeParse({ type: 'CLOCK', at: 1.5 }).success);
  t.false(EssEventSchema.safeParse({ type: 'CLOCK' }).success);
  t.true(EssEventSchema.safeParse({ type: 'OUTBOX_FLUSHED', throughSeq: 3 }).success);
});

test('toEssEvents maps the consumed envelopes, with at = envelope time, and ignores the rest', (t) => {
  const tick = createEnvelope({ type: 'market.tick', data: { symbol: 'BTCUSDT', price: 65_000, volume: 1 }, ...meta });
  t.deepEqual(toEssEvents(tick), [{ type: 'market.tick', at: AT, symbol: 'BTCUSDT', price: 65_000 }]);
  const portfolio = createEnvelope({
    type: 'portfolio.updated',
    data: {
      equity: 9_000,
      cash: 5_000,
      peakEquity: 10_000,
      drawdown: 0.1,
      realizedPnl: -500,
      unrealizedPnl: -500,
      dailyRealizedPnl: -200,
      exposure: 4_000,
      positions: [],
    },
    ...meta,
  });
  t.deepEqual(toEssEvents(portfolio), [
    { type: 'portfolio.updated', at: AT, equity: 9_000, peakEquity: 10_000, dailyRealizedPnl: -200 },
  ]);
  const health = createEnvelope({
    type: 'health.snapshot_updated',
    data: { status: 'CRITICAL', services: {} },
    ...meta,
  });
  t.deepEqual(toEssEvents(health), [{ type: 'health.snapshot_updated', at: AT, status: 'CRITICAL' }]);
  const reset = createEnvelope({ type: 'ess.reset', data: { operator: 'a', reason: 'b' }, ...meta });
  t.deepEqual(toEssEvents(reset), []);
  for (const e of [...toEssEvents(tick), ...toEssEvents(portfolio), ...toEssEvents(health)]) {
    t.true(EssEventSchema.safeParse(e).success);
  }
});

test('takeEssOutbox hands the host the publications and intents in order and flushes them', (t) => {
  const actor = createActor(createEssMachine()).start();
  actor.send({ type: 'TRIP', at: AT, operator: 'alice', reason: 'drill' });
  const taken = takeEssOutbox(actor);
  t.deepEqual(
    taken.publish.map((p) => p.type),
    ['ess.tripped', 'ess.state_changed'],
  );
  t.like(taken.publish[0], { data: { trigger: 'manual', operator: 'alice', reason: 'drill' } });
  t.deepEqual(taken.intents, [
    { intent: 'cancel_open_orders', keepEmergencyExits: true, trigger: 'manual', reason: 'drill' },
  ]);
  t.deepEqual(actor.getSnapshot().context.outbox, []);
  t.deepEqual(takeEssOutbox(actor), { publish: [], intents: [] });
  t.is(actor.getSnapshot().context.cooldownUntil, AT + DEFAULT_COOLDOWN_MS);
});

test('the ESS fits the actor host: toEssEvents and takeEssOutbox are its spec functions', (t) => {
  const spec: ActorSpec<EssMachine> = {
    name: 'ess',
    machine: createEssMachine(),
    topics: ['market', 'portfolio', 'health'],
    toEvents: toEssEvents,
    takeOutputs: (actor) => takeEssOutbox(actor).publish,
  };
  const actor = createActor(spec.machine).start();
  const tick = createEnvelope({ type: 'market.tick', data: { symbol: 'BTCUSDT', price: 100, volume: 0 }, ...meta });
  for (const e of spec.toEvents(tick, { receivedAt: 0 })) actor.send(e);
  actor.send({ type: 'TRIP', at: AT + 1, operator: 'alice', reason: 'drill' });
  const outputs = spec.takeOutputs(actor);
  t.deepEqual(
    outputs.map((o) => o.type),
    ['ess.tripped', 'ess.state_changed'],
  );
  for (const o of outputs) t.true(EVENT_CATALOG[o.type].safeParse(o.data).success);
});
