/**
 * The shipped gateway config (infra/nginx/nginx.conf's render for a test
 * prefix and port) run by the real nginx in front of a real
 * `main --actors=all`: every route answers through the gateway with the
 * prefix stripped and the query kept; the access log is JSON with upstream
 * timing; security headers on every answer, the gateway's own too;
 * X-Correlation-ID generated when absent, kept when sent and seen by the
 * service; CORS preflights answered by the gateway for allowed origins only;
 * JSON 404 for an unknown route; `/admin/` 404 for every service prefix and
 * every spelling nginx normalises; the kill switch needs an Authorization
 * header. Skipped only when nginx is not installed.
 */
import anyTest, { type TestFn } from 'ava';
import { loadGatewaySettings } from '../../scripts/gateway/settings.js';
import { SERVICE_NAMES, SERVICES, type ServiceName } from '../../src/actors/services.js';
import { waitFor } from '../support/bus.js';
import type { StartedMain } from '../support/main-process.js';
import { type Gateway, NGINX } from '../support/nginx.js';
import { type GatewayRig, startGatewayRig } from '../support/nginx-rig.js';

const TOKEN = 'a-gateway-admin-token-for-tests';
const settings = loadGatewaySettings();
const prefixOf = (service: ServiceName) => settings.routes[service].prefix;

const test = anyTest as TestFn<GatewayRig>;
const serial = NGINX === undefined ? test.serial.skip : test.serial;
if (NGINX === undefined) test.skip('gateway tests: skipped, nginx is not installed', () => {});

test.before(async (t) => {
  if (NGINX === undefined) return;
  t.context = await startGatewayRig(t, 'gateway', {
    actors: 'all',
    healthy: SERVICE_NAMES,
    env: { QT_ADMIN_TOKEN: TOKEN },
  });
});
test.after.always(async (t) => t.context.close?.());

/** GET through the gateway, paced at most one per 15 ms: these tests stay under the general limit (100 r/s). */
async function get(gateway: Gateway, path: string, headers: Record<string, string> = {}) {
  await new Promise((resolve) => setTimeout(resolve, 15));
  const res = await fetch(`${gateway.url}${path}`, { headers });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) as Record<string, unknown> };
}

serial('every service answers under its prefix, with the prefix stripped', async (t) => {
  const { gateway, main } = t.context;
  for (const name of SERVICE_NAMES) {
    const res = await get(gateway, `${prefixOf(name)}health`);
    t.is(res.status, 200, `${name}: ${res.text}`);
    t.is(res.json().service, name);
    const metrics = await get(gateway, `${prefixOf(name)}metrics`);
    t.is(metrics.status, 200);
    t.regex(metrics.headers.get('content-type') ?? '', /^text\/plain/);
  }
  // Each service's own routes, the same answer as asked directly.
  const routes: [ServiceName, string][] = [
    ['risk-safety', 'ess'],
    ['risk-safety', 'policy'],
    ['marketdata', 'feed'],
    ['execution', 'trades'],
    ['execution', 'orders'],
    ['execution', 'balances'],
    ['monitoring-health', 'health/system'],
    ['monitoring-health', 'alerts/active'],
    ['monitoring-health', 'alerts/history?limit=5'],
  ];
  for (const [service, path] of routes) {
    const through = await get(gateway, `${prefixOf(service)}${path}`);
    const direct = await fetch(`http://127.0.0.1:${main.port(SERVICES[service].port)}/${path}`);
    await direct.text();
    t.is(through.status, direct.status, `${service} /${path}: ${through.text}`);
    t.is(through.status, 200, `${service} /${path}`);
  }
  t.deepEqual(
    (await get(gateway, '/api/risk/policy')).json(),
    await (await fetch(directUrl(main, 'risk-safety', 'policy'))).json(),
  );
  // The query reaches the service: a bad one is its 400, not the gateway's.
  const bad = await get(gateway, '/api/health/alerts/history?limit=nope');
  t.is(bad.status, 400, bad.text);
  // A path the service does not have is the service's own JSON 404.
  const unknown = await get(gateway, '/api/risk/no-such-route');
  t.is(unknown.status, 404);
  t.regex(String(unknown.json().message), /no route GET \/no-such-route/);
});

