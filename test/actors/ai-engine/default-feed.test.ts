/**
 * The ai-engine on the feed `npm start` runs (docs/architecture.md §11.2): the default
 * synthetic feed (seed, symbols and rate from the config defaults) drives the
 * pure machine for ten simulated minutes, the way the marketdata service
 * does, and the signals must be a modest, two-sided stream with some
 * confident enough to become orders. Event time only; no sleeps.
 */
import test from 'ava';
import { createActor } from 'xstate';
import {
  aiToEvents,
  createAiMachine,
  DEFAULT_MIN_INTERVAL_MS,
  type SignalOutput,
  takeAiOutbox,
} from '../../../src/actors/ai-engine/ai-machine.js';
import { DEFAULT_POLL_MS } from '../../../src/actors/marketdata/service.js';
import { createSyntheticFeed } from '../../../src/actors/marketdata/synthetic-feed.js';
import { DEFAULT_RISK_POLICY } from '../../../src/actors/risk-safety/policy.js';
import { loadConfig } from '../../../src/config/load.js';
import { EVENT_CATALOG } from '../../../src/events/catalog.js';
import { createEnvelope } from '../../../src/events/envelope.js';

const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);
const MINUTES = 10;
const MINUTE_MS = 60_000;

/** The signals of the default feed over `MINUTES`, with the envelope time of each. */
function runDefaultFeed(): { signals: { at: number; signal: SignalOutput }[]; ticks: number } {
  const { feed: cfg } = loadConfig({});
  const feed = createSyntheticFeed({
    seed: cfg.seed,
    symbols: cfg.symbols.map((s) => ({ ...s })),
    ticksPerSecond: cfg.ticksPerSecond,
    startAt: T0,
  });
  const actor = createActor(createAiMachine()).start();
  const signals: { at: number; signal: SignalOutput }[] = [];
  let seq = 0;
  // As the marketdata service: poll every DEFAULT_POLL_MS, publish the due ticks stamped with the poll time.
  for (let now = T0; now < T0 + MINUTES * MINUTE_MS; now += DEFAULT_POLL_MS) {
    for (const tick of feed.next(now)) {
      const envelope = createEnvelope({
        type: 'market.tick',
        data: { symbol: tick.symbol, price: tick.price, volume: tick.volume },
        source: 'marketdata',
        producer: 'feed',
        seq: ++seq,
        now: new Date(now),
      });
      for (const event of aiToEvents(envelope)) actor.send(event);
      for (const signal of takeAiOutbox(actor)) signals.push({ at: now, signal });
    }
  }
  actor.stop();
  return { signals, ticks: seq };
}

const run = runDefaultFeed();

test('the default feed gives one to a few signals per symbol per minute, both sides, some confident enough to trade', (t) => {
  const { feed: cfg } = loadConfig({});
  t.is(run.ticks, cfg.symbols.length * cfg.ticksPerSecond * MINUTES * 60);
  const minConfidence = DEFAULT_RISK_POLICY.minConfidence;
  for (const { symbol } of cfg.symbols) {
    const mine = run.signals.filter((s) => s.signal.data.symbol === symbol).map((s) => s.signal.data);
    const perMinute = mine.length / MINUTES;
    const sides = new Set(mine.map((s) => s.side));
    const tradable = mine.filter((s) => s.confidence >= minConfidence).length;
    t.log(`${symbol}: ${perMinute.toFixed(1)} signals/min, ${tradable} with confidence ≥ ${minConfidence}`);
    t.true(perMinute >= 1, `${symbol}: at least one signal per minute, got ${perMinute}`);
    // Well under flood control's ceiling of one per DEFAULT_MIN_INTERVAL_MS (12/min).
    t.true(perMinute <= 8, `${symbol}: not a flood, got ${perMinute}/min`);
    t.true(mine.length <= (MINUTES * MINUTE_MS) / DEFAULT_MIN_INTERVAL_MS + 1, `${symbol}: flood control holds`);
    t.deepEqual([...sides].sort(), ['buy', 'sell'], `${symbol}: both sides`);
    t.true(tradable >= 1, `${symbol}: some signals pass the risk policy's minConfidence`);
  }
  for (const { signal } of run.signals) t.true(EVENT_CATALOG['signal.generated'].safeParse(signal.data).success);
});

test('the signals are spread over the run, not a burst at warm-up', (t) => {
  for (let m = 0; m < MINUTES; m++) {
    const inMinute = run.signals.filter((s) => s.at >= T0 + m * MINUTE_MS && s.at < T0 + (m + 1) * MINUTE_MS);
    t.true(inMinute.length >= 1, `minute ${m}: ${inMinute.length} signals`);
  }
});

test('the run is deterministic: the same feed gives the same signals', (t) => {
  const again = runDefaultFeed();
  t.deepEqual(
    again.signals.map((s) => [s.at, s.signal.data.symbol, s.signal.data.side, s.signal.data.confidence]),
    run.signals.map((s) => [s.at, s.signal.data.symbol, s.signal.data.side, s.signal.data.confidence]),
  );
});
