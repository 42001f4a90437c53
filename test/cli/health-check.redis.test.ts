/**
 * `qt health` and `qt check` against the whole system in three real `main`
 * processes on one Redis and one port offset: marketdata, risk-safety and
 * portfolio-intelligence; execution alone; ai-engine, rl-training and
 * monitoring-health. Everything up: OK, exit 0. The non-critical process
 * SIGKILLed: those services DOWN (connection refused), DEGRADED, exit 1.
 * Execution SIGKILLed: CRITICAL, exit 6. The ESS tripped (the rest healthy):
 * CRITICAL, exit 6. Nothing answering: exit 4; Redis not answering `qt`:
 * exit 3; Redis killed: every service answers DOWN naming it, exit 3.
 * Every `--json` output is checked against its exported schema.
 */
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { CheckOutputSchema } from '../../src/cli/check.js';
import { HealthOutputSchema } from '../../src/cli/health.js';
import { waitFor } from '../support/bus.js';
import { runQt } from '../support/cli.js';
import { getFreePort } from '../support/free-port.js';
import { type MainProcess, spawnMain, startMain } from '../support/main-process.js';
import { redisRig } from '../support/rig.js';

const TOKEN = 'a-cli-health-admin-token-for-tests';

/** Starts `main --actors=LIST` on a given port offset and waits for "runtime started". */
async function startOn(t: ExecutionContext, actors: string, env: Record<string, string>): Promise<MainProcess> {
  const run = spawnMain([`--actors=${actors}`], env);
  t.teardown(() => run.child.kill('SIGKILL'));
  await waitFor(() => run.out().includes('runtime started') || run.child.exitCode !== null, actors, 90_000, 50);
  if (run.child.exitCode !== null)
    throw new Error(`main --actors=${actors} exited ${run.child.exitCode}:\n${run.out()}`);
  return run;
}

