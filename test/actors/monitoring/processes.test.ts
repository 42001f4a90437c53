/**
 * Services that die together (src/actors/monitoring/processes.ts): the
 * services of each "process" are real local HTTP servers answering health
 * reports with that process's producer id, polled by pollService; a process
 * dies when its servers close. ProcessMap's checks and graph, then fed with
 * alertChecks of the same observation through stepAlerts: a whole process
 * down is one alert naming what it took down.
 */
import test, { type ExecutionContext } from 'ava';
import { type AlertCheck, INITIAL_ALERT_STATE, stepAlerts } from '../../../src/actors/monitoring/alerts.js';
import { DEPENDENCIES } from '../../../src/actors/monitoring/dependencies.js';
import { type PolledService, pollService } from '../../../src/actors/monitoring/poll-services.js';
import { ProcessMap } from '../../../src/actors/monitoring/processes.js';
import { alertChecks, type SystemObservation } from '../../../src/actors/monitoring/system-status.js';
import { SERVICE_NAMES, SERVICES, type ServiceName } from '../../../src/actors/services.js';
import { json, type LocalServer, report, startLocalServer } from '../../support/health-server.js';

const POLL = { timeoutMs: 2_000, slowMs: 1_000 };

/** A process: one server per service it hosts, all answering with its producer id. */
async function startProcess(t: ExecutionContext, producer: string, services: readonly ServiceName[]) {
  const servers = new Map<ServiceName, LocalServer>();
  for (const service of services)
    servers.set(service, await startLocalServer(t, json(200, report(service, { producer }))));
  return {
    servers,
    /** Every service of the process stops answering at once. */
    kill: () => Promise.all([...servers.values()].map((s) => s.close())),
  };
}

type Process = Awaited<ReturnType<typeof startProcess>>;

/** Polls each service of the processes, in table order (as the monitor does). */
function poll(...processes: Process[]): Promise<PolledService[]> {
  const where = new Map<ServiceName, string>();
  for (const p of processes) for (const [service, server] of p.servers) where.set(service, server.url);
  const targets = SERVICE_NAMES.filter((s) => where.has(s)).map((service) => ({
    service,
    critical: SERVICES[service].critical,
    baseUrl: where.get(service) as string,
  }));
  return Promise.all(targets.map((target) => pollService(target, POLL)));
}

test('a process hosting one service gets no process check and the graph stays the table', async (t) => {
  const md = await startProcess(t, 'main-md', ['marketdata']);
  const ai = await startProcess(t, 'main-ai', ['ai-engine']);
  const map = new ProcessMap();
  const first = map.view(await poll(md, ai));
  t.deepEqual(first.checks, []);
  t.deepEqual(first.graph, DEPENDENCIES);
  await md.kill();
  await ai.kill();
  const second = map.view(await poll(md, ai));
  t.deepEqual(second.checks, [], 'each died alone: its own health check says so');
});

