/**
 * The gateway in front of a `main` that hosts only marketdata: a service that
 * is not running is a JSON 502 naming it (rl-training and the rest), the
 * running one still answers, and a service that takes connections but never
 * answers (a listener on monitoring-health's port that reads and says
 * nothing) is a JSON 504 once health's read timeout (10 s) has passed.
 * Skipped only when nginx is not installed.
 */
import { createServer, type Socket } from 'node:net';
import anyTest, { type TestFn } from 'ava';
import { loadGatewaySettings } from '../../scripts/gateway/settings.js';
import { SERVICE_NAMES, SERVICES } from '../../src/actors/services.js';
import { NGINX } from '../support/nginx.js';
import { type GatewayRig, startGatewayRig } from '../support/nginx-rig.js';

const settings = loadGatewaySettings();
const test = anyTest as TestFn<GatewayRig>;
const serial = NGINX === undefined ? test.serial.skip : test.serial;
if (NGINX === undefined) test.skip('gateway error-page tests: skipped, nginx is not installed', () => {});

test.before(async (t) => {
  if (NGINX === undefined) return;
  t.context = await startGatewayRig(t, 'gateway-down', { actors: 'marketdata', healthy: ['marketdata'] });
});
test.after.always(async (t) => t.context.close?.());

serial('a service that is not running is a JSON 502 naming it; the running one answers', async (t) => {
  const { gateway } = t.context;
  const running = await fetch(`${gateway.url}/api/marketdata/feed`);
  t.is(running.status, 200, await running.text());
  for (const name of SERVICE_NAMES.filter((n) => n !== 'marketdata')) {
    const res = await fetch(`${gateway.url}${settings.routes[name].prefix}health`, {
      headers: { 'x-correlation-id': `gw-down-${name}` },
    });
    t.is(res.status, 502, name);
    t.regex(res.headers.get('content-type') ?? '', /^application\/json/);
    t.deepEqual(await res.json(), {
      error: 'bad_gateway',
      message: 'the service did not answer (not running?)',
      service: name,
      correlationId: `gw-down-${name}`,
    });
  }
  // The kill switch's own location has the same error page.
  const trip = await fetch(`${gateway.url}/api/risk/ess/trip`, {
    method: 'POST',
    headers: { authorization: 'Bearer whatever-token-it-is' },
  });
  t.is(trip.status, 502);
  t.like(await trip.json(), { error: 'bad_gateway', service: 'risk-safety' });
});

serial('a service that never answers is a JSON 504 after its read timeout', async (t) => {
  const { gateway, main } = t.context;
  const sockets: Socket[] = [];
  const silent = createServer((socket) => {
    sockets.push(socket);
    socket.resume();
  });
  await new Promise<void>((resolve, reject) => {
    silent.once('error', reject);
    silent.listen(main.port(SERVICES['monitoring-health'].port), '127.0.0.1', resolve);
  });
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    silent.close();
  });
  const started = Date.now();
  const res = await fetch(`${gateway.url}/api/health/health`);
  const waited = Date.now() - started;
  t.log(`504 after ${waited} ms (read timeout ${settings.routes['monitoring-health'].timeouts.read} s)`);
  t.is(res.status, 504);
  t.like(await res.json(), { error: 'gateway_timeout', service: 'monitoring-health' });
  t.true(sockets.length > 0, 'nginx did connect');
  t.true(waited >= settings.routes['monitoring-health'].timeouts.read * 1000 - 500, `waited ${waited} ms`);
});
