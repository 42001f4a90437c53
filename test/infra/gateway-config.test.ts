/**
 * The gateway config as shipped: infra/nginx/nginx.conf is the render of
 * infra/nginx/gateway.json and the service table (a test fails when someone
 * edits one without re-rendering); `nginx -t` accepts the shipped file as it
 * is and the render the tests run, which differs from it only in the listen
 * and upstream server lines; bad settings are QT_CONFIG_INVALID naming each
 * key; `npm run gateway` (scripts/gateway/run.ts) runs the real nginx in the
 * foreground, answers, and exits 0 on SIGTERM and SIGINT, 2 on bad settings
 * or a missing nginx, 3 when its port is taken. Skipped only when nginx is
 * not installed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import { findNginx, NGINX_MISSING, preparePrefix } from '../../scripts/gateway/nginx.js';
import { renderNginxConf } from '../../scripts/gateway/render.js';
import {
  GATEWAY_SETTINGS_PATH,
  loadGatewaySettings,
  parseGatewaySettings,
  SHIPPED_NGINX_CONF,
} from '../../scripts/gateway/settings.js';
import { SERVICES } from '../../src/actors/services.js';
import { isQtError } from '../../src/errors.js';
import { waitFor } from '../support/bus.js';
import { getFreePort } from '../support/free-port.js';
import { freePortOffset } from '../support/main-process.js';
import { NGINX } from '../support/nginx.js';

const RUN = fileURLToPath(new URL('../../scripts/gateway/run.ts', import.meta.url));
const withNginx = NGINX === undefined ? test.skip : test;
if (NGINX === undefined) test.skip('gateway config tests that run nginx: skipped, nginx is not installed', () => {});

const settings = loadGatewaySettings();
const rawSettings = async () => JSON.parse(await readFile(GATEWAY_SETTINGS_PATH, 'utf8')) as Record<string, unknown>;

async function tempDir(t: ExecutionContext, label: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `qt-${label}-`));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('infra/nginx/nginx.conf is the render of gateway.json and the service table (else: npm run gateway:render)', async (t) => {
  t.is(await readFile(SHIPPED_NGINX_CONF, 'utf8'), renderNginxConf(settings));
});

test('the render carries every service port, the upstream options and the limits', (t) => {
  const conf = renderNginxConf(settings);
  for (const [name, spec] of Object.entries(SERVICES)) {
    const block = new RegExp(`upstream qt_${name.replace(/-/g, '_')} \\{([^}]*)\\}`).exec(conf)?.[1] ?? '';
    t.regex(block, /least_conn;/, name);
    t.regex(block, new RegExp(`server 127\\.0\\.0\\.1:${spec.port} max_fails=3 fail_timeout=30s;`), name);
    t.regex(block, /keepalive \d+;/, name);
  }
  for (const [zone, limit] of Object.entries({ general: settings.limits.general, trading: settings.limits.trading })) {
    t.regex(conf, new RegExp(`zone=${zone}:\\d+m rate=${limit.rate}r/s;`));
    t.regex(conf, new RegExp(`limit_req zone=${zone} burst=${limit.burst} nodelay;`));
  }
});

test('bad settings are QT_CONFIG_INVALID naming each key', async (t) => {
  const raw = await rawSettings();
  const routes = { ...(raw.routes as Record<string, unknown>) };
  delete routes['ai-engine'];
  routes.nope = routes.execution;
  const bad = {
    ...raw,
    upstreamHost: '127.0.0.1; include /etc/passwd',
    routes,
    killSwitch: { service: 'nope', paths: ['/ess/trip'] },
    cors: { origins: ['https://ok.example', 'https://x.example"; evil'], maxAgeSeconds: 600 },
  };
  const err = t.throws(() => parseGatewaySettings(bad, 'bad.json'));
  t.true(isQtError(err, 'QT_CONFIG_INVALID'));
  for (const key of [
    'upstreamHost',
    'routes.ai-engine: missing',
    'routes: Unrecognized key: "nope"',
    'killSwitch.service',
    'cors.origins.1',
  ]) {
    t.true(err?.message.includes(key), `${key} in:\n${err?.message}`);
  }
  const twice = structuredClone(raw) as { routes: Record<string, { prefix: string }> };
  (twice.routes['ai-engine'] as { prefix: string }).prefix = '/api/risk/';
  t.regex(t.throws(() => parseGatewaySettings(twice))?.message ?? '', /prefix \/api\/risk\/ used twice/);
});

withNginx('nginx -t accepts the shipped file as it is, and the render the tests run', async (t) => {
  const shippedDir = await tempDir(t, 'gateway-shipped');
  const shipped = spawnSync(NGINX as string, ['-t', ...(await preparePrefix(shippedDir, renderNginxConf(settings)))], {
    encoding: 'utf8',
  });
  t.is(shipped.status, 0, shipped.stderr);
  t.regex(shipped.stderr, /test is successful/);
  const testDir = await tempDir(t, 'gateway-test-render');
  const rendered = renderNginxConf(settings, { listenHost: '127.0.0.1', listenPort: 18_089, portOffset: 1_000 });
  const tested = spawnSync(NGINX as string, ['-t', ...(await preparePrefix(testDir, rendered))], { encoding: 'utf8' });
  t.is(tested.status, 0, tested.stderr);
  // Only the listen line and the upstream servers differ from what ships.
  const a = renderNginxConf(settings).split('\n');
  const b = rendered.split('\n');
  t.is(a.length, b.length);
  const differing = a.filter((line, i) => line !== b[i]);
  t.is(differing.length, 1 + Object.keys(SERVICES).length);
  for (const line of differing) t.regex(line, /^\s*(listen|server) /);
});

test('nginx is looked for on PATH, then in the usual sbin folders', async (t) => {
  const dir = await tempDir(t, 'gateway-find');
  t.is(findNginx('', []), undefined);
  t.is(findNginx(dir, []), undefined);
  await writeFile(join(dir, 'nginx'), '#!/bin/sh\n', { mode: 0o755 });
  t.is(findNginx(`/no/such/dir:${dir}`, []), join(dir, 'nginx'));
  t.is(findNginx('', [dir]), join(dir, 'nginx'));
  t.regex(NGINX_MISSING, /nginx is not installed .*apt-get install nginx/);
});

/** `npm run gateway`'s script with `env`; its output and exit. */
function runGateway(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import=tsx', RUN], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += String(d);
  });
  child.stderr.on('data', (d: Buffer) => {
    out += String(d);
  });
  const exit = once(child, 'exit').then(([code]) => code as number | null);
  return { child, out: () => out, exit };
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  withNginx(`npm run gateway serves the shipped config in the foreground and exits 0 on ${signal}`, async (t) => {
    const dir = await tempDir(t, 'gateway-run');
    const port = await getFreePort('127.0.0.1', new Set([80, 8088, 6379, 26379]));
    const offset = await freePortOffset([port]);
    const run = runGateway({ QT_GATEWAY_DIR: dir, QT_GATEWAY_PORT: String(port), QT_HTTP_PORT_OFFSET: String(offset) });
    t.teardown(() => run.child.kill('SIGKILL'));
    await waitFor(() => run.out().includes('gateway listening') || run.child.exitCode !== null, 'listening', 20_000);
    t.regex(run.out(), new RegExp(`gateway listening on 0\\.0\\.0\\.0:${port}`), run.out());
    // The config it runs is the shipped one with the port and offset applied.
    const expected = renderNginxConf(settings, { listenPort: port, portOffset: offset, upstreamHost: '127.0.0.1' });
    t.is(await readFile(join(dir, 'nginx.conf'), 'utf8'), expected);
    // No service runs at that offset: the gateway's own JSON 502.
    const res = await fetch(`http://127.0.0.1:${port}/api/ai/health`);
    t.is(res.status, 502);
    t.like(await res.json(), { error: 'bad_gateway', service: 'ai-engine' });
    run.child.kill(signal);
    t.is(await run.exit, 0, run.out());
    t.regex(run.out(), /gateway stopped/);
    const log = await readFile(join(dir, 'logs', 'access.log'), 'utf8');
    t.like(JSON.parse(log.trim().split('\n').at(-1) as string), { uri: '/api/ai/health', status: 502 });
  });
}

