/**
 * `qt restart --control systemd` end to end, on a host without systemd as
 * PID 1: a `systemctl` stand-in first on PATH (test/support/
 * systemctl-stand-in.ts) starts and stops the real `main --actors=NAME` of
 * each unit in infra/systemd/ as systemd would, and logs every call. A
 * full restart under a running feed calls stop in the dependency order,
 * then start in the dependency order, and brings every service back with
 * its positions and its ESS state; a unit whose start fails aborts the
 * restart with entries paused and the ESS tripped with the reason (exit 6).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { SERVICES } from '../../src/actors/services.js';
import type { Envelope } from '../../src/events/envelope.js';
import { DEFAULT_START_ORDER, DEFAULT_STOP_ORDER } from '../../src/ops/restart/plan.js';
import { loadRunRecord } from '../../src/ops/restart/run-record.js';
import { readExecutionState } from '../../src/ops/restart/state-capture.js';
import { waitFor } from '../support/bus.js';
import { runQt } from '../support/cli.js';
import { freePortOffset } from '../support/main-process.js';
import { getJson } from '../support/monitoring.js';
import { essOf, positionAndTrippedEss, RESTART_TOKEN, streamEvents } from '../support/restart-platform.js';
import { type RedisRig, redisRig } from '../support/rig.js';
import { type SystemctlStandIn, systemctlStandIn, unitOf } from '../support/systemctl-stand-in.js';

const TOKEN = RESTART_TOKEN;

interface Platform {
  readonly rig: RedisRig;
  readonly systemd: SystemctlStandIn;
  /** What `qt` gets: the units' env file, and the stand-in first on PATH. */
  readonly qtEnv: Record<string, string>;
  readonly url: (service: string) => string;
}

/** The units of `services` started through the stand-in (as `systemctl start quantum-trader.target` does), all OK. */
async function platform(t: ExecutionContext, label: string, services: readonly string[]): Promise<Platform> {
  const rig = await redisRig(t, label);
  const offset = await freePortOffset([rig.server.port]);
  // The units' EnvironmentFile: infra/systemd/quantum-trader.env's settings, for this test's Redis and ports.
  const env = {
    ...rig.env,
    QT_LOCAL_REDIS: 'never',
    QT_HTTP_HOST: '127.0.0.1',
    QT_HTTP_PORT_OFFSET: String(offset),
    QT_ADMIN_TOKEN: TOKEN,
    QT_EXCHANGE: 'paper',
    QT_LOG_LEVEL: 'info',
    QT_LOG_PRETTY: 'false',
    QT_SUMMARY_INTERVAL_MS: '0',
    QT_HEALTH_INTERVAL_MS: '2000',
    QT_ESS_COOLDOWN_MS: '3600000',
    QT_ESS_HEALTH_CRITICAL_MS: '3600000',
  };
  const systemd = await systemctlStandIn(t, env);
  const url = (service: string) => `http://127.0.0.1:${SERVICES[service as keyof typeof SERVICES].port + offset}`;
  for (const service of services) t.is((await systemd.systemctl('start', unitOf(service))).code, 0, service);
  for (const service of services)
    await waitFor(
      async () => (await getJson<{ status: string }>(`${url(service)}/health`).catch(() => null))?.body.status === 'OK',
      `${service} OK`,
      90_000,
      250,
    ).catch(async (err) => {
      t.log((await systemd.journal(unitOf(service))).slice(-3_000));
      throw err;
    });
  const qtEnv = { ...env, QT_LOG_LEVEL: 'silent', PATH: `${systemd.binDir}:${process.env.PATH ?? ''}` };
  return { rig, systemd, qtEnv, url };
}

const restartArgs = ['restart', '--execute', '--control', 'systemd', '--operator', 'systemd-timer'];

interface Report {
  readonly result: string;
  readonly durationMs: number;
  readonly steps: { step: string; status: string; detail: string }[];
}