test('health and check: all up 0, a non-critical service down 1, a critical one down 6, the ESS tripped 6, nothing 4, no Redis 3', async (t) => {
  const { server, dataDir, prefix } = await redisRig(t, 'cli-health');
  const base = {
    REDIS_URL: server.url,
    QT_KEY_PREFIX: prefix,
    QT_ADMIN_TOKEN: TOKEN,
    QT_SUMMARY_INTERVAL_MS: '0',
  };
  // Each process its own data dir (disk buffer, paper venue) and producer id.
  const dir = (name: string) => join(dataDir, name);
  const { port } = await startMain(t, ['--actors=marketdata,risk-safety,portfolio-intelligence'], {
    ...base,
    QT_DATA_DIR: dir('core'),
    QT_PRODUCER_ID: 'core',
  });
  const offset = String(port(0));
  const [execution, extras] = await Promise.all([
    startOn(t, 'execution', { ...base, QT_DATA_DIR: dir('exec'), QT_PRODUCER_ID: 'exec', QT_HTTP_PORT_OFFSET: offset }),
    startOn(t, 'ai-engine,rl-training,monitoring-health', {
      ...base,
      QT_DATA_DIR: dir('extras'),
      QT_PRODUCER_ID: 'extras',
      QT_HTTP_PORT_OFFSET: offset,
    }),
  ]);
  const env = { REDIS_URL: server.url, QT_KEY_PREFIX: prefix, QT_ADMIN_TOKEN: TOKEN, QT_HTTP_PORT_OFFSET: offset };
  const qt = (...args: string[]) => runQt(args, env);
  const check = async (...args: string[]) => {
    const res = await qt('--json', 'check', ...args);
    return { code: res.code, out: CheckOutputSchema.parse(JSON.parse(res.stdout)) };
  };

  // Everything up (the actors start once Redis answers, so give them a moment).
  await waitFor(async () => (await qt('check')).code === 0, 'check OK', 30_000, 200);
  const ok = await qt('check');
  t.is(ok.code, 0);
  t.is(ok.stdout.trim(), 'OK: 7 services OK, redis OK, ESS armed');
  const health = await qt('--json', 'health');
  t.is(health.code, 0, health.stderr);
  const services = HealthOutputSchema.parse(JSON.parse(health.stdout));
  t.deepEqual(
    services.map((s) => [s.service, s.status, s.reached]),
    [
      ['marketdata', 'OK', true],
      ['ai-engine', 'OK', true],
      ['risk-safety', 'OK', true],
      ['execution', 'OK', true],
      ['portfolio-intelligence', 'OK', true],
      ['rl-training', 'OK', true],
      ['monitoring-health', 'OK', true],
    ],
  );
  for (const s of services) {
    t.truthy(s.version, s.service);
    t.true((s.uptimeSeconds ?? -1) >= 0, s.service);
    t.like(s.dependencies.redis, { status: 'OK', critical: true }, s.service);
  }
  const table = await qt('health');
  t.log(`qt health (all up):\n${table.stdout}`);
  t.regex(table.stdout, /^risk-safety\s+OK\s+\S+\s+\d+s\s+\d+ms\s+redis OK/m);
  t.like((await check()).out, { status: 'OK', exitCode: 0, findings: [], ess: { known: true, state: 'armed' } });
  // --url with {port}: the same services, found where main listens.
  const templated = await qt(
    '--json',
    'health',
    '--services',
    'risk-safety,execution',
    '--url',
    'http://127.0.0.1:{port}',
  );
  t.deepEqual(
    HealthOutputSchema.parse(JSON.parse(templated.stdout)).map((s) => s.status),
    ['OK', 'OK'],
  );

  // The non-critical services' process SIGKILLed: DEGRADED, exit 1, each named with why.
  extras.child.kill('SIGKILL');
  await extras.exit;
  const degraded = await qt('check');
  t.log(`qt check (non-critical down): exit ${degraded.code}: ${degraded.stdout.trim()}`);
  t.is(degraded.code, 1);
  t.regex(
    degraded.stdout.trim(),
    /^DEGRADED: ai-engine DOWN \(connect ECONNREFUSED 127\.0\.0\.1:\d+\); rl-training DOWN \(connect ECONNREFUSED 127\.0\.0\.1:\d+\); monitoring-health DOWN \(connect ECONNREFUSED 127\.0\.0\.1:\d+\)$/,
  );
  const down = HealthOutputSchema.parse(JSON.parse((await qt('--json', 'health')).stdout));
  t.like(
    down.find((s) => s.service === 'ai-engine'),
    { status: 'DOWN', reached: false, httpStatus: null, version: null, critical: false },
  );
  t.regex(String(down.find((s) => s.service === 'ai-engine')?.error), /^connect ECONNREFUSED/);
  const downTable = await qt('health');
  t.is(downTable.code, 0, 'health reports; check judges');
  t.log(`qt health (non-critical down):\n${downTable.stdout}`);

  // A critical service SIGKILLed: CRITICAL, exit 6, the critical finding first.
  execution.child.kill('SIGKILL');
  await execution.exit;
  const critical = await check();
  t.is(critical.code, 6);
  t.like(critical.out, { status: 'CRITICAL', exitCode: 6 });
  t.regex(critical.out.line, /^CRITICAL: execution DOWN \(connect ECONNREFUSED 127\.0\.0\.1:\d+\); ai-engine DOWN/);
  t.log(`qt check (execution down): exit 6: ${critical.out.line}`);

  // The ESS tripped, the services asked healthy: CRITICAL, exit 6, naming what tripped it.
  const core = ['--services', 'marketdata,risk-safety,portfolio-intelligence'];
  t.is((await check(...core)).code, 0);
  const trip = await qt('ess', 'trip', '--operator', 'dave', '--reason', 'check drill');
  t.is(trip.code, 0, trip.stderr);
  const tripped = await qt('check', ...core);
  t.is(tripped.code, 6);
  t.is(tripped.stdout.trim(), 'CRITICAL: ESS tripped (manual by dave)');

  // Nothing answering: exit 4. Redis not answering qt: exit 3, the line still says what it saw.
  const nothing = await qt('check', '--services', 'execution,ai-engine');
  t.is(nothing.code, 4);
  t.regex(nothing.stdout, /^CRITICAL: execution DOWN \(connect ECONNREFUSED/);
  const noRedis = await runQt(['check', ...core], { ...env, REDIS_URL: `redis://127.0.0.1:${await getFreePort()}` });
  t.is(noRedis.code, 3);
  t.regex(noRedis.stdout, /^CRITICAL: redis DOWN \(cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+: /);
  const healthNone = await qt('health', '--services', 'execution', '--timeout', '500ms');
  t.is(healthNone.code, 4);
  t.regex(healthNone.stderr, /^qt: no service answered \(execution: connect ECONNREFUSED/m);

  // Redis itself down: every service answers 503 DOWN naming it, and qt cannot reach it either: exit 3.
  await server.kill();
  let redisDown: Awaited<ReturnType<typeof check>> | undefined;
  await waitFor(
    async () => {
      redisDown = await check(...core);
      return redisDown.out.services.every((s) => s.status === 'DOWN');
    },
    'the services reporting Redis DOWN',
    30_000,
    200,
  );
  t.is(redisDown?.code, 3);
  t.like(redisDown?.out, { status: 'CRITICAL', exitCode: 3, ess: null, redis: { status: 'DOWN' } });
  for (const s of redisDown?.out.services ?? []) {
    t.like(s, { reached: true, httpStatus: 503, status: 'DOWN' }, s.service);
    t.regex(String(s.error), /^redis DOWN/, s.service);
  }
  t.log(`qt check (Redis down): exit 3: ${redisDown?.out.line}`);
  t.regex(
    String(redisDown?.out.line),
    /^CRITICAL: marketdata DOWN \(redis DOWN.*; redis DOWN \(cannot reach Redis at /,
  );
});

test('bad usage of health and check: exit 2 with the usage', async (t) => {
  for (const args of [
    ['check', '--services', 'risk-safety,nope'],
    ['health', '--timeout', 'soon'],
    ['health', '--url', 'http://gateway:8080'],
    ['check', '--url', 'ftp://gateway/{service}'],
  ]) {
    const res = await runQt(args, { REDIS_URL: 'redis://127.0.0.1:1' });
    t.is(res.code, 2, `${args.join(' ')}: ${res.stderr}`);
    t.notRegex(res.stderr, /^\s+at /m, 'no stack trace');
  }
  const unknown = await runQt(['check', '--services', 'risk-safety,nope'], {});
  t.regex(unknown.stderr, /unknown service nope \(services: marketdata, ai-engine, /);
  const oneUrl = await runQt(['health', '--url', 'http://gateway:8080'], {});
  t.regex(oneUrl.stderr, /put \{service\} or \{port\} in it, or choose one with --services/);
});
