/**
 * `node main --actors=…` as an operator runs it: exit codes, messages, clean
 * shutdown, and one process per disk buffer file.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { waitFor } from './support/bus.js';
import { getFreePort } from './support/free-port.js';
import { type MainProcess, spawnMain } from './support/main-process.js';
import { type RedisServer, startRedis } from './support/redis-fixture.js';

let server: RedisServer;
test.before(async () => {
  server = await startRedis({ name: 'main' });
});
test.after.always(() => server?.stop());

/** package.json's version: what `GET /health` must report. */
const PACKAGE_JSON = readFileSync(new URL('../package.json', import.meta.url), 'utf8');
const PACKAGE_VERSION = (JSON.parse(PACKAGE_JSON) as { version: string }).version;

function runMain(args: string[], env: Record<string, string> = {}): MainProcess {
  return spawnMain(args, { REDIS_URL: server.url, ...env });
}

test('--help prints usage and exits 0', async (t) => {
  const run = runMain(['--help']);
  t.is(await run.exit, 0);
  t.regex(run.out(), /--actors <list>/);
  t.regex(run.out(), /risk-safety/);
});

test('an unknown service exits 2 and lists the valid names', async (t) => {
  const run = runMain(['--actors=execution,warp-drive']);
  t.is(await run.exit, 2);
  t.regex(run.out(), /unknown service\(s\): warp-drive/);
  t.regex(run.out(), /valid: all, marketdata, ai-engine/);
});

test('bad usage exits 2', async (t) => {
  const run = runMain(['--duration', 'soon']);
  t.is(await run.exit, 2);
  t.regex(run.out(), /must be a positive number of seconds/);
});

test('invalid settings exit 2 naming each key, without a stack trace', async (t) => {
  const run = runMain(['--actors=all'], { QT_MAX_DELIVERIES: 'many', QT_BUFFER_WHEN_FULL: 'drop' });
  t.is(await run.exit, 2);
  t.regex(run.out(), /QT_MAX_DELIVERIES/);
  t.regex(run.out(), /QT_BUFFER_WHEN_FULL/);
  t.notRegex(run.out(), /\n\s+at /, 'no stack trace');
});

test('SIGTERM shuts down cleanly with exit 0; a second process on the same buffer is refused', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'qt-main-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const port = await getFreePort();
  const env = { QT_DATA_DIR: dataDir, QT_PRODUCER_ID: 'main-test', QT_HTTP_PORT_OFFSET: String(port - 8002) };
  const first = runMain(['--actors=execution'], env);
  t.teardown(() => first.child.kill('SIGKILL'));
  await waitFor(() => first.out().includes('runtime started'), 'first process started', 20_000);

  const second = runMain(['--actors=execution'], env);
  t.is(await second.exit, 3);
  t.regex(second.out(), /QT_BUFFER_LOCKED/);
  t.regex(second.out(), /main-test\.sqlite is locked by another process/);

  first.child.kill('SIGTERM');
  t.is(await first.exit, 0);
  t.regex(first.out(), /"msg":"stopped"/);
});

test('each service answers GET /health (real dependencies), /metrics, and an authenticated POST /admin/shutdown', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'qt-main-http-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const port = await getFreePort();
  const token = 'a-long-enough-admin-token';
  const run = runMain(['--actors=execution'], {
    QT_DATA_DIR: dataDir,
    QT_PRODUCER_ID: 'main-http',
    QT_HTTP_PORT_OFFSET: String(port - 8002),
    QT_ADMIN_TOKEN: token,
  });
  t.teardown(() => run.child.kill('SIGKILL'));
  await waitFor(() => run.out().includes('runtime started'), 'started', 20_000);
  const base = `http://127.0.0.1:${port}`;

  const health = await fetch(`${base}/health`, { headers: { 'X-Correlation-ID': 'corr-123' } });
  t.is(health.status, 200);
  t.is(health.headers.get('x-correlation-id'), 'corr-123');
  const body = (await health.json()) as Record<string, unknown> & { dependencies: Record<string, { status: string }> };
  t.like(body, { service: 'execution', status: 'OK', version: PACKAGE_VERSION });
  t.is(body.dependencies.redis?.status, 'OK');
  t.is(body.dependencies.disk_buffer?.status, 'OK');
  t.true(typeof body.uptime_seconds === 'number' && typeof body.timestamp === 'string');

  const metrics = await (await fetch(`${base}/metrics`)).text();
  t.regex(
    metrics,
    /http_requests_total\{service="execution",method="GET",route="\/health",status="200",producer="[^"]+"\} 1/,
  );
  t.regex(metrics, /redis_reconnects_total/);

  t.is((await fetch(`${base}/admin/shutdown`, { method: 'POST' })).status, 401);
  t.is(
    (await fetch(`${base}/admin/shutdown`, { method: 'POST', headers: { Authorization: 'Bearer wrong-token-value' } }))
      .status,
    401,
  );
  const ok = await fetch(`${base}/admin/shutdown`, { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
  t.is(ok.status, 202);
  t.is(await run.exit, 0, 'shut down cleanly');
});

test('without QT_ADMIN_TOKEN the admin endpoints are disabled', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'qt-main-noadmin-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const port = await getFreePort();
  const run = runMain(['--actors=execution'], {
    QT_DATA_DIR: dataDir,
    QT_PRODUCER_ID: 'main-noadmin',
    QT_HTTP_PORT_OFFSET: String(port - 8002),
  });
  t.teardown(() => run.child.kill('SIGKILL'));
  await waitFor(() => run.out().includes('runtime started'), 'started', 20_000);
  const res = await fetch(`http://127.0.0.1:${port}/admin/shutdown`, {
    method: 'POST',
    headers: { Authorization: 'Bearer anything-at-all-here' },
  });
  t.is(res.status, 404);
  t.regex(await res.text(), /disabled/);
  run.child.kill('SIGTERM');
  t.is(await run.exit, 0);
});

test('a service that cannot start (unreadable CSV feed) stops everything and exits 2 with the reason', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'qt-main-badfeed-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const port = await getFreePort();
  const run = runMain(['--actors=marketdata,risk-safety'], {
    QT_DATA_DIR: dataDir,
    QT_PRODUCER_ID: 'main-badfeed',
    QT_HTTP_PORT_OFFSET: String(port - 8006),
    QT_FEED_CSV: join(dataDir, 'missing.csv'),
  });
  t.is(await run.exit, 2);
  t.regex(run.out(), /cannot start services: .*missing\.csv/);
});

test('a port already in use stops everything and exits 3 naming the port (no process left running actors)', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'qt-main-port-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const port = await getFreePort();
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
  t.teardown(() => blocker.close());
  const run = runMain(['--actors=risk-safety,portfolio-intelligence'], {
    QT_DATA_DIR: dataDir,
    QT_PRODUCER_ID: 'main-port',
    // portfolio-intelligence (8004) lands on the blocked port; risk-safety (8003) listens first.
    QT_HTTP_PORT_OFFSET: String(port - 8004),
  });
  t.teardown(() => run.child.kill('SIGKILL'));
  const code = await Promise.race([
    run.exit,
    new Promise((resolve) => setTimeout(() => resolve('still running'), 30_000)),
  ]);
  t.is(code, 3, run.out());
  t.regex(run.out(), new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port} for portfolio-intelligence`));
});