function directUrl(main: StartedMain, service: ServiceName, path: string): string {
  return `http://127.0.0.1:${main.port(SERVICES[service].port)}/${path}`;
}

serial('the access log is one JSON object a line, with the service and upstream timing', async (t) => {
  const { gateway } = t.context;
  await get(gateway, '/api/marketdata/feed', { 'x-correlation-id': 'gw-log-1' });
  const find = async () => (await gateway.accessLog()).find((r) => r.correlationId === 'gw-log-1');
  await waitFor(async () => (await find()) !== undefined, 'the access log line', 5_000, 50);
  const record = (await find()) as Record<string, unknown>;
  t.log(JSON.stringify(record));
  t.like(record, { service: 'marketdata', method: 'GET', uri: '/api/marketdata/feed', status: 200 });
  t.regex(String(record.upstream), /^127\.0\.0\.1:\d+$/);
  for (const key of ['upstreamConnectTime', 'upstreamHeaderTime', 'upstreamResponseTime']) {
    t.regex(String(record[key]), /^\d+\.\d{3}$/, key);
  }
  t.is(typeof record.requestTime, 'number');
});

serial('security headers on proxied answers and on the gateway’s own', async (t) => {
  const { gateway } = t.context;
  for (const path of ['/api/risk/ess', '/no-such-route', '/api/risk/admin/shutdown']) {
    const res = await get(gateway, path);
    t.is(res.headers.get('x-content-type-options'), 'nosniff', path);
    t.is(res.headers.get('x-frame-options'), 'DENY', path);
    t.is(res.headers.get('referrer-policy'), 'no-referrer', path);
    t.is(res.headers.get('content-security-policy'), "default-src 'none'; frame-ancestors 'none'", path);
    t.regex(res.headers.get('strict-transport-security') ?? '', /^max-age=\d+$/, path);
    t.is(res.headers.get('server'), 'nginx', `${path}: no version`);
    t.is(res.headers.get('retry-after'), null, `${path}: Retry-After only on a 429`);
  }
});

serial('X-Correlation-ID: generated when absent, kept when sent, one header, and the service sees it', async (t) => {
  const { gateway, main } = t.context;
  const generated = await get(gateway, '/api/risk/ess');
  t.regex(generated.headers.get('x-correlation-id') ?? '', /^[0-9a-f]{32}$/);
  const kept = await get(gateway, '/api/risk/ess', { 'x-correlation-id': 'gw-corr-1' });
  t.is(kept.headers.get('x-correlation-id'), 'gw-corr-1');
  // One value, not the service's echo beside the gateway's.
  const invalid = await get(gateway, '/api/risk/ess', { 'x-correlation-id': 'has spaces in it' });
  t.regex(invalid.headers.get('x-correlation-id') ?? '', /^[0-9a-f]{32}$/);
  const own = await get(gateway, '/no-such-route', { 'x-correlation-id': 'gw-corr-404' });
  t.is(own.headers.get('x-correlation-id'), 'gw-corr-404');
  t.is(own.json().correlationId, 'gw-corr-404');
  // The service works under the id: the operator's trip request is logged with it.
  const trip = await fetch(`${gateway.url}/api/risk/ess/trip`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', 'x-correlation-id': 'gw-trip-1' },
    body: JSON.stringify({ operator: 'gateway-test', reason: 'correlation through the gateway' }),
  });
  t.true([200, 202].includes(trip.status), await trip.text());
  const logged = () =>
    main.run
      .out()
      .split('\n')
      .filter((line) => line.includes('"gw-trip-1"') && /ESS/.test(line));
  await waitFor(() => logged().length > 0, 'the trip logged with gw-trip-1', 10_000, 50);
  t.log(logged()[0]);
});

