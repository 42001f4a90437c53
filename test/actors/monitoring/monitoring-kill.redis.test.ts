/**
 * monitoring-health against two real `main` processes on one Redis:
 * monitoring-health + risk-safety in one, the other five services in the
 * other. SIGKILL the second: the system is CRITICAL within two cycles, with
 * ONE root-cause alert (the process) naming the services it took down;
 * start it again: the alert clears, the raise and the clear are in the
 * history and reached the webhook, and the history survives a restart of
 * monitoring-health. Then: CRITICAL held past QT_ESS_HEALTH_CRITICAL_MS
 * trips the ESS.
 */
import test, { type ExecutionContext } from 'ava';
import { ANY_SYMBOL } from '../../../src/actors/monitoring/probe-trading.js';
import { waitFor } from '../../support/bus.js';
import { freePortOffset } from '../../support/main-process.js';
import {
  getJson,
  monitoringApi,
  type SystemAnswer,
  startMainAt,
  stopMain,
  webhookReceiver,
} from '../../support/monitoring.js';
import { redisRig } from '../../support/rig.js';

const TOKEN = 'a-monitoring-admin-token-for-tests';
const FIRST = 'monitoring-health,risk-safety';
const SECOND = 'marketdata,ai-engine,execution,portfolio-intelligence,rl-training';
const VICTIMS = ['ai-engine', 'execution', 'marketdata', 'portfolio-intelligence', 'rl-training'];

/** A Redis for the test and the settings both processes share: one port offset, 1 s cycles. */
async function twoProcessRig(t: ExecutionContext, label: string, extra: Record<string, string>) {
  const rig = await redisRig(t, label);
  const offset = await freePortOffset([rig.server.port]);
  const env = {
    ...rig.env,
    QT_HTTP_PORT_OFFSET: String(offset),
    QT_HEALTH_INTERVAL_MS: '1000',
    QT_HEALTH_TIMEOUT_MS: '800',
    QT_ADMIN_TOKEN: TOKEN,
    QT_SUMMARY_INTERVAL_MS: '0',
    ...extra,
  };
  return { offset, env };
}

/** Polls /health/system every 100 ms until `done`; returns every distinct cycle seen. */
async function watchCycles(
  read: () => Promise<SystemAnswer>,
  done: (s: SystemAnswer) => boolean,
  timeoutMs: number,
): Promise<SystemAnswer[]> {
  const seen: SystemAnswer[] = [];
  await waitFor(
    async () => {
      const s = await read();
      if (seen.at(-1)?.cycle !== s.cycle) seen.push(s);
      return done(s);
    },
    'the expected system status',
    timeoutMs,
    100,
  );
  return seen;
}

