/**
 * The trading probes (src/actors/monitoring/probes.ts): each judged at OK,
 * DEGRADED and DOWN against its default thresholds and a custom setting,
 * with the reason it gives.
 */
import test from 'ava';
import {
  consumerLag,
  diskBufferBacklog,
  essProbe,
  exchangeWeight,
  sequenceGaps,
  staleFeed,
} from '../../../src/actors/monitoring/probes.js';

test('stale feed: the age of the last tick against 5 s / 30 s; never ticked is DOWN; a custom threshold applies', (t) => {
  const feed = (age: number | null) =>
    staleFeed({ symbol: 'BTCUSDT', lastTickAt: age === null ? null : 100_000 - age, now: 100_000 });
  t.is(feed(4_999).status, 'OK');
  t.like(feed(5_000), { status: 'DEGRADED', component: 'marketdata', condition: 'stale_feed:BTCUSDT' });
  t.like(feed(42_000), { status: 'DOWN', reason: 'BTCUSDT: last tick 42000 ms ago (over 30000 ms)' });
  t.like(feed(null), { status: 'DOWN', reason: 'BTCUSDT: no tick yet' });
  t.is(feed(-500).status, 'OK', 'a tick from a clock ahead is fresh');
  t.is(staleFeed({ symbol: 'ETHUSDT', lastTickAt: 0, now: 1_000 }, { degraded: 500, down: 2_000 }).status, 'DEGRADED');
});

test('consumer lag: the worse of entries and seconds; unknown values judge nothing', (t) => {
  const lag = (entries: number | null, seconds: number | null) =>
    consumerLag({ component: 'execution', group: 'execution', topic: 'order', entries, seconds });
  t.is(lag(10, 1).status, 'OK');
  t.is(lag(1_000, 1).status, 'DEGRADED');
  t.is(lag(10, 31).status, 'DOWN');
  t.is(lag(20_000, 6).status, 'DOWN');
  t.like(lag(null, 6), {
    status: 'DEGRADED',
    condition: 'consumer_lag:execution:order',
    reason: 'group execution on order behind by entries unknown, 6 s (over 5 s)',
  });
  t.is(lag(null, null).status, 'OK');
  t.is(
    consumerLag(
      { component: 'x', group: 'g', topic: 't', entries: 50, seconds: 0 },
      { entries: { degraded: 10, down: 100 }, seconds: { degraded: 5, down: 30 } },
    ).status,
    'DEGRADED',
  );
});

test('disk-buffer backlog: any event buffered is DEGRADED; 10 000 or an oldest over 60 s is DOWN', (t) => {
  const buffer = (pending: number, oldestAgeMs: number | null) =>
    diskBufferBacklog({ component: 'execution', pending, oldestAgeMs });
  t.is(buffer(0, null).status, 'OK');
  t.like(buffer(3, 1_000), { status: 'DEGRADED', reason: '3 events buffered (over 1), oldest 1000 ms' });
  t.is(buffer(10_000, 1_000).status, 'DOWN');
  t.is(buffer(2, 61_000).status, 'DOWN');
});

test('sequence gaps: a counter that moved is DEGRADED, by 100 DOWN; one reset by a restart counts its new value', (t) => {
  const gaps = (previous: number, current: number) =>
    sequenceGaps({ component: 'portfolio-intelligence', previous, current });
  t.is(gaps(4, 4).status, 'OK');
  t.like(gaps(4, 5), { status: 'DEGRADED', reason: '1 sequence gap since the last evaluation (over 1)' });
  t.is(gaps(0, 150).status, 'DOWN');
  t.like(gaps(50, 2), { status: 'DEGRADED', details: { gaps: 2, counter: 2, degraded_gaps: 1, down_gaps: 100 } });
});

test('exchange weight: 80% of the limit is DEGRADED, 95% DOWN; no limit judges nothing', (t) => {
  t.is(exchangeWeight({ used: 700, limit: 1_200 }).status, 'OK');
  t.like(exchangeWeight({ used: 1_000, limit: 1_200 }), {
    status: 'DEGRADED',
    component: 'exchange',
    condition: 'weight',
  });
  t.is(exchangeWeight({ used: 1_150, limit: 1_200 }).status, 'DOWN');
  t.is(exchangeWeight({ used: 5, limit: 0 }).status, 'OK');
  t.is(exchangeWeight({ used: 600, limit: 1_200 }, { degraded: 0.5, down: 0.9 }).status, 'DEGRADED');
});

test('ESS: tripped or awaiting a reset is DOWN, reducing DEGRADED, armed OK', (t) => {
  t.like(essProbe({ state: 'tripped', trigger: 'flash_crash' }), {
    status: 'DOWN',
    component: 'ess',
    condition: 'state',
    reason: 'ESS tripped (flash_crash)',
  });
  t.is(essProbe({ state: 'awaitingReset' }).status, 'DOWN');
  t.is(essProbe({ state: 'reducing', trigger: 'drawdown_soft' }).status, 'DEGRADED');
  t.like(essProbe({ state: 'armed' }), { status: 'OK', reason: 'ESS armed' });
});