serial('CORS: a preflight from an allowed origin is answered by the gateway; other origins get no grant', async (t) => {
  const { gateway } = t.context;
  const origin = settings.cors.origins[0] as string;
  const preflight = async (o: string) =>
    fetch(`${gateway.url}/api/risk/policy`, {
      method: 'OPTIONS',
      headers: {
        origin: o,
        'access-control-request-method': 'PUT',
        'access-control-request-headers': 'authorization, content-type, x-correlation-id',
        'x-correlation-id': `gw-preflight-${o.length}`,
      },
    });
  const allowed = await preflight(origin);
  t.is(allowed.status, 204);
  t.is(allowed.headers.get('access-control-allow-origin'), origin);
  t.is(allowed.headers.get('access-control-allow-headers'), 'Authorization, Content-Type, X-Correlation-ID');
  t.regex(allowed.headers.get('access-control-allow-methods') ?? '', /PUT/);
  t.truthy(allowed.headers.get('access-control-max-age'));
  t.is(allowed.headers.get('vary'), 'Origin');
  const other = await preflight('https://evil.example');
  t.is(other.status, 204);
  t.is(other.headers.get('access-control-allow-origin'), null);
  // A simple request from the allowed origin carries the grant; no preflight header on it.
  const simple = await get(gateway, '/api/risk/ess', { origin });
  t.is(simple.headers.get('access-control-allow-origin'), origin);
  t.is(simple.headers.get('access-control-allow-methods'), null);
  t.is(simple.headers.get('access-control-expose-headers'), 'X-Correlation-ID, Retry-After');
  // The preflight never reached the service.
  const log = await gateway.accessLog();
  const record = log.find((r) => r.correlationId === `gw-preflight-${origin.length}`);
  t.like(record, { method: 'OPTIONS', status: 204, upstream: '' });
});

serial('a route the gateway does not have is a JSON 404', async (t) => {
  const { gateway } = t.context;
  for (const path of ['/', '/nope', '/api/nope/health', '/api/risk', '/api/ai']) {
    const res = await get(gateway, path);
    t.is(res.status, 404, path);
    t.regex(res.headers.get('content-type') ?? '', /^application\/json/);
    t.like(res.json(), { error: 'not_found' });
  }
});

serial(
  '/admin/ is never exposed: 404 JSON for every service prefix and spelling, and main keeps running',
  async (t) => {
    const { gateway, main } = t.context;
    const paths = [
      '/admin/shutdown',
      ...SERVICE_NAMES.map((name) => `${prefixOf(name)}admin/shutdown`),
      '/api/risk/%61dmin/shutdown',
      '/api/risk//admin/shutdown',
      '/api/risk/./admin/shutdown',
      '/api/risk/x/../admin/shutdown',
      '/api/risk/ADMIN/shutdown',
      '/api/risk/admin',
    ];
    for (const path of paths) {
      const res = await fetch(`${gateway.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      t.is(res.status, 404, path);
      t.like(await res.json(), { error: 'not_found' }, path);
    }
    t.is(main.run.child.exitCode, null);
    const log = await gateway.accessLog();
    t.false(
      log.some((r) => String(r.uri).toLowerCase().includes('admin') && r.upstream !== ''),
      'no admin request reached a service',
    );
  },
);

serial('the kill switch needs an Authorization header at the gateway; the service checks the token', async (t) => {
  const { gateway } = t.context;
  const body = JSON.stringify({ operator: 'gateway-test', reason: 'auth check' });
  const headers = { 'content-type': 'application/json' };
  const none = await fetch(`${gateway.url}/api/risk/ess/flatten`, { method: 'POST', headers, body });
  t.is(none.status, 401);
  t.like(await none.json(), { error: 'unauthorized' });
  const wrong = await fetch(`${gateway.url}/api/risk/ess/trip`, {
    method: 'POST',
    headers: { ...headers, authorization: 'Bearer not-the-token-at-all' },
    body,
  });
  t.is(wrong.status, 401);
  t.like(await wrong.json(), { error: 'unauthorized', message: 'a valid Bearer token is required' });
});