test('SIGKILL a process of five services: CRITICAL within two cycles, one root-cause alert; restarted: cleared, in the history, on the webhook, kept across a monitoring restart', async (t) => {
  const hook = await webhookReceiver(t);
  const { offset, env } = await twoProcessRig(t, 'mh-kill', {
    QT_HEALTH_WEBHOOK_URL: hook.url,
    // This test is about alerts; the ESS trip on CRITICAL health has its own test below.
    QT_ESS_HEALTH_CRITICAL_MS: '600000',
  });
  let first = await startMainAt(t, FIRST, env);
  let second = await startMainAt(t, SECOND, env);
  const api = monitoringApi(`http://127.0.0.1:${8080 + offset}`);
  // OK and the feed watched: before its first tick the watch judges the feed under `ANY` from its own
  // start, and a kill in the cycle that crosses that limit would raise a stale-feed alert of its own.
  await waitFor(
    async () => {
      const system = await api.system();
      const watched = (c: string) => c.startsWith('stale_feed:') && c !== `stale_feed:${ANY_SYMBOL}`;
      return system.status === 'OK' && system.probes.some((p) => watched(p.condition));
    },
    'the system OK with the feed watched',
    60_000,
    200,
  );

  const atKill = (await api.system()).cycle;
  second.child.kill('SIGKILL');
  await second.exit;
  const cycles = await watchCycles(api.system, (s) => s.status === 'CRITICAL', 15_000);
  const critical = cycles.at(-1) as SystemAnswer;
  t.true(critical.cycle - atKill <= 2, `CRITICAL at cycle ${critical.cycle}, the kill after cycle ${atKill}`);
  for (const name of VICTIMS) t.is(critical.components.services[name]?.status, 'DOWN', name);
  t.is(critical.components.services['risk-safety']?.status, 'OK');

  // One alert, the root cause, naming what it took down; none per victim.
  await waitFor(async () => (await api.active()).count > 0, 'an alert', 5_000, 100);
  const active = await api.active();
  t.is(active.count, 1, JSON.stringify(active.alerts.map((a) => a.alert_id)));
  const root = active.alerts[0];
  t.like(root, { alert_id: 'process:marketdata:down', level: 'CRITICAL', root_cause: 'process:marketdata' });
  t.deepEqual(root?.blast_radius, VICTIMS);
  await waitFor(() => hook.received.some((r) => r.event === 'health.alert_raised'), 'the webhook raise', 10_000, 100);

  second = await startMainAt(t, SECOND, env);
  await waitFor(async () => (await api.active()).count === 0, 'the alert cleared', 30_000, 200);
  const history = await api.history();
  const resolved = history.alerts.find((a) => a.alert_id === 'process:marketdata:down');
  t.truthy(resolved?.resolved_at, 'the resolved occurrence is in the history');
  t.is(resolved?.timestamp, root?.timestamp);
  // This alert's clear: another condition of the restart (a feed briefly stale) may raise and clear its own.
  await waitFor(
    () =>
      hook.received.some((r) => r.event === 'health.alert_cleared' && r.alert.alert_id === 'process:marketdata:down'),
    'the webhook clear',
    10_000,
    100,
  );
  const notices = hook.received.filter((r) => r.alert.alert_id === 'process:marketdata:down');
  t.deepEqual(
    notices.map((r) => r.event),
    ['health.alert_raised', 'health.alert_cleared'],
  );
  t.regex(notices[0]?.text ?? '', /^\[CRITICAL\] /);
  // The webhook URL carries its token: it must not be in any log.
  t.false(first.out().includes('a-secret-webhook-token'), 'the webhook URL is not logged');

  // The history is in Redis: a restarted monitoring-health still has it.
  t.is(await stopMain(first), 0);
  first = await startMainAt(t, FIRST, env);
  await waitFor(
    async () => (await getJson(`http://127.0.0.1:${8080 + offset}/alerts/history`)).status === 200,
    'history',
    30_000,
    200,
  );
  const after = await api.history();
  t.true(
    after.alerts.some((a) => a.alert_id === 'process:marketdata:down' && a.timestamp === root?.timestamp),
    'the history survived the restart',
  );
});

test('CRITICAL health held past QT_ESS_HEALTH_CRITICAL_MS trips the ESS (trigger health_critical)', async (t) => {
  const { offset, env } = await twoProcessRig(t, 'mh-ess', { QT_ESS_HEALTH_CRITICAL_MS: '3000' });
  // The services first: a monitor that saw them missing for 3 s while they started would trip the ESS at once.
  const second = await startMainAt(t, SECOND, env);
  await startMainAt(t, FIRST, env);
  const api = monitoringApi(`http://127.0.0.1:${8080 + offset}`);
  const ess = async () =>
    (
      await getJson<{ state: string; projection: { trip: { trigger: string } | null } | null }>(
        `http://127.0.0.1:${8003 + offset}/ess`,
      )
    ).body;
  await waitFor(async () => (await api.system()).status === 'OK', 'the system OK', 60_000, 200);
  t.is((await ess()).state, 'armed');

  second.child.kill('SIGKILL');
  await waitFor(async () => (await api.system()).status === 'CRITICAL', 'CRITICAL', 15_000, 100);
  const criticalAt = Date.now();
  // Not before the limit: the ESS waits out QT_ESS_HEALTH_CRITICAL_MS.
  await waitFor(async () => (await ess()).state !== 'armed', 'the ESS tripped', 20_000, 100);
  t.true(Date.now() - criticalAt >= 1_500, `tripped ${Date.now() - criticalAt} ms after CRITICAL was seen`);
  const tripped = await ess();
  t.like(tripped, { state: 'tripped', projection: { trip: { trigger: 'health_critical' } } });
  // The trip is an alert of its own, raised from ess.tripped.
  await waitFor(
    async () => (await api.active()).alerts.some((a) => a.alert_id === 'ess:state' && a.level === 'CRITICAL'),
    'the ESS alert',
    10_000,
    100,
  );
});
