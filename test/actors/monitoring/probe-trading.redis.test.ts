/**
 * The trading probes as measured (src/actors/monitoring/probe-trading.ts) on
 * a real redis-server with events published by a real RedisPublisher: each
 * symbol's last tick age, a symbol that stops ticking, the feed before any
 * tick, platform consumer groups' lag (others ignored), the ESS projection
 * read, and from services' real health reports (local HTTP servers) the
 * disk-buffer backlog per process and the sequence gaps since the last cycle.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import test, { type ExecutionContext } from 'ava';
import type { Redis } from 'ioredis';
import { checkFromProbe, INITIAL_ALERT_STATE, stepAlerts } from '../../../src/actors/monitoring/alerts.js';
import { type PolledService, pollService } from '../../../src/actors/monitoring/poll-services.js';
import {
  ANY_SYMBOL,
  bufferProbes,
  FeedWatch,
  GapWatch,
  lagProbes,
  type ProbeThresholds,
  readEss,
  redisTime,
} from '../../../src/actors/monitoring/probe-trading.js';
import type { ProbeResult } from '../../../src/actors/monitoring/probes.js';
import { essProjection } from '../../../src/actors/risk-safety/ess-projection.js';
import { SERVICES, type ServiceName } from '../../../src/actors/services.js';
import { DEFAULT_PROBE_THRESHOLDS } from '../../../src/config/health.js';
import type { Keys } from '../../../src/streams/keys.js';
import { RedisPublisher } from '../../../src/streams/publisher.js';
import { testKeys } from '../../support/bus.js';
import { getFreePort } from '../../support/free-port.js';
import { json, report, startLocalServer } from '../../support/health-server.js';
import { type RedisServer, startRedis } from '../../support/redis-fixture.js';

const TIMEOUT_MS = 2_000;
const LIMITS: ProbeThresholds = DEFAULT_PROBE_THRESHOLDS;

let server: RedisServer;
test.before(async () => {
  server = await startRedis({ name: 'probe-trading' });
});
test.after.always(() => server?.stop());

/** A client, fresh keys and a market-data publisher on them. */
function setup(label: string): { redis: Redis; keys: Keys; publisher: RedisPublisher } {
  const redis = server.client();
  const keys = testKeys(label);
  return {
    redis,
    keys,
    publisher: new RedisPublisher({ redis, keys, producer: `feed-${label}`, source: 'marketdata' }),
  };
}

const tick = (publisher: RedisPublisher, symbol: string, price = 100) =>
  publisher.publish('market.tick', { symbol, price, volume: 1 });

test('redisTime is Redis’s clock in epoch ms', async (t) => {
  const { redis } = setup('redis-time');
  const at = await redisTime(redis, TIMEOUT_MS);
  t.true(Math.abs(at - Date.now()) < 5_000, `${at} vs ${Date.now()}`);
});

test('FeedWatch: each symbol’s last tick age from the market stream; other market events do not count', async (t) => {
  const { redis, keys, publisher } = setup('feed-age');
  await tick(publisher, 'BTCUSDT');
  await tick(publisher, 'ETHUSDT');
  await publisher.publish('market.candle', {
    symbol: 'SOLUSDT',
    interval: '1m',
    openTime: new Date().toISOString(),
    open: 1,
    high: 1,
    low: 1,
    close: 1,
    volume: 1,
  });
  const watch = new FeedWatch(Date.now());
  const now = await redisTime(redis, TIMEOUT_MS);
  const probes = await watch.probe(redis, keys, now, LIMITS.staleFeedMs, TIMEOUT_MS);
  t.deepEqual(
    probes.map((p) => [p.component, p.condition, p.status]),
    [
      ['marketdata', 'stale_feed:ANY', 'OK'],
      ['marketdata', 'stale_feed:BTCUSDT', 'OK'],
      ['marketdata', 'stale_feed:ETHUSDT', 'OK'],
    ],
  );
  for (const p of probes.slice(1)) {
    const age = p.details.age_ms as number;
    t.true(age >= 0 && age < 2_000, `${p.condition} age ${age}`);
  }
  // Judged against the `now` given: 40 s later both are DOWN (each symbol its own condition; ANY has ticked).
  const later = await watch.probe(redis, keys, now + 40_000, LIMITS.staleFeedMs, TIMEOUT_MS);
  t.deepEqual(
    later.map((p) => p.status),
    ['OK', 'DOWN', 'DOWN'],
  );
});

