/**
 * Random ESS event sequences for the property tests: ticks, portfolio
 * updates, health snapshots, manual trips, RESETs and CLOCKs, at increasing
 * times (some events arrive late, as across streams). Ranges are chosen so
 * that every state and transition is visited often (see the coverage test).
 */
import { fc } from '@fast-check/ava';
import type { EssInputEvent } from '../../../src/actors/risk-safety/ess-events.js';

const T0 = Date.UTC(2026, 0, 5, 0, 0, 0);

type Timeless = EssInputEvent extends infer E ? (E extends EssInputEvent ? Omit<E, 'at'> : never) : never;

const timeless: fc.Arbitrary<Timeless> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      type: fc.constant('market.tick' as const),
      symbol: fc.constantFrom('BTCUSDT', 'ETHUSDT'),
      price: fc.integer({ min: 90, max: 115 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      type: fc.constant('portfolio.updated' as const),
      equity: fc.integer({ min: 870, max: 1_030 }),
      peakEquity: fc.constant(1_000),
      dailyRealizedPnl: fc.oneof(fc.constant(0), fc.integer({ min: -1_100, max: 200 })),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      type: fc.constant('health.snapshot_updated' as const),
      status: fc.constantFrom('OK' as const, 'DEGRADED' as const, 'CRITICAL' as const),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      type: fc.constant('TRIP' as const),
      operator: fc.constant('op'),
      reason: fc.constant('test'),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      type: fc.constant('RESET' as const),
      operator: fc.constant('op'),
      reason: fc.constant('ok'),
    }),
  },
  { weight: 3, arbitrary: fc.record({ type: fc.constant('CLOCK' as const) }) },
);

/** Time steps: mostly short, sometimes beyond a cooldown (10 s in TEST_CONFIG). */
const gap = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 0, max: 3_000 }) },
  { weight: 2, arbitrary: fc.integer({ min: 3_000, max: 15_000 }) },
);

/**
 * A random sequence of ESS input events; `at` mostly increases, ~1 in 10
 * events is up to 2 s late. `size: 'max'` draws lengths up to 80: fast-check's
 * default size stops near 10 events, too few for a trip followed by RESETs
 * both during and after its cooldown (the properties' tallies check this).
 */
export const essEvents: fc.Arbitrary<EssInputEvent[]> = fc
  .array(fc.tuple(timeless, gap, fc.integer({ min: 0, max: 19 })), { minLength: 1, maxLength: 80, size: 'max' })
  .map((items) => {
    let now = T0;
    return items.map(([event, dt, lateness]) => {
      now += dt;
      const at = lateness < 2 ? Math.max(T0, now - (lateness + 1) * 1_000) : now;
      return { ...event, at } as EssInputEvent;
    });
  });
