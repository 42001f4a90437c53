/**
 * The infrastructure probes against real programs: Redis's role and
 * replicas (a real replica, and a master with fewer replicas than
 * REDIS_MIN_REPLICAS_ACK asks for), and the Binance probe against a local
 * server answering Binance's `/api/v3/ping` and `/api/v3/time`, paid from
 * the shared weight budget in a real Redis (a ban makes it DOWN without a
 * call; a skewed clock and a spent budget are probes; a 418 or a 429 with
 * Retry-After answered to the probe holds every process off).
 */
import test from 'ava';
import { probeExchange, probeRedis } from '../../../src/actors/monitoring/probe-infra.js';
import { DEFAULT_PROBE_THRESHOLDS } from '../../../src/config/health.js';
import { SharedLimits } from '../../../src/exchange/binance/limits.js';
import { waitFor } from '../../support/bus.js';
import { startLocalServer } from '../../support/health-server.js';
import { startRedis } from '../../support/redis-fixture.js';

const limits = {
  timeoutMs: 1_000,
  slowMs: 500,
  weight: DEFAULT_PROBE_THRESHOLDS.exchangeWeight,
  clockSkew: DEFAULT_PROBE_THRESHOLDS.clockSkewMs,
};

test('redis: a master is OK; a replica where the master should be is DEGRADED; too few replicas is DEGRADED', async (t) => {
  const master = await startRedis({ name: 'mh-master' });
  t.teardown(() => master.stop());
  const replica = await startRedis({ name: 'mh-replica', args: ['--replicaof', '127.0.0.1', String(master.port)] });
  t.teardown(() => replica.stop());

  const onMaster = master.client();
  await waitFor(
    async () => /connected_slaves:1/.test(await onMaster.info('replication')),
    'the replica attached',
    10_000,
    100,
  );
  const ok = await probeRedis(onMaster, { timeoutMs: 1_000, slowMs: 100, minReplicas: 1 });
  t.like(ok, { name: 'redis', status: 'OK', details: { role: 'master', connected_replicas: 1 } });
  t.true(typeof ok.latencyMs === 'number');

  const tooFew = await probeRedis(onMaster, { timeoutMs: 1_000, slowMs: 100, minReplicas: 2 });
  t.like(tooFew, { status: 'DEGRADED', error: '1 replica connected, 2 required' });

  const onReplica = await probeRedis(replica.client(), { timeoutMs: 1_000, slowMs: 100, minReplicas: 0 });
  t.like(onReplica, { status: 'DEGRADED', error: 'connected to a slave, not the master', details: { role: 'slave' } });

  await master.kill();
  const down = await probeRedis(onMaster, { timeoutMs: 500, slowMs: 100, minReplicas: 0 });
  t.is(down.status, 'DOWN');
  t.truthy(down.error);
});

test('binance: ping latency and clock skew, paid from the shared budget; a ban is DOWN without a call; a spent budget and a skewed clock are probes', async (t) => {
  const redisServer = await startRedis({ name: 'mh-venue' });
  t.teardown(() => redisServer.stop());
  const redis = redisServer.client();
  let skewMs = 0;
  const paths: string[] = [];
  const venue = await startLocalServer(t, (req, res) => {
    paths.push(req.url ?? '');
    res.setHeader('content-type', 'application/json');
    if (req.url === '/api/v3/ping') res.end('{}');
    else if (req.url === '/api/v3/time') res.end(JSON.stringify({ serverTime: Date.now() + skewMs }));
    else res.writeHead(404).end('{}');
  });
  const key = 'qt-test:venue:{binance}:limits';
  const shared = new SharedLimits({
    redis,
    key,
    limits: { weightPerMinute: 100, ordersPer10s: 10, ordersPerDay: 1_000 },
    now: Date.now,
  });
  const target = { venue: 'binance' as const, baseUrl: venue.url, limits: shared };

  const fine = await probeExchange(target, limits);
  t.like(fine.reading, { name: 'exchange', status: 'OK', details: { venue: 'binance' } });
  t.deepEqual(paths, ['/api/v3/ping', '/api/v3/time']);
  t.deepEqual(
    fine.probes.map((p) => [p.condition, p.status]),
    [
      ['clock_skew', 'OK'],
      ['weight', 'OK'],
    ],
  );
  // The two calls were paid for: weight 2 of this minute's 100.
  t.like(fine.probes[1]?.details, { used: 2, limit: 100 });

  skewMs = 7_000;
  await redis.hset(key, `weight:1M:${Math.floor(Date.now() / 60_000) * 60_000}`, 95);
  const strained = await probeExchange(target, limits);
  t.is(strained.reading.status, 'OK');
  const skew = strained.probes.find((p) => p.condition === 'clock_skew');
  t.is(skew?.status, 'DOWN');
  // The skew is measured against the midpoint of the call, so it reads 7000 give or take half a round trip.
  const ahead = /^exchange clock ahead by (\d+) ms \(over 5000 ms\)$/.exec(skew?.reason ?? '');
  t.truthy(ahead, skew?.reason);
  t.true(Math.abs(Number(ahead?.[1]) - skewMs) <= 250, skew?.reason);
  t.is(strained.probes.find((p) => p.condition === 'weight')?.status, 'DOWN');

  await shared.ban(Date.now() + 60_000);
  const before = paths.length;
  const banned = await probeExchange(target, limits);
  t.is(banned.reading.status, 'DOWN');
  t.regex(banned.reading.error ?? '', /^banned until /);
  t.is(paths.length, before, 'no call while banned');

  await venue.close();
  await redis.del(key);
  const gone = await probeExchange(target, limits);
  t.is(gone.reading.status, 'DOWN');
  t.truthy(gone.reading.error);
});

