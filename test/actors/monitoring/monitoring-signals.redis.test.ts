/**
 * monitoring-health in a real `main --actors=all`: Redis paused with CLIENT
 * PAUSE reads as slow (DEGRADED), Redis killed as CRITICAL while the API
 * keeps answering; a feed that stops raises its stale-feed alert; an ESS
 * trip raises a CRITICAL alert at once (before any cycle), which an
 * operator can clear (admin) and whose resolution is still published; bad
 * query parameters and bodies are 400.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { decodeEntry } from '../../../src/streams/codec.js';
import { waitFor } from '../../support/bus.js';
import { startMain } from '../../support/main-process.js';
import { type AlertAnswer, getJson, monitoringApi, type SystemAnswer } from '../../support/monitoring.js';
import { redisRig } from '../../support/rig.js';

const TOKEN = 'a-monitoring-admin-token-for-tests';

test('Redis paused reads as slow (DEGRADED); Redis killed is CRITICAL and the API keeps answering', async (t) => {
  const rig = await redisRig(t, 'mh-redis');
  const { port, run } = await startMain(t, ['--actors=all'], {
    ...rig.env,
    QT_HEALTH_INTERVAL_MS: '3000',
    QT_HEALTH_TIMEOUT_MS: '2500',
    QT_SUMMARY_INTERVAL_MS: '0',
  });
  const api = monitoringApi(`http://127.0.0.1:${port(8080)}`);
  await waitFor(async () => (await api.system()).status === 'OK', 'the system OK', 60_000, 200);
  // The first cycle finds this process's own services still starting: said at info, not as an error.
  const records = run
    .out()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { level: number; msg: string });
  t.deepEqual(
    records.filter((r) => r.level >= 50).map((r) => r.msg),
    [],
    'a clean start logs no error',
  );

  // A pause shorter than the timeout: everything answers, slowly. Paused until it overlaps a cycle's probes.
  const admin = rig.server.client();
  const seen: SystemAnswer[] = [];
  await waitFor(
    async () => {
      // Just after a cycle ends, wait until shortly before the next is due, then pause across its start.
      const before = (await api.system()).cycle;
      await waitFor(async () => (await api.system()).cycle > before, 'a new cycle', 15_000, 50);
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      await admin.call('CLIENT', 'PAUSE', '1200', 'ALL');
      // Every cycle until two more have passed: the one that overlapped the pause is among them.
      await waitFor(
        async () => {
          const s = await api.system();
          if (s.cycle !== seen.at(-1)?.cycle) seen.push(s);
          return s.cycle > before + 2;
        },
        'two more cycles',
        15_000,
        100,
      );
      return seen.some((s) => s.components.infrastructure.redis?.status === 'DEGRADED');
    },
    'a cycle that saw Redis paused',
    60_000,
    0,
  ).catch((err) => {
    t.log(seen.map((s) => `${s.cycle} ${s.status} ${JSON.stringify(s.components.infrastructure.redis)}`).join('\n'));
    throw err;
  });
  const slow = seen.find((s) => s.components.infrastructure.redis?.status === 'DEGRADED') as SystemAnswer;
  t.regex(slow.components.infrastructure.redis?.error ?? '', /PING took \d+ ms \(over 100 ms\)/);
  t.not(slow.status, 'OK');

  await rig.server.kill();
  await waitFor(async () => (await api.system()).status === 'CRITICAL', 'CRITICAL', 20_000, 200);
  const down = await api.system();
  t.is(down.components.infrastructure.redis?.status, 'DOWN');
  t.true(
    down.findings.some((f) => f.level === 'CRITICAL' && f.source === 'redis'),
    JSON.stringify(down.findings),
  );
  // Still answering its own health and metrics with Redis gone.
  const metrics = await getJson<{ gauges: { system_status_code: number } }>(
    `http://127.0.0.1:${port(8080)}/health/metrics`,
  );
  t.is(metrics.status, 200);
  t.is(metrics.body.gauges.system_status_code, 2);
  const prometheus = await (await fetch(`http://127.0.0.1:${port(8080)}/metrics`)).text();
  t.regex(prometheus, /^system_status_code\{producer="[^"]+"\} 2$/m);
  t.regex(prometheus, /^service_health_status\{service="marketdata",producer="[^"]+"\} 2$/m);
  await rig.server.restart();
});

test('a feed that stops raises its stale-feed alert', async (t) => {
  const rig = await redisRig(t, 'mh-stale');
  const csv = join(rig.dataDir, 'short.csv');
  const start = Date.UTC(2024, 0, 1);
  const rows = Array.from({ length: 10 }, (_, i) => `${start + i * 60_000},100,101,99,100.5,10`);
  await writeFile(csv, `timestamp,open,high,low,close,volume\n${rows.join('\n')}\n`);
  const { port } = await startMain(t, ['--actors=all'], {
    ...rig.env,
    QT_FEED_CSV: csv,
    QT_FEED_CSV_SYMBOL: 'BTCUSDT',
    QT_FEED_CSV_SPEED: '600',
    QT_HEALTH_INTERVAL_MS: '1000',
    QT_HEALTH_TIMEOUT_MS: '800',
    QT_HEALTH_STALE_FEED_MS: '2000,4000',
    QT_SUMMARY_INTERVAL_MS: '0',
  });
  const api = monitoringApi(`http://127.0.0.1:${port(8080)}`);
  let stale: AlertAnswer | undefined;
  await waitFor(
    async () => {
      stale = (await api.active()).alerts.find((a) => a.alert_id === 'marketdata:stale_feed:BTCUSDT');
      return stale?.level === 'CRITICAL';
    },
    'the stale-feed alert at CRITICAL',
    60_000,
    200,
  );
  t.regex(stale?.message ?? '', /^BTCUSDT: last tick \d+ ms ago \(over 4000 ms\)/);
  t.is(stale?.component, 'marketdata');
  // It went WARNING first, then escalated: the WARNING is in the history.
  const history = await api.history();
  t.true(history.alerts.some((a) => a.alert_id === 'marketdata:stale_feed:BTCUSDT' && a.level === 'WARNING'));
});

test('an ESS trip raises a CRITICAL alert at once; an operator clears it; its resolution is still published; bad input is 400', async (t) => {
  const rig = await redisRig(t, 'mh-trip');
  const { port } = await startMain(t, ['--actors=all'], {
    ...rig.env,
    QT_ADMIN_TOKEN: TOKEN,
    QT_HEALTH_INTERVAL_MS: '3000',
    QT_HEALTH_TIMEOUT_MS: '2000',
    QT_ESS_COOLDOWN_MS: '1000',
    QT_SUMMARY_INTERVAL_MS: '0',
  });
  const base = `http://127.0.0.1:${port(8080)}`;
  const api = monitoringApi(base);
  const post = (url: string, body: unknown, token: string | undefined = TOKEN) =>
    fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
  await waitFor(async () => (await getJson(`${base}/alerts/active`)).status === 200, 'alerts loaded', 30_000, 200);

  const trip = await post(`http://127.0.0.1:${port(8003)}/ess/trip`, { operator: 'alice', reason: 'monitoring test' });
  t.true(trip.status === 200 || trip.status === 202, String(trip.status));
  const trippedAt = Date.now();
  await waitFor(
    async () => (await api.active()).alerts.some((a) => a.alert_id === 'ess:state'),
    'the ESS alert',
    10_000,
    50,
  );
  t.log(`alert ${Date.now() - trippedAt} ms after the trip`);
  const alert = (await api.active()).alerts.find((a) => a.alert_id === 'ess:state');
  t.like(alert, { level: 'CRITICAL', component: 'ess', cleared_at: null });
  // The reason is only in ess.tripped (a cycle's view of the projection has the trigger alone): raised from the event.
  t.regex(alert?.message ?? '', /^ESS tripped \(manual\): monitoring test$/);

  // Operator clear: admin only, then cleared (suppressed) but still active until its condition resolves.
  t.is((await post(`${base}/alerts/ess:state/clear`, { operator: 'bob' }, '')).status, 401);
  t.is((await post(`${base}/alerts/no:such/clear`, { operator: 'bob' })).status, 404);
  t.is((await post(`${base}/alerts/ess:state/clear`, { operator: 'bob', extra: 1 })).status, 400);
  const cleared = await post(`${base}/alerts/ess:state/clear`, { operator: 'bob', reason: 'seen' });
  t.is(cleared.status, 200);
  t.like(((await cleared.json()) as { alert: AlertAnswer }).alert, { cleared_by: 'bob' });
  t.is((await post(`${base}/alerts/ess:state/clear`, { operator: 'bob' })).status, 409);

  // Bad query parameters: 400 with the issues.
  for (const query of ['limit=abc', 'limit=0', 'limit=100000', 'other=1']) {
    const answer = await getJson<{ error: string; issues: unknown[] }>(`${base}/alerts/history?${query}`);
    t.is(answer.status, 400, query);
    t.is(answer.body.error, 'invalid_request');
    t.true(answer.body.issues.length > 0);
  }

  // The ESS back to armed: the suppressed alert resolves, and that is published with who had cleared it.
  const redis = rig.server.client();
  const health = async () => (await redis.xrange(rig.keys.stream('health'), '-', '+')).map(([, f]) => decodeEntry(f));
  t.false(
    (await health()).some((e) => e.type === 'health.alert_cleared'),
    'the operator clear itself publishes nothing',
  );
  await new Promise((resolve) => setTimeout(resolve, 1_100));
  const reset = await post(`http://127.0.0.1:${port(8003)}/ess/reset`, { operator: 'alice', reason: 'all clear' });
  t.is(reset.status, 200, await reset.clone().text());
  await waitFor(async () => (await api.active()).count === 0, 'the alert resolved', 20_000, 200);
  const events = await health();
  const raised = events.filter((e) => e.type === 'health.alert_raised');
  const clearedEvents = events.filter((e) => e.type === 'health.alert_cleared');
  t.is(raised.length, 1);
  t.is(clearedEvents.length, 1);
  t.like(clearedEvents[0]?.data, { alertId: 'ess:state', reason: 'resolved', operatorClearedBy: 'bob' });
  const history = await api.history();
  t.like(history.alerts[0], { alert_id: 'ess:state', cleared_by: 'bob' });
  t.truthy(history.alerts[0]?.resolved_at);
});
