/**
 * The ai-engine machine (docs/architecture.md §11.2): valid `signal.generated` outputs, the
 * confidence floor, flood control on event time, and JSON snapshot round trips.
 */
import { fc, testProp } from '@fast-check/ava';
import test from 'ava';
import { createActor } from 'xstate';
import {
  type AiConfig,
  type AiEvent,
  aiToEvents,
  createAiMachine,
  createAiSpec,
  DEFAULT_CONFIDENCE_FLOOR,
  DEFAULT_MIN_INTERVAL_MS,
  DEFAULT_WINDOW_SIZE,
  floodControlPasses,
  resolveAiConfig,
  type SignalOutput,
  takeAiOutbox,
} from '../../../src/actors/ai-engine/ai-machine.js';
import { decide } from '../../../src/actors/ai-engine/ensemble.js';
import { EVENT_CATALOG } from '../../../src/events/catalog.js';
import { createEnvelope } from '../../../src/events/envelope.js';
import { CaseTally } from '../../support/case-tally.js';

const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);

const flat = (n: number, p = 100): number[] => Array.from({ length: n }, () => p);
/** Flat, then a sharp drop: the ensemble says sell (momentum: all three members agree). */
const crash = (): number[] => [...flat(30), 97, 94, 90, 85];
/** Flat, then an accelerating fall: the ensemble says sell with confidence ≥ 0.5 tick after tick. */
function longCrash(): number[] {
  const out = flat(30);
  let p = 100;
  for (let k = 0; k < 20; k++) {
    p *= 0.97 ** (1 + k * 0.1);
    out.push(p);
  }
  return out;
}
/** Alternating crashes and spikes from a flat base: the ensemble is confident again and again. */
function swings(n: number): number[] {
  const out: number[] = [];
  let cycle = 0;
  while (out.length < n) {
    out.push(...flat(50));
    const dir = cycle++ % 2 === 0 ? -1 : 1;
    for (let k = 1; k <= 5; k++) out.push(100 * (1 + dir * 0.04 * k));
  }
  return out.slice(0, n);
}

type Tick = Extract<AiEvent, { type: 'TICK' }>;

function ticks(symbol: string, prices: readonly number[], at0 = T0, stepMs = 1000): Tick[] {
  return prices.map((price, i) => ({ type: 'TICK', symbol, price, at: at0 + i * stepMs }));
}

/** Runs events through a fresh actor, taking the outbox after each event. */
function run(events: readonly AiEvent[], config: Partial<AiConfig> = {}): SignalOutput[] {
  const actor = createActor(createAiMachine(config)).start();
  const out: SignalOutput[] = [];
  for (const e of events) {
    actor.send(e);
    out.push(...takeAiOutbox(actor));
  }
  actor.stop();
  return out;
}

function bySymbol(signals: readonly SignalOutput[]): Map<string, SignalOutput[]> {
  const m = new Map<string, SignalOutput[]>();
  for (const s of signals) m.set(s.data.symbol, [...(m.get(s.data.symbol) ?? []), s]);
  return m;
}

test('the defaults: floor 0.5, 5000 ms, 100 closes; bad config is refused', (t) => {
  t.is(DEFAULT_CONFIDENCE_FLOOR, 0.5);
  t.is(DEFAULT_MIN_INTERVAL_MS, 5000);
  t.is(DEFAULT_WINDOW_SIZE, 100);
  const cfg = resolveAiConfig();
  t.like(cfg, { confidenceFloor: 0.5, minIntervalMs: 5000, windowSize: 100 });
  t.throws(() => createAiMachine({ confidenceFloor: 1.5 }), { code: 'QT_CONFIG_INVALID' } as never);
  t.throws(() => createAiMachine({ minIntervalMs: 0 }), { code: 'QT_CONFIG_INVALID' } as never);
  t.throws(() => createAiMachine({ windowSize: 10 }), { code: 'QT_CONFIG_INVALID' } as never);
});

test('a crash emits one valid signal.generated with a deterministic id', (t) => {
  const events = ticks('BTCUSDT', crash());
  const signals = run(events);
  t.is(signals.length, 1);
  const [signal] = signals;
  if (!signal) return;
  t.is(signal.type, 'signal.generated');
  const parsed = EVENT_CATALOG['signal.generated'].safeParse(signal.data);
  t.true(parsed.success, JSON.stringify(parsed.error?.issues));
  const i = crash().indexOf(97);
  t.like(signal.data, { signalId: `BTCUSDT-${T0 + i * 1000}-1`, symbol: 'BTCUSDT', side: 'sell', price: 97 });
  t.true(signal.data.signalId.length <= 64);
  t.true(signal.data.confidence >= 0.5 && signal.data.confidence <= 1);
  t.deepEqual(
    signal.data.strategies.map((s) => s.name),
    ['ema-crossover', 'rsi-momentum', 'bollinger-breakout'],
  );
  t.deepEqual(run(events), signals, 'deterministic');
});