test('two services of one process all unreachable: one failing process:FIRST:down, CRITICAL when one is critical', async (t) => {
  const a = await startProcess(t, 'main-a', ['marketdata', 'ai-engine']);
  const map = new ProcessMap();

  const up = map.view(await poll(a));
  t.is(up.checks.length, 1);
  t.like(up.checks[0], { component: 'process:marketdata', condition: 'down', level: null });
  t.deepEqual(up.graph.marketdata, [...(DEPENDENCIES.marketdata ?? []), 'process:marketdata']);
  t.deepEqual(up.graph['ai-engine'], [...(DEPENDENCIES['ai-engine'] ?? []), 'process:marketdata']);
  t.deepEqual(up.graph.execution, DEPENDENCIES.execution, 'a service of no shared process is left as it was');

  await a.kill();
  // The producer comes from the earlier cycle: nothing answered in this one.
  const down = map.view(await poll(a));
  t.is(down.checks.length, 1);
  const check = down.checks[0] as AlertCheck;
  t.like(check, { component: 'process:marketdata', condition: 'down', level: 'CRITICAL' });
  t.deepEqual(check.details, { producer: 'main-a', services: 'marketdata,ai-engine' });
  t.regex(check.message, /the process main-a hosting marketdata, ai-engine does not answer \(.*ECONNREFUSED/);
  t.true((down.graph.marketdata ?? []).includes('process:marketdata'));
  t.true((down.graph['ai-engine'] ?? []).includes('process:marketdata'));
});

test('a process of non-critical services only is a WARNING', async (t) => {
  const p = await startProcess(t, 'main-learn', ['ai-engine', 'rl-training']);
  const map = new ProcessMap();
  map.view(await poll(p));
  await p.kill();
  const [check] = map.view(await poll(p)).checks;
  t.like(check, { component: 'process:ai-engine', condition: 'down', level: 'WARNING' });
});

test('one service of the process still answering: the process check is healthy', async (t) => {
  const a = await startProcess(t, 'main-a', ['marketdata', 'ai-engine']);
  const map = new ProcessMap();
  map.view(await poll(a));
  await a.servers.get('ai-engine')?.close();
  const polled = await poll(a);
  t.is(polled.find((p) => p.observation.service === 'ai-engine')?.observation.status, 'DOWN');
  const [check] = map.view(polled).checks;
  t.like(check, { component: 'process:marketdata', level: null });
});

test('services never seen answering are not grouped: their producer is unknown', async (t) => {
  const a = await startProcess(t, 'main-a', ['marketdata', 'ai-engine']);
  await a.kill();
  const view = new ProcessMap().view(await poll(a));
  t.deepEqual(view.checks, []);
  t.deepEqual(view.graph, DEPENDENCIES);
});

/** The observation of a cycle: the polled services, healthy infrastructure, the ESS armed. */
function observe(polled: readonly PolledService[]): SystemObservation {
  return {
    services: polled.map((p) => p.observation),
    infrastructure: [
      { name: 'redis', status: 'OK', latencyMs: 1 },
      { name: 'exchange', status: 'OK', latencyMs: 2 },
    ],
    ess: { known: true, state: 'armed' },
  };
}

const degraded = (service: ServiceName, producer: string, dependency: string) =>
  json(
    200,
    report(service, {
      status: 'DEGRADED',
      producer,
      dependencies: { [dependency]: { status: 'DEGRADED', latency_ms: null, critical: false, error: 'stale' } },
    }),
  );

test('a whole process down raises exactly one alert, process:marketdata:down, with the blast radius of its services', async (t) => {
  const a = await startProcess(t, 'main-a', ['marketdata', 'ai-engine']);
  const b = await startProcess(t, 'main-b', [
    'risk-safety',
    'execution',
    'portfolio-intelligence',
    'rl-training',
    'monitoring-health',
  ]);
  const map = new ProcessMap();
  const cycle = async (at: string, state = INITIAL_ALERT_STATE) => {
    const polled = await poll(a, b);
    const processes = map.view(polled);
    const checks = [...alertChecks(observe(polled)), ...processes.checks];
    return {
      checks,
      graph: processes.graph,
      step: stepAlerts(state, { type: 'evaluation', at, checks }, { graph: processes.graph }),
    };
  };

  const healthy = await cycle('2025-01-01T00:00:00.000Z');
  t.deepEqual(healthy.step.events, []);

  await a.kill();
  // Their dependents in the other process answer, troubled by what is missing.
  b.servers.get('risk-safety')?.answer(degraded('risk-safety', 'main-b', 'signals'));
  b.servers.get('portfolio-intelligence')?.answer(degraded('portfolio-intelligence', 'main-b', 'prices'));
  const dead = await cycle('2025-01-01T00:00:10.000Z', healthy.step.state);
  const raised = dead.step.events.filter((e) => e.type === 'health.alert_raised');
  t.is(raised.length, 1, `raised: ${raised.map((e) => e.data.alertId).join(', ')}`);
  t.is(dead.step.events.length, 1);
  t.like(raised[0]?.data, {
    alertId: 'process:marketdata:down',
    severity: 'critical',
    source: 'process:marketdata',
    rootCause: 'process:marketdata',
    blastRadius: ['ai-engine', 'marketdata', 'portfolio-intelligence', 'risk-safety'],
  });
  t.deepEqual(Object.keys(dead.step.state.active), ['process:marketdata:down']);

  // Without the process in the graph the same checks raise two roots: the graph is what makes it one.
  const flat = stepAlerts(healthy.step.state, {
    type: 'evaluation',
    at: '2025-01-01T00:00:10.000Z',
    checks: dead.checks,
  });
  t.deepEqual(flat.events.map((e) => e.data.alertId).sort(), ['marketdata:health', 'process:marketdata:down']);

  // The process comes back: its one alert resolves, nothing else is raised.
  const restarted = await startProcess(t, 'main-a2', ['marketdata', 'ai-engine']);
  b.servers.get('risk-safety')?.answer(json(200, report('risk-safety', { producer: 'main-b' })));
  b.servers.get('portfolio-intelligence')?.answer(json(200, report('portfolio-intelligence', { producer: 'main-b' })));
  const back = await (async () => {
    const polled = await poll(restarted, b);
    const processes = map.view(polled);
    const checks = [...alertChecks(observe(polled)), ...processes.checks];
    return stepAlerts(
      dead.step.state,
      { type: 'evaluation', at: '2025-01-01T00:00:20.000Z', checks },
      { graph: processes.graph },
    );
  })();
  t.deepEqual(
    back.events.map((e) => `${e.type} ${e.data.alertId}`),
    ['health.alert_cleared process:marketdata:down'],
  );
  t.deepEqual(back.state.active, {});
});
