/**
 * `qt restart` against real processes: every service in a `main` of its
 * own (as production runs them) on one Redis, the synthetic feed running.
 * A full restart loses, duplicates and reorders nothing (every stream's
 * per-producer sequence audited), brings each service back in its state
 * (a tripped ESS stays tripped with its cooldown; positions and balances
 * equal) and its time is reported; a service that does not come back
 * aborts with entries paused and the ESS tripped; an orchestrator
 * SIGKILLed mid-sequence is resumed by the next run; a second orchestrator
 * while one runs is refused.
 */
import { readdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { SERVICE_NAMES, SERVICES } from '../../src/actors/services.js';
import { TOPICS } from '../../src/events/catalog.js';
import type { Envelope } from '../../src/events/envelope.js';
import { waitFor } from '../support/bus.js';
import { runQt, spawnQt } from '../support/cli.js';
import { freePortOffset } from '../support/main-process.js';
import { getJson, startMainAt } from '../support/monitoring.js';
import { essOf, positionAndTrippedEss, RESTART_TOKEN, streamEvents } from '../support/restart-platform.js';
import { type RedisRig, redisRig } from '../support/rig.js';

const TOKEN = RESTART_TOKEN;

interface Platform {
  readonly rig: RedisRig;
  readonly env: Record<string, string>;
  readonly url: (service: string) => string;
}

/** Every service in its own `main`; the processes `qt restart` starts are killed on teardown too. */
async function platform(t: ExecutionContext, label: string): Promise<Platform> {
  const rig = await redisRig(t, label);
  const offset = await freePortOffset([rig.server.port]);
  const env = {
    ...rig.env,
    QT_HTTP_PORT_OFFSET: String(offset),
    QT_ADMIN_TOKEN: TOKEN,
    QT_SUMMARY_INTERVAL_MS: '0',
    QT_HEALTH_INTERVAL_MS: '2000',
    QT_ESS_COOLDOWN_MS: '3600000',
    QT_ESS_HEALTH_CRITICAL_MS: '3600000',
  };
  t.teardown(async () => {
    const dir = join(rig.dataDir, 'run');
    for (const file of await readdir(dir).catch(() => [] as string[])) {
      const pid = Number(await readFile(join(dir, file), 'utf8'));
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
  await Promise.all(SERVICE_NAMES.map((s) => startMainAt(t, s, env)));
  const url = (service: string) => `http://127.0.0.1:${SERVICES[service as keyof typeof SERVICES].port + offset}`;
  return { rig, env, url };
}

const qtEnvOf = (p: Platform) => ({ ...p.env, QT_LOG_LEVEL: 'silent' });

/** Per topic and producer, the seqs must run 1, 2, 3, … in stream order: nothing lost, doubled or reordered. */
async function auditStreams(t: ExecutionContext, p: Platform): Promise<number> {
  let audited = 0;
  for (const topic of TOPICS) {
    const last = new Map<string, number>();
    for (const e of await streamEvents(p, topic)) {
      const previous = last.get(e.producer) ?? 0;
      if (e.seq !== previous + 1) t.fail(`${topic}: ${e.producer} seq ${e.seq} after ${previous}`);
      last.set(e.producer, e.seq);
      audited++;
    }
  }
  const redis = p.rig.server.client();
  for (const topic of TOPICS) t.deepEqual(await redis.hgetall(p.rig.keys.gaps(topic)), {}, `no append gap on ${topic}`);
  return audited;
}

test.serial(
  'a full restart under a running feed: nothing lost or reordered, every service back in its state, timed',
  async (t) => {
    t.timeout(240_000);
    const p = await platform(t, 'restart-full');
    const kept = await positionAndTrippedEss(t, p, { orderId: 'ord-restart-kept', reason: 'before the restart' });
    const essBefore = kept.ess;
    const ess = () => essOf(p);
    const balancesBefore = (await getJson(`${p.url('execution')}/balances`)).body;

    const started = Date.now();
    const run = await runQt(['--json', 'restart', '--execute', '--reason', 'daily restart test'], qtEnvOf(p), {
      timeoutMs: 300_000,
    });
    const tookMs = Date.now() - started;
    t.is(run.code, 0, `${run.stderr}\n${run.stdout.slice(-3_000)}`);
    const report = JSON.parse(run.stdout) as {
      result: string;
      durationMs: number;
      steps: { step: string; status: string }[];
    };
    t.is(report.result, 'done');
    t.true(report.steps.every((s) => s.status === 'done'));
    t.true(report.steps.some((s) => s.step === 'start:execution'));
    t.log(`restart took ${report.durationMs} ms (${tookMs} ms with qt's start); ${report.steps.length} steps`);
    t.true(report.durationMs < 5 * 60_000);

    // Back in its state: the ESS tripped with its cooldown, the balances (and so the position) the same.
    const essAfter = await ess();
    t.is(essAfter.state, 'tripped');
    t.is(essAfter.cooldownUntil, essBefore.cooldownUntil);
    t.deepEqual((await getJson(`${p.url('execution')}/balances`)).body, balancesBefore);
    for (const s of SERVICE_NAMES) t.is((await getJson<{ status: string }>(`${p.url(s)}/health`)).body.status, 'OK', s);

    // Entries resumed, and every step on the bus in order.
    const ops = (await streamEvents(p, 'ops')).map((e) => e.data as { step: string; status: string });
    t.deepEqual(
      ops.filter((o) => o.status === 'done').map((o) => o.step),
      report.steps.map((s) => s.step),
    );
    const risk = (await streamEvents(p, 'risk')).map((e) => e.type);
    t.deepEqual(
      risk.filter((r) => r.startsWith('risk.entries')),
      ['risk.entries_paused', 'risk.entries_resumed'],
    );
    // The feed kept running through it, and every consumer caught up with what it missed.
    await waitFor(
      async () => (await runQt(['--json', 'groups'], qtEnvOf(p))).stdout.includes('"lag": 0'),
      'groups',
      10_000,
      500,
    );
    t.log(`${await auditStreams(t, p)} events audited`);
  },
);

test.serial(
  'a service that does not come back aborts: entries stay paused, the ESS is tripped with the reason',
  async (t) => {
    t.timeout(240_000);
    const p = await platform(t, 'restart-abort');
    const port = Number(new URL(p.url('risk-safety')).port);
    const run = spawnQt(['restart', '--execute', '--reason', 'abort test', '--start-timeout', '20s'], qtEnvOf(p), {
      timeoutMs: 300_000,
    });
    // Once risk-safety is stopped, something else takes its port: the new one cannot listen (exit 3).
    await waitFor(async () => run.stdout().includes('stop:risk-safety'), 'risk-safety stopped', 120_000, 50).catch(
      (err) => {
        t.log(run.stdout(), run.stderr());
        throw err;
      },
    );
    // It accepts and never answers; reading lets it see a peer close (no socket left in CLOSE-WAIT).
    const squatter = createServer((socket) => socket.resume()).listen(port, '127.0.0.1');
    t.teardown(() => new Promise<void>((resolve) => squatter.close(() => resolve())));
    const result = await run.result;
    t.is(result.code, 6, result.stderr);
    t.regex(result.stderr, /stopped at start:risk-safety/);
    t.regex(result.stderr, /New entries stay paused and the ESS is tripped/);
    t.regex(result.stderr, /qt entries resume/);
    const trips = (await streamEvents(p, 'ess')).filter((e) => e.type === 'ess.trip_requested');
    t.is(trips.length, 1);
    t.regex(
      (trips[0] as Envelope<'ess.trip_requested'>).data.reason,
      /^restart .* failed at start:risk-safety: risk-safety exited while starting/,
    );
    const risk = (await streamEvents(p, 'risk')).map((e) => e.type).filter((r) => r.startsWith('risk.entries'));
    t.deepEqual(risk, ['risk.entries_paused']);

    // The trip is applied as soon as risk-safety runs again.
    await new Promise<void>((resolve) => squatter.close(() => resolve()));
    await startMainAt(t, 'risk-safety', p.env);
    await waitFor(
      async () => (await getJson<{ state: string }>(`${p.url('risk-safety')}/ess`)).body.state === 'tripped',
      'the ESS tripped',
      20_000,
      200,
    );
    const status = await runQt(['entries', 'status'], qtEnvOf(p));
    t.is(status.stdout.trim(), 'entries paused');
  },
);

test.serial(
  'a second orchestrator is refused while one runs; one SIGKILLed mid-sequence is resumed by the next',
  async (t) => {
    t.timeout(240_000);
    const p = await platform(t, 'restart-resume');
    const first = spawnQt(['restart', '--execute', '--reason', 'resume test', '--lease-ms', '3000'], qtEnvOf(p), {
      timeoutMs: 300_000,
    });
    await waitFor(async () => first.stdout().includes('pause-entries'), 'the first run going', 60_000, 50);
    const second = await runQt(['restart', '--execute', '--reason', 'a second one'], qtEnvOf(p), { timeoutMs: 60_000 });
    t.is(second.code, 1, second.stderr);
    t.regex(second.stderr, /another restart holds the lock/);

    await waitFor(async () => first.stdout().includes('stop:execution'), 'execution stopped', 120_000, 50);
    first.child.kill('SIGKILL');
    await first.result;
    // The dead run's lease runs out; the next run takes the lock and goes on from the step it was in.
    await new Promise((resolve) => setTimeout(resolve, 3_500));
    const resumed = await runQt(['--json', 'restart', '--execute', '--reason', 'resume test'], qtEnvOf(p), {
      timeoutMs: 300_000,
    });
    t.is(resumed.code, 0, `${resumed.stderr}\n${resumed.stdout.slice(-2_000)}`);
    const report = JSON.parse(resumed.stdout) as { result: string; resumed: boolean; steps: { step: string }[] };
    t.like(report, { result: 'done', resumed: true });
    const steps = report.steps.map((s) => s.step);
    // Each step once: the ones the first run finished are not run again.
    t.is(new Set(steps).size, steps.length);
    t.true(steps.includes('stop:ai-engine') && steps.includes('resume-entries'));
    for (const s of SERVICE_NAMES) t.is((await getJson<{ status: string }>(`${p.url(s)}/health`)).body.status, 'OK', s);
    t.log(`${await auditStreams(t, p)} events audited`);
  },
);