test('no signal below the confidence floor, on hold, or on a malformed tick', (t) => {
  t.deepEqual(run(ticks('BTCUSDT', crash()), { confidenceFloor: 1 }), []);
  t.deepEqual(run(ticks('BTCUSDT', flat(200)), { confidenceFloor: 0 }), []);
  const actor = createActor(createAiMachine()).start();
  actor.send({ type: 'TICK', symbol: 'btc', price: 1, at: T0 });
  actor.send({ type: 'TICK', symbol: 'BTCUSDT', price: Number.NaN, at: T0 });
  actor.send({ type: 'TICK', symbol: 'BTCUSDT', price: -1, at: T0 });
  actor.send({ type: 'TICK', symbol: 'BTCUSDT', price: 1, at: Number.NaN });
  t.deepEqual(actor.getSnapshot().context.windows, {});
});

test('takeAiOutbox empties the outbox; windows stay bounded and the context is plain JSON', (t) => {
  const actor = createActor(createAiMachine()).start();
  for (const e of ticks('BTCUSDT', crash())) actor.send(e);
  t.is(takeAiOutbox(actor).length, 1);
  t.deepEqual(takeAiOutbox(actor), []);
  for (const e of ticks('ETHUSDT', swings(250))) actor.send(e);
  const ctx = actor.getSnapshot().context;
  t.is(ctx.windows.ETHUSDT?.length, DEFAULT_WINDOW_SIZE);
  t.is(ctx.windows.BTCUSDT?.length, crash().length);
  t.deepEqual(JSON.parse(JSON.stringify(ctx)), ctx);
});

test('aiToEvents: market.tick → TICK at the envelope time; other events → none', (t) => {
  const now = new Date('2026-01-05T12:00:01.250Z');
  const tick = createEnvelope({
    type: 'market.tick',
    data: { symbol: 'BTCUSDT', price: 42000.5, volume: 1 },
    source: 'test',
    producer: 'p1',
    seq: 1,
    now,
  });
  t.deepEqual(aiToEvents(tick), [{ type: 'TICK', symbol: 'BTCUSDT', price: 42000.5, at: now.getTime() }]);
  const other = createEnvelope({
    type: 'health.alert_raised',
    data: { alertId: 'a1', severity: 'warning', source: 'x', message: 'm' },
    source: 'test',
    producer: 'p1',
    seq: 2,
    now,
  });
  t.deepEqual(aiToEvents(other), []);
  const spec = createAiSpec();
  t.is(spec.name, 'ai-engine');
  t.deepEqual(spec.topics, ['market']);
  t.is(spec.toEvents, aiToEvents);
});

test('flood control rules: min interval per symbol; the same side again only after 3× the interval', (t) => {
  const last = { side: 'buy' as const, at: T0 };
  t.true(floodControlPasses(undefined, 'buy', T0, 5000));
  t.false(floodControlPasses(last, 'sell', T0 + 4999, 5000));
  t.true(floodControlPasses(last, 'sell', T0 + 5000, 5000));
  t.false(floodControlPasses(last, 'buy', T0 + 5000, 5000));
  t.false(floodControlPasses(last, 'buy', T0 + 14_999, 5000));
  t.true(floodControlPasses(last, 'buy', T0 + 15_000, 5000));
  t.false(floodControlPasses(last, 'sell', T0 - 10_000, 5000), 'event time going backwards');
});

test('the same side twice in a row needs 3× the interval', (t) => {
  // confident sells tick after tick, 1 s apart; minIntervalMs 2000 alone would allow one every 2 s
  const signals = run(ticks('BTCUSDT', longCrash()), { minIntervalMs: 2000 });
  const first = T0 + 30_000;
  t.deepEqual(
    signals.map((s) => [s.data.side, s.data.signalId]),
    [
      ['sell', `BTCUSDT-${first}-1`],
      ['sell', `BTCUSDT-${first + 6000}-2`],
      ['sell', `BTCUSDT-${first + 12_000}-3`],
      ['sell', `BTCUSDT-${first + 18_000}-4`],
    ],
  );
  // the ensemble was confident on every tick of the fall: flood control alone thinned it
  const closes = longCrash();
  for (let i = 30; i < closes.length; i++) {
    const d = decide(closes.slice(0, i + 1));
    t.true(d.side === 'sell' && d.confidence >= DEFAULT_CONFIDENCE_FLOOR, `tick ${i}`);
  }
});