test('binance: a 418 answered to the probe bans every process, a 429 with Retry-After holds them off', async (t) => {
  const redisServer = await startRedis({ name: 'mh-venue-ban' });
  t.teardown(() => redisServer.stop());
  let answer: { status: number; retryAfter: string; body: string } | undefined;
  const paths: string[] = [];
  const venue = await startLocalServer(t, (req, res) => {
    paths.push(req.url ?? '');
    res.setHeader('content-type', 'application/json');
    if (answer) {
      res.writeHead(answer.status, { 'retry-after': answer.retryAfter }).end(answer.body);
      return;
    }
    res.end(req.url === '/api/v3/time' ? JSON.stringify({ serverTime: Date.now() }) : '{}');
  });
  const key = 'qt-test:venue:{binance}:limits';
  const budget = { weightPerMinute: 6_000, ordersPer10s: 100, ordersPerDay: 200_000 };
  const probe = new SharedLimits({ redis: redisServer.client(), key, limits: budget, now: Date.now });
  // Another process (execution, the feed) with its own connection to the same hash.
  const other = new SharedLimits({ redis: redisServer.client(), key, limits: budget, now: Date.now });
  const target = { venue: 'binance' as const, baseUrl: venue.url, limits: probe };

  answer = { status: 429, retryAfter: '5', body: '{"code":-1003,"msg":"Too much request weight used"}' };
  const held = await probeExchange(target, limits);
  t.is(held.reading.status, 'DOWN');
  t.regex(held.reading.error ?? '', /^GET \/api\/v3\/ping: rate limited by Binance/);
  const holding = await other.acquire(1, 1);
  t.like(holding, { ok: false, reason: 'retry_after' });
  t.true(!holding.ok && holding.until > Date.now() + 3_000 && holding.until <= Date.now() + 5_000);

  await redisServer.client().del(key);
  const bannedUntil = Date.now() + 60_000;
  answer = {
    status: 418,
    retryAfter: '60',
    body: JSON.stringify({ code: -1003, msg: `Way too much request weight used; IP banned until ${bannedUntil}.` }),
  };
  const banned = await probeExchange(target, limits);
  t.is(banned.reading.status, 'DOWN');
  t.regex(banned.reading.error ?? '', /^GET \/api\/v3\/ping: IP banned by Binance until /);
  const refused = await other.acquire(1, 1);
  t.like(refused, { ok: false, reason: 'banned' });
  t.true(!refused.ok && refused.until >= bannedUntil - 1_000);
  const calls = paths.length;
  answer = undefined;
  const again = await probeExchange(target, limits);
  t.regex(again.reading.error ?? '', /^banned until /);
  t.is(paths.length, calls, 'the probe itself honours the ban it was told of');
});

test('paper: OK without a call', async (t) => {
  const paper = await probeExchange({ venue: 'paper' }, limits);
  t.deepEqual(paper, {
    reading: { name: 'exchange', status: 'OK', latencyMs: null, details: { venue: 'paper' } },
    probes: [],
  });
});
