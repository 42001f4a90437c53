/**
 * Polling a service's `GET /health` (src/actors/monitoring/poll-services.ts)
 * against real local HTTP servers: a valid report, a DOWN report with 503,
 * 500 without a report, an impostor, silence (the timeout), nothing
 * listening, a slow OK answer; and where each service is polled from a
 * Config (serviceTargets).
 */
import test from 'ava';
import { pollService, pollServices, serviceTargets } from '../../../src/actors/monitoring/poll-services.js';
import { SERVICE_NAMES, SERVICES, type ServiceName } from '../../../src/actors/services.js';
import { loadConfig } from '../../../src/config/load.js';
import { isQtError, type QtError } from '../../../src/errors.js';
import { getFreePort } from '../../support/free-port.js';
import { json, report, startLocalServer } from '../../support/health-server.js';

const OPTIONS = { timeoutMs: 2_000, slowMs: 1_000 };
const target = (service: ServiceName, baseUrl: string) => ({
  service,
  critical: SERVICES[service].critical,
  baseUrl,
});

test('a valid report: its status and how long it took', async (t) => {
  const server = await startLocalServer(t, (req, res) => {
    t.is(req.url, '/health');
    json(200, report('execution', { producer: 'main-1' }))(req, res);
  });
  const polled = await pollService(target('execution', server.url), OPTIONS);
  t.like(polled.observation, { service: 'execution', critical: true, status: 'OK' });
  t.is(polled.observation.error, undefined);
  const latency = polled.observation.latencyMs as number;
  t.true(typeof latency === 'number' && latency >= 0 && latency < OPTIONS.timeoutMs, `latency ${latency}`);
  t.like(polled.report, { service: 'execution', producer: 'main-1' });
});

test('503 with a DOWN report: DOWN, naming the dependency', async (t) => {
  const down = report('risk-safety', {
    status: 'DOWN',
    dependencies: {
      redis: { status: 'DOWN', latency_ms: null, critical: true, error: 'connect ECONNREFUSED 127.0.0.1:6390' },
      'ai-engine': { status: 'OK', latency_ms: 3, critical: false },
    },
  });
  const server = await startLocalServer(t, json(503, down));
  const polled = await pollService(target('risk-safety', server.url), OPTIONS);
  t.like(polled.observation, {
    status: 'DOWN',
    critical: true,
    error: 'redis DOWN: connect ECONNREFUSED 127.0.0.1:6390',
  });
  t.not(polled.report, null, 'it answered: its report is kept');
});

test('500 without a report: DOWN, answered HTTP 500 without a health report', async (t) => {
  const server = await startLocalServer(t, (_req, res) => {
    res.writeHead(500, { 'content-type': 'text/plain' });
    res.end('Internal Server Error');
  });
  const polled = await pollService(target('ai-engine', server.url), OPTIONS);
  t.like(polled.observation, { status: 'DOWN', error: 'answered HTTP 500 without a health report', latencyMs: null });
  t.is(polled.report, null);
});

test('JSON that is not a health report is no report either', async (t) => {
  const server = await startLocalServer(t, json(200, { status: 'OK' }));
  const polled = await pollService(target('ai-engine', server.url), OPTIONS);
  t.like(polled.observation, { status: 'DOWN', error: 'answered HTTP 200 without a health report' });
});

test('a server that answers as another service is DOWN', async (t) => {
  const server = await startLocalServer(t, json(200, report('ai-engine')));
  const polled = await pollService(target('execution', server.url), OPTIONS);
  t.like(polled.observation, { service: 'execution', status: 'DOWN', error: 'answered as ai-engine' });
  t.is(polled.report, null, 'the impostor report is not taken as execution’s');
});

test('a server that never answers: DOWN, no answer within the timeout, in about the timeout', async (t) => {
  const server = await startLocalServer(t, () => {});
  const started = performance.now();
  const polled = await pollService(target('marketdata', server.url), { timeoutMs: 300, slowMs: 100 });
  const took = performance.now() - started;
  t.like(polled.observation, { status: 'DOWN', error: 'no answer within 300 ms' });
  t.true(took >= 250 && took < 2_000, `took ${Math.round(took)} ms`);
});