test('FeedWatch: a symbol that stops ticking ages while another keeps ticking', async (t) => {
  const { redis, keys, publisher } = setup('feed-stop');
  const limits = { degraded: 400, down: 60_000 };
  const watch = new FeedWatch(Date.now());
  await tick(publisher, 'BTCUSDT');
  await tick(publisher, 'ETHUSDT');
  await watch.probe(redis, keys, await redisTime(redis, TIMEOUT_MS), limits, TIMEOUT_MS);
  // BTCUSDT goes quiet; ETHUSDT keeps ticking. The next read sees only ETHUSDT's new ticks.
  for (let i = 0; i < 8; i++) {
    await sleep(100);
    await tick(publisher, 'ETHUSDT', 100 + i);
  }
  const probes = await watch.probe(redis, keys, await redisTime(redis, TIMEOUT_MS), limits, TIMEOUT_MS);
  const [any, btc, eth] = probes;
  t.is(any?.condition, 'stale_feed:ANY');
  t.is(btc?.condition, 'stale_feed:BTCUSDT', 'still watched though absent from this read');
  t.is(btc?.status, 'DEGRADED');
  t.true((btc?.details.age_ms as number) >= 700, `BTCUSDT age ${btc?.details.age_ms}`);
  t.regex(btc?.reason ?? '', /^BTCUSDT: last tick \d+ ms ago \(over 400 ms\)$/);
  t.is(eth?.status, 'OK');
  t.true((eth?.details.age_ms as number) < (btc?.details.age_ms as number));
});

test('FeedWatch: before any tick the feed is judged under ANY from the watch start', async (t) => {
  const { redis, keys, publisher } = setup('feed-none');
  const now = await redisTime(redis, TIMEOUT_MS);
  const watch = new FeedWatch(now - 10_000);
  const [none] = await watch.probe(redis, keys, now, LIMITS.staleFeedMs, TIMEOUT_MS);
  t.like(none, { condition: `stale_feed:${ANY_SYMBOL}`, status: 'DEGRADED', details: { age_ms: 10_000 } });
  const [down] = await watch.probe(redis, keys, now + 25_000, LIMITS.staleFeedMs, TIMEOUT_MS);
  t.like(down, { condition: 'stale_feed:ANY', status: 'DOWN' });
  // The stale ANY raises its alert (nothing it depends on is failing).
  const raised = stepAlerts(INITIAL_ALERT_STATE, {
    type: 'evaluation',
    at: 't1',
    checks: [checkFromProbe(down as ProbeResult)],
  });
  t.deepEqual(Object.keys(raised.state.active), ['marketdata:stale_feed:ANY']);
  // The first tick adds its symbol, and ANY is still reported, now OK: its alert resolves.
  await tick(publisher, 'BTCUSDT');
  const after = await watch.probe(redis, keys, await redisTime(redis, TIMEOUT_MS), LIMITS.staleFeedMs, TIMEOUT_MS);
  t.deepEqual(
    after.map((p) => [p.condition, p.status]),
    [
      ['stale_feed:ANY', 'OK'],
      ['stale_feed:BTCUSDT', 'OK'],
    ],
  );
  const resolved = stepAlerts(raised.state, { type: 'evaluation', at: 't2', checks: after.map(checkFromProbe) });
  t.deepEqual(Object.keys(resolved.state.active), []);
  t.deepEqual(
    resolved.events.map((e) => e.type),
    ['health.alert_cleared'],
  );
});

test('lagProbes: a platform group’s lag in entries and seconds; other groups are left out', async (t) => {
  const { redis, keys, publisher } = setup('lag');
  const market = keys.stream('market');
  await redis.xgroup('CREATE', market, 'ai-engine', '$', 'MKSTREAM');
  await redis.xgroup('CREATE', market, 'ess', '$');
  await redis.xgroup('CREATE', market, 'qt-session-1', '$');
  // ai-engine does not read `signal`: a group of that name there is not the platform's.
  await redis.xgroup('CREATE', keys.stream('signal'), 'ai-engine', '$', 'MKSTREAM');
  for (let i = 0; i < 5; i++) await tick(publisher, 'BTCUSDT', 100 + i);
  await redis.xadd(keys.stream('signal'), '*', 'x', '1');
  // The ESS group has read everything: no lag.
  await redis.xreadgroup('GROUP', 'ess', 'ess-1', 'COUNT', 100, 'STREAMS', market, '>');
  await sleep(1_200);

  const limits = { ...LIMITS, lagSeconds: { degraded: 1, down: 30 } };
  const probes = await lagProbes(redis, keys, await redisTime(redis, TIMEOUT_MS), limits, TIMEOUT_MS);
  t.deepEqual(
    probes.map((p) => [p.component, p.condition, p.status]),
    [
      ['ai-engine', 'consumer_lag:ai-engine:market', 'DEGRADED'],
      ['risk-safety', 'consumer_lag:ess:market', 'OK'],
    ],
  );
  const [ai, ess] = probes;
  t.is(ai?.details.lag_entries, 5);
  const seconds = ai?.details.lag_seconds as number;
  t.true(seconds >= 1.1 && seconds < 10, `lag ${seconds} s`);
  t.regex(ai?.reason ?? '', /^group ai-engine on market behind by 5 entries, [\d.]+ s \(over 1 s\)$/);
  t.like(ess?.details, { lag_entries: 0, lag_seconds: 0 });
});