test('a burst of 1000 ticks within 1 s gives at most one signal per symbol', (t) => {
  const symbols = ['BTCUSDT', 'ETHUSDT', 'SOLUSDT'];
  // each symbol walks its own swings, interleaved; tick i is at T0 + ⌊0.999 i⌋ ms, all within 1 s
  const prices = swings(Math.ceil(1000 / symbols.length));
  const burst: Tick[] = Array.from({ length: 1000 }, (_, i) => ({
    type: 'TICK',
    symbol: symbols[i % symbols.length] ?? 'BTCUSDT',
    price: prices[Math.floor(i / symbols.length)] ?? 100,
    at: T0 + Math.floor(i * 0.999),
  }));
  t.true((burst.at(-1)?.at ?? 0) - T0 < 1000);
  // without flood control this burst would flood
  t.true(run(burst, { minIntervalMs: 1 }).length > symbols.length * 3);
  const signals = run(burst);
  t.true(signals.length >= 1);
  for (const [symbol, list] of bySymbol(signals)) t.true(list.length <= 1, symbol);
  t.true(bySymbol(signals).size <= symbols.length);
});

test('snapshot round trip through JSON gives identical subsequent outputs', (t) => {
  const events = [...ticks('BTCUSDT', swings(400)), ...ticks('ETHUSDT', swings(400), T0 + 500, 700)].sort(
    (a, b) => a.at - b.at,
  );
  const cut = 377;
  const machine = createAiMachine({ minIntervalMs: 3000 });
  const a = createActor(machine).start();
  const before: SignalOutput[] = [];
  for (const e of events.slice(0, cut)) {
    a.send(e);
    before.push(...takeAiOutbox(a));
  }
  t.true(before.length > 0);
  const persisted = JSON.parse(JSON.stringify(a.getPersistedSnapshot()));
  const b = createActor(createAiMachine({ minIntervalMs: 3000 }), { snapshot: persisted }).start();
  t.deepEqual(b.getSnapshot().context, a.getSnapshot().context);
  const outA: SignalOutput[] = [];
  const outB: SignalOutput[] = [];
  for (const e of events.slice(cut)) {
    a.send(e);
    b.send(e);
    outA.push(...takeAiOutbox(a));
    outB.push(...takeAiOutbox(b));
  }
  t.true(outB.length > 0);
  t.deepEqual(outB, outA);
  t.deepEqual([...before, ...outB], run(events, { minIntervalMs: 3000 }), 'same as an uninterrupted run');
});

const SYMBOLS = ['BTCUSDT', 'ETHUSDT', 'SOLUSDT'] as const;
/** Segments of ticks: a symbol moving by a constant step (flat, drift or crash/spike) at a constant dt (may go back). */
const segments = fc.array(
  fc.record({
    symbol: fc.constantFrom(...SYMBOLS),
    move: fc.constantFrom(0, 0, 0.005, -0.005, 0.04, -0.04),
    length: fc.integer({ min: 1, max: 40 }),
    dt: fc.integer({ min: -300, max: 3000 }),
  }),
  { maxLength: 30 },
);

/**
 * Flood control is only tested by floods that hit its limit: runs where it
 * held back signals that a run without it (the smallest interval) emits, and
 * runs with consecutive signals of one symbol on the same side (the 3× rule)
 * and on opposite sides.
 */
const floodCases = new CaseTally('flood control', { heldBack: 0.45, sameSidePair: 0.45, oppositeSidePair: 0.1 });

testProp(
  'signals per symbol never exceed (duration / minIntervalMs) + 1; every signal is valid',
  [segments, fc.constantFrom(500, 1000, 5000), fc.constantFrom(0, 0.3, 0.5)],
  (t, segs, minIntervalMs, confidenceFloor) => {
    const price: Record<string, number> = { BTCUSDT: 100, ETHUSDT: 100, SOLUSDT: 100 };
    const times = new Map<string, number[]>();
    const events: Tick[] = [];
    let at = T0;
    for (const { symbol, move, length, dt } of segs) {
      for (let i = 0; i < length; i++) {
        at += dt;
        const p = (price[symbol] ?? 100) * (1 + move);
        price[symbol] = p;
        times.set(symbol, [...(times.get(symbol) ?? []), at]);
        events.push({ type: 'TICK', symbol, price: p, at });
      }
    }
    const signals = run(events, { minIntervalMs, confidenceFloor });
    const hit = floodCases.run();
    if (run(events, { minIntervalMs: Number.MIN_VALUE, confidenceFloor }).length > signals.length) hit('heldBack');
    for (const [symbol, list] of bySymbol(signals)) {
      const ts = times.get(symbol) ?? [];
      const duration = Math.max(...ts) - Math.min(...ts);
      t.true(list.length <= duration / minIntervalMs + 1, symbol);
      for (let i = 1; i < list.length; i++) {
        const prev = list[i - 1]!.data;
        const cur = list[i]!.data;
        const gap = Number(cur.signalId.split('-')[1]) - Number(prev.signalId.split('-')[1]);
        hit(cur.side === prev.side ? 'sameSidePair' : 'oppositeSidePair');
        t.true(gap >= (cur.side === prev.side ? 3 * minIntervalMs : minIntervalMs));
      }
    }
    t.true(signals.length <= events.length);
    for (const s of signals) {
      t.true(EVENT_CATALOG['signal.generated'].safeParse(s.data).success);
      t.true(s.data.confidence >= confidenceFloor);
    }
  },
  { numRuns: 150 },
);