test('a server that sends its headers and then stalls: DOWN, no answer within the timeout', async (t) => {
  const server = await startLocalServer(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"service":"marketdata",');
  });
  const polled = await pollService(target('marketdata', server.url), { timeoutMs: 300, slowMs: 100 });
  t.like(polled.observation, { status: 'DOWN', error: 'no answer within 300 ms' });
});

test('nothing listening: DOWN with ECONNREFUSED', async (t) => {
  const port = await getFreePort();
  const polled = await pollService(target('portfolio-intelligence', `http://127.0.0.1:${port}`), OPTIONS);
  t.is(polled.observation.status, 'DOWN');
  t.regex(polled.observation.error ?? '', new RegExp(`ECONNREFUSED 127\\.0\\.0\\.1:${port}`));
});

test('an OK answer slower than slowMs is DEGRADED, naming the latency', async (t) => {
  const server = await startLocalServer(t, (req, res) => {
    setTimeout(() => json(200, report('rl-training'))(req, res), 250);
  });
  const polled = await pollService(target('rl-training', server.url), { timeoutMs: 2_000, slowMs: 100 });
  t.is(polled.observation.status, 'DEGRADED');
  t.regex(polled.observation.error ?? '', /^GET \/health took \d+ ms \(over 100 ms\)$/);
  t.true((polled.observation.latencyMs as number) >= 200);
  t.not(polled.report, null);
});

test('serviceTargets: the table with the port offset, a wildcard host polled on the loopback', (t) => {
  const targets = serviceTargets(loadConfig({ QT_HTTP_HOST: '0.0.0.0', QT_HTTP_PORT_OFFSET: '100' }));
  t.deepEqual(
    targets.map((x) => x.service),
    SERVICE_NAMES,
  );
  for (const x of targets) {
    t.is(x.baseUrl, `http://127.0.0.1:${SERVICES[x.service].port + 100}`);
    t.is(x.critical, SERVICES[x.service].critical);
  }
  t.is(serviceTargets(loadConfig({ QT_HTTP_HOST: '::1' }))[0]?.baseUrl, 'http://[::1]:8006');
  t.is(serviceTargets(loadConfig({ QT_HTTP_HOST: '10.1.2.3' }))[0]?.baseUrl, 'http://10.1.2.3:8006');
});

test('serviceTargets: QT_HEALTH_TARGETS moves one service, and that is where it is polled', async (t) => {
  const server = await startLocalServer(t, json(200, report('execution')));
  const config = loadConfig({ QT_HEALTH_TARGETS: `execution=${server.url}/`, QT_HTTP_PORT_OFFSET: '7' });
  const targets = serviceTargets(config);
  const execution = targets.find((x) => x.service === 'execution');
  t.is(execution?.baseUrl, server.url, 'the trailing slash dropped');
  t.is(targets.find((x) => x.service === 'marketdata')?.baseUrl, 'http://127.0.0.1:8013');
  const [polled] = await pollServices(execution ? [execution] : [], OPTIONS);
  t.is(polled?.observation.status, 'OK');
  t.is(server.requests, 1);
});

test('serviceTargets: an unknown service in QT_HEALTH_TARGETS is QT_CONFIG_INVALID naming it', (t) => {
  const config = loadConfig({ QT_HEALTH_TARGETS: 'execution=http://10.0.0.5:9002,exekution=http://10.0.0.5:9003' });
  const err = t.throws(() => serviceTargets(config)) as QtError;
  t.true(isQtError(err, 'QT_CONFIG_INVALID'));
  t.regex(err.message, /QT_HEALTH_TARGETS: unknown service exekution/);
  t.deepEqual(
    ((err.details?.issues ?? []) as { key: string }[]).map((i) => i.key),
    ['QT_HEALTH_TARGETS'],
  );
});