test('lagProbes: no streams yet, no probes', async (t) => {
  const { redis, keys } = setup('lag-none');
  t.deepEqual(await lagProbes(redis, keys, await redisTime(redis, TIMEOUT_MS), LIMITS, TIMEOUT_MS), []);
});

test('readEss: no projection is armed, garbage is unknown, a projection is its state and trip', async (t) => {
  const { redis, keys } = setup('ess');
  const key = keys.projection('ess');
  t.deepEqual(await readEss(redis, keys, TIMEOUT_MS), { known: true, state: 'armed' });
  await redis.set(key, 'not a projection');
  t.deepEqual(await readEss(redis, keys, TIMEOUT_MS), {
    known: false,
    error: `the projection ${key} is unreadable`,
  });
  await redis.set(key, JSON.stringify({ state: 'exploded', updatedAt: 'yesterday' }));
  t.like(await readEss(redis, keys, TIMEOUT_MS), { known: false });
  const trip = { trigger: 'flash_crash' as const, reason: 'BTCUSDT fell 9% in 60 s' };
  await redis.set(key, JSON.stringify(essProjection('tripped', null, Date.now(), trip)));
  t.deepEqual(await readEss(redis, keys, TIMEOUT_MS), { known: true, state: 'tripped', trip });
});

/** Services answering real health reports; `silent` ones have no server. */
async function pollReports(
  t: ExecutionContext,
  answers: Partial<Record<ServiceName, { producer: string; metrics: Record<string, number> } | 'silent'>>,
): Promise<PolledService[]> {
  const polled: PolledService[] = [];
  for (const [service, answer] of Object.entries(answers) as [ServiceName, (typeof answers)[ServiceName]][]) {
    const target = { service, critical: SERVICES[service].critical };
    if (answer === 'silent' || answer === undefined) {
      const nothing = `http://127.0.0.1:${await getFreePort()}`;
      polled.push(await pollService({ ...target, baseUrl: nothing }, { timeoutMs: 1_000, slowMs: 500 }));
      continue;
    }
    const local = await startLocalServer(t, json(200, report(service, answer)));
    polled.push(await pollService({ ...target, baseUrl: local.url }, { timeoutMs: 2_000, slowMs: 1_000 }));
  }
  return polled;
}

test('bufferProbes: one probe per process, under its first service, from its report', async (t) => {
  const polled = await pollReports(t, {
    marketdata: { producer: 'main-a', metrics: { buffer_rows: 12, buffer_oldest_age_ms: 7_000 } },
    'ai-engine': { producer: 'main-a', metrics: { buffer_rows: 12, buffer_oldest_age_ms: 7_000 } },
    execution: { producer: 'main-b', metrics: { buffer_rows: 0 } },
    'rl-training': 'silent',
  });
  const probes = bufferProbes(polled, LIMITS);
  t.deepEqual(
    probes.map((p) => [p.component, p.condition, p.status, p.details.producer, p.details.pending]),
    [
      ['marketdata', 'disk_buffer', 'DEGRADED', 'main-a', 12],
      ['execution', 'disk_buffer', 'OK', 'main-b', 0],
    ],
  );
  t.is(probes[0]?.reason, '12 events buffered (over 1), oldest 7000 ms (over 5000 ms)');
});

test('GapWatch: the first reading of a process is its baseline, then the gaps since the previous cycle', async (t) => {
  const watch = new GapWatch();
  const cycle = async (aGaps: number, bGaps: number) =>
    watch
      .probes(
        await pollReports(t, {
          marketdata: { producer: 'main-a', metrics: { sequence_gaps: aGaps } },
          'ai-engine': { producer: 'main-a', metrics: { sequence_gaps: aGaps } },
          execution: { producer: 'main-b', metrics: { sequence_gaps: bGaps } },
        }),
        LIMITS.sequenceGaps,
      )
      .map((p) => [p.component, p.details.producer, p.details.gaps, p.status]);
  t.deepEqual(await cycle(40, 3), [
    ['marketdata', 'main-a', 0, 'OK'],
    ['execution', 'main-b', 0, 'OK'],
  ]);
  t.deepEqual(await cycle(42, 3), [
    ['marketdata', 'main-a', 2, 'DEGRADED'],
    ['execution', 'main-b', 0, 'OK'],
  ]);
  // main-b restarted: its counter starts again, and what it counts since is the gaps.
  t.deepEqual(await cycle(42, 1), [
    ['marketdata', 'main-a', 0, 'OK'],
    ['execution', 'main-b', 1, 'DEGRADED'],
  ]);
});