withNginx('npm run gateway: bad settings and no nginx exit 2, a port in use exits 3, each saying why', async (t) => {
  const dir = await tempDir(t, 'gateway-run-bad');
  const badPort = runGateway({ QT_GATEWAY_DIR: dir, QT_GATEWAY_PORT: '99999' });
  t.is(await badPort.exit, 2);
  t.regex(badPort.out(), /^gateway: invalid settings: QT_GATEWAY_PORT: /m);
  const badHost = runGateway({ QT_GATEWAY_DIR: dir, QT_HTTP_HOST: 'x; include /etc/passwd' });
  t.is(await badHost.exit, 2);
  t.regex(badHost.out(), /QT_HTTP_HOST: must be a host name or an IP address/);
  const noNginx = runGateway({ QT_GATEWAY_DIR: dir, QT_NGINX: join(dir, 'no-such-nginx') });
  t.is(await noNginx.exit, 2);
  t.regex(noNginx.out(), /gateway: QT_NGINX=.*no-such-nginx: not an executable file/);
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '0.0.0.0', resolve));
  t.teardown(() => taken.close());
  const port = (taken.address() as { port: number }).port;
  const inUse = runGateway({ QT_GATEWAY_DIR: dir, QT_GATEWAY_PORT: String(port) });
  t.is(await inUse.exit, 3);
  t.regex(inUse.out(), new RegExp(`gateway: port ${port} is already in use`));
  t.notRegex(inUse.out(), /gateway listening/);
});