test.serial(
  'a full restart through systemctl: stop then start in dependency order, every service back in its state',
  async (t) => {
    t.timeout(110_000);
    // Every unit of quantum-trader.target but rl-training (not restarted, nothing here reads it).
    const p = await platform(t, 'restart-systemd', [
      'risk-safety',
      'portfolio-intelligence',
      'execution',
      'marketdata',
      'ai-engine',
      'monitoring-health',
    ]);
    const kept = await positionAndTrippedEss(t, p, {
      orderId: 'ord-systemd-kept',
      reason: 'before the systemd restart',
    });
    const essBefore = kept.ess;
    const ess = () => essOf(p);
    const redis = p.rig.server.client();
    t.teardown(() => redis.disconnect());
    const pidsBefore = new Map<string, number | undefined>();
    for (const s of [...DEFAULT_STOP_ORDER, 'marketdata']) pidsBefore.set(s, await p.systemd.pid(unitOf(s)));
    const callsBefore = (await p.systemd.calls()).length;

    const run = await runQt(['--json', ...restartArgs, '--reason', 'daily restart'], p.qtEnv, { timeoutMs: 100_000 });
    t.is(run.code, 0, `${run.stderr}\n${run.stdout.slice(-3_000)}`);
    const report = JSON.parse(run.stdout) as Report;
    t.is(report.result, 'done');
    t.true(
      report.steps.every((s) => s.status === 'done'),
      JSON.stringify(report.steps),
    );
    t.log(`restart through systemctl took ${report.durationMs} ms; ${report.steps.length} steps`);
    for (const s of DEFAULT_STOP_ORDER) {
      t.is(report.steps.find((l) => l.step === `stop:${s}`)?.detail, `${unitOf(s)} stopped`);
      t.regex(report.steps.find((l) => l.step === `start:${s}`)?.detail ?? '', new RegExp(`^${unitOf(s)}: ${s} OK`));
    }

    // systemctl was called: every stop in the dependency order, then every start in the dependency order.
    const calls = (await p.systemd.calls()).slice(callsBefore);
    t.deepEqual(calls, [
      ...DEFAULT_STOP_ORDER.map((s) => ({ verb: 'stop', unit: unitOf(s), code: 0 })),
      ...DEFAULT_START_ORDER.map((s) => ({ verb: 'start', unit: unitOf(s), code: 0 })),
    ]);
    // New processes for the restarted units, answering as the stand-in started them; the feed's untouched.
    for (const s of DEFAULT_STOP_ORDER) {
      const pid = await p.systemd.pid(unitOf(s));
      t.not(pid, pidsBefore.get(s), s);
      const health = (await getJson<{ status: string; pid: number }>(`${p.url(s)}/health`)).body;
      t.like(health, { status: 'OK', pid }, s);
    }
    t.is(await p.systemd.pid(unitOf('marketdata')), pidsBefore.get('marketdata'));
    // The journal (stdout) and the unit's own log file (its Environment=QT_LOG_FILE, under LogsDirectory=).
    t.regex(await p.systemd.journal(unitOf('execution')), /runtime started/);
    const logDir = join(p.systemd.stateDir, 'log/execution');
    const logs = await Promise.all((await readdir(logDir)).map((f) => readFile(join(logDir, f), 'utf8')));
    t.is(logs.join('').match(/runtime started/g)?.length, 2, 'both runs of execution in its log files');

    // Its state: the ESS tripped with its cooldown, the position as captured before the stop.
    const essAfter = await ess();
    t.is(essAfter.state, 'tripped');
    t.is(essAfter.cooldownUntil, essBefore.cooldownUntil);
    const record = await loadRunRecord(redis, p.rig.keys);
    t.is(record?.status, 'done');
    const positions = (await readExecutionState(redis, p.rig.keys)).positions;
    t.deepEqual(positions, record?.captured.execution?.positions);
    t.is(positions[kept.symbol]?.quantity, 0.01);
    const risk = (await streamEvents(p, 'risk')).map((e) => e.type).filter((r) => r.startsWith('risk.entries'));
    t.deepEqual(risk, ['risk.entries_paused', 'risk.entries_resumed']);
  },
);

test.serial(
  'a unit whose start fails aborts: entries stay paused, the ESS is tripped with the reason, exit 6',
  async (t) => {
    t.timeout(110_000);
    const p = await platform(t, 'restart-systemd-fail', DEFAULT_START_ORDER);
    t.like(await p.systemd.systemctl('start', 'quantum-trader-nothing.service'), { code: 5 });
    await p.systemd.failStart(unitOf('execution'));
    const callsBefore = (await p.systemd.calls()).length;

    const run = await runQt([...restartArgs, '--reason', 'abort test'], p.qtEnv, { timeoutMs: 100_000 });
    t.is(run.code, 6, `${run.stderr}\n${run.stdout.slice(-3_000)}`);
    t.regex(run.stderr, /stopped at start:execution/);
    t.regex(run.stderr, /New entries stay paused and the ESS is tripped/);
    t.regex(run.stderr, /Stopped and not started again: .*execution/);
    // The calls end at the start that failed: nothing is started after it.
    const calls = (await p.systemd.calls()).slice(callsBefore);
    t.deepEqual(calls, [
      ...DEFAULT_STOP_ORDER.map((s) => ({ verb: 'stop', unit: unitOf(s), code: 0 })),
      { verb: 'start', unit: unitOf('risk-safety'), code: 0 },
      { verb: 'start', unit: unitOf('execution'), code: 1 },
    ]);
    const trips = (await streamEvents(p, 'ess')).filter((e) => e.type === 'ess.trip_requested');
    t.is(trips.length, 1);
    const reason = (trips[0] as Envelope<'ess.trip_requested'>).data.reason;
    // One line: how systemctl ended and what it said.
    t.regex(
      reason,
      /^restart \S+ failed at start:execution: systemctl start quantum-trader-execution\.service exited 1: Job for quantum-trader-execution\.service failed because the control process exited with error code\.$/,
    );
    t.log(reason);
    // risk-safety runs again: it applies the trip with that reason.
    await waitFor(
      async () => (await getJson<{ state: string }>(`${p.url('risk-safety')}/ess`)).body.state === 'tripped',
      'the ESS tripped',
      20_000,
      200,
    );
    const tripped = (await streamEvents(p, 'ess')).find((e) => e.type === 'ess.tripped') as Envelope<'ess.tripped'>;
    t.is(tripped.data.reason, reason);
    const risk = (await streamEvents(p, 'risk')).map((e) => e.type).filter((r) => r.startsWith('risk.entries'));
    t.deepEqual(risk, ['risk.entries_paused']);
    const status = await runQt(['entries', 'status'], p.qtEnv);
    t.is(status.stdout.trim(), 'entries paused');
    t.is((await loadRunRecord(p.rig.server.client(), p.rig.keys))?.status, 'failed');
    t.is(await p.systemd.pid(unitOf('execution')), undefined, 'execution not running');
  },
);
