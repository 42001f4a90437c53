/**
 * The system status rules (docs/architecture.md §12) as one pure function,
 * shared by `qt check` and the monitoring service: one test per rule, plus
 * the one-line form `qt check` prints.
 */
import test from 'ava';
import { staleFeed } from '../../../src/actors/monitoring/probes.js';
import {
  alertChecks,
  observeService,
  type ServiceObservation,
  type SystemObservation,
  statusLine,
  systemHealth,
  systemStatus,
} from '../../../src/actors/monitoring/system-status.js';

const up = (service: string, critical: boolean, extra: Partial<ServiceObservation> = {}): ServiceObservation => ({
  service,
  critical,
  status: 'OK',
  latencyMs: 5,
  ...extra,
});

/** A healthy system: two critical services, one not, Redis OK, the ESS armed. */
function healthy(change: Partial<SystemObservation> = {}): SystemObservation {
  return {
    services: [up('risk-safety', true), up('execution', true), up('ai-engine', false)],
    infrastructure: [{ name: 'redis', status: 'OK' }],
    ess: { known: true, state: 'armed' },
    ...change,
  };
}

const withService = (service: ServiceObservation): SystemObservation =>
  healthy({
    services: healthy().services.map((s) => (s.service === service.service ? service : s)),
  });

test('everything up and the ESS armed is OK, and the line says what was looked at', (t) => {
  const observation = healthy();
  const verdict = systemStatus(observation);
  t.deepEqual(verdict, { status: 'OK', findings: [] });
  t.is(statusLine(observation, verdict), 'OK: 3 services OK, redis OK, ESS armed');
});

test('a critical service DOWN is CRITICAL, naming it and why', (t) => {
  const observation = withService(
    up('risk-safety', true, { status: 'DOWN', error: 'connect ECONNREFUSED 127.0.0.1:8003', latencyMs: null }),
  );
  const verdict = systemStatus(observation);
  t.is(verdict.status, 'CRITICAL');
  t.deepEqual(verdict.findings, [
    { level: 'CRITICAL', source: 'risk-safety', message: 'risk-safety DOWN (connect ECONNREFUSED 127.0.0.1:8003)' },
  ]);
  t.is(statusLine(observation, verdict), 'CRITICAL: risk-safety DOWN (connect ECONNREFUSED 127.0.0.1:8003)');
});

test('a non-critical service DOWN is DEGRADED', (t) => {
  const verdict = systemStatus(withService(up('ai-engine', false, { status: 'DOWN', error: 'timeout' })));
  t.is(verdict.status, 'DEGRADED');
  t.deepEqual(
    verdict.findings.map((f) => f.message),
    ['ai-engine DOWN (timeout)'],
  );
});

test('a service DEGRADED is DEGRADED, critical or not', (t) => {
  for (const [service, critical] of [
    ['ai-engine', false],
    ['execution', true],
  ] as const) {
    const verdict = systemStatus(
      withService(up(service, critical, { status: 'DEGRADED', error: 'disk_buffer DEGRADED' })),
    );
    t.is(verdict.status, 'DEGRADED', service);
    t.deepEqual(verdict.findings, [
      { level: 'DEGRADED', source: service, message: `${service} DEGRADED (disk_buffer DEGRADED)` },
    ]);
  }
});

test('infrastructure DOWN is CRITICAL, DEGRADED is DEGRADED', (t) => {
  const down = systemStatus(healthy({ infrastructure: [{ name: 'redis', status: 'DOWN', error: 'ECONNREFUSED' }] }));
  t.is(down.status, 'CRITICAL');
  t.deepEqual(
    down.findings.map((f) => f.message),
    ['redis DOWN (ECONNREFUSED)'],
  );
  const slow = systemStatus(healthy({ infrastructure: [{ name: 'redis', status: 'DEGRADED', error: '250 ms' }] }));
  t.is(slow.status, 'DEGRADED');
});

test('the ESS tripped or awaiting a reset is CRITICAL, naming what tripped it', (t) => {
  const tripped = systemStatus(
    healthy({ ess: { known: true, state: 'tripped', trip: { trigger: 'flash_crash', reason: 'BTCUSDT -16%' } } }),
  );
  t.is(tripped.status, 'CRITICAL');
  t.deepEqual(
    tripped.findings.map((f) => f.message),
    ['ESS tripped (flash_crash)'],
  );
  const waiting = systemStatus(
    healthy({
      ess: { known: true, state: 'awaitingReset', trip: { trigger: 'manual', reason: 'drill', operator: 'alice' } },
    }),
  );
  t.is(waiting.status, 'CRITICAL');
  t.deepEqual(
    waiting.findings.map((f) => f.message),
    ['ESS awaitingReset (manual by alice)'],
  );
});

test('the ESS reducing is DEGRADED; an unreadable projection is CRITICAL; not observed judges nothing', (t) => {
  const reducing = systemStatus(
    healthy({ ess: { known: true, state: 'reducing', trip: { trigger: 'drawdown_soft', reason: '5%' } } }),
  );
  t.is(reducing.status, 'DEGRADED');
  t.deepEqual(
    reducing.findings.map((f) => f.message),
    ['ESS reducing (drawdown_soft)'],
  );
  const unknown = systemStatus(healthy({ ess: { known: false, error: 'the projection is not valid JSON' } }));
  t.is(unknown.status, 'CRITICAL');
  t.is(systemStatus(healthy({ ess: null })).status, 'OK');
});

test('the average /health latency over 1 s is DEGRADED, over 5 s CRITICAL; services that did not answer do not count', (t) => {
  const latency = (ms: readonly number[]) =>
    systemStatus(
      healthy({
        services: [
          ...ms.map((latencyMs, i) => up(`s${i}`, false, { latencyMs })),
          up('gone', false, { status: 'DOWN', latencyMs: null }),
        ],
      }),
    );
  t.is(latency([900, 1_000]).findings.filter((f) => f.source === 'latency').length, 0, 'at 950 ms: fine');
  const slow = latency([1_500, 1_000]);
  t.true(
    slow.findings.some((f) => f.level === 'DEGRADED' && f.message === 'average /health latency 1250 ms (over 1000 ms)'),
  );
  const critical = latency([6_000, 5_000]);
  t.is(critical.status, 'CRITICAL');
  t.true(critical.findings.some((f) => f.source === 'latency' && f.level === 'CRITICAL'));
});

test('CRITICAL findings come first whatever the order observed, and the line joins them all', (t) => {
  const observation = healthy({
    services: [
      up('ai-engine', false, { status: 'DOWN', error: 'timeout' }),
      up('risk-safety', true, { status: 'DOWN', error: 'connect ECONNREFUSED 127.0.0.1:8003' }),
    ],
    ess: { known: true, state: 'tripped', trip: { trigger: 'flash_crash', reason: 'x' } },
  });
  const verdict = systemStatus(observation);
  t.is(verdict.status, 'CRITICAL');
  t.deepEqual(
    verdict.findings.map((f) => f.level),
    ['CRITICAL', 'CRITICAL', 'DEGRADED'],
  );
  t.is(
    statusLine(observation, verdict),
    'CRITICAL: risk-safety DOWN (connect ECONNREFUSED 127.0.0.1:8003); ESS tripped (flash_crash); ai-engine DOWN (timeout)',
  );
});

// monitoring-health's table (docs/monitoring.md, "Aggregation"): one test per row, with the counts.

/** The full observation monitoring-health makes: redis, exchange and postgres, and a probe. */
function full(change: Partial<SystemObservation> = {}): SystemObservation {
  return healthy({
    infrastructure: [
      { name: 'redis', status: 'OK', latencyMs: 2 },
      { name: 'exchange', status: 'OK', latencyMs: 40 },
      { name: 'postgres', status: 'OK', latencyMs: 3 },
    ],
    probes: [staleFeed({ symbol: 'BTCUSDT', lastTickAt: 9_000, now: 10_000 })],
    ...change,
  });
}

test('row: all services OK, all infrastructure OK, average latency under 1 s is OK, with the counts', (t) => {
  t.deepEqual(systemHealth(full()), {
    status: 'OK',
    findings: [],
    counts: {
      services: { ok: 3, degraded: 0, down: 0 },
      infrastructure: { ok: 3, degraded: 0, down: 0 },
      critical_failures: 0,
      average_latency_ms: 5,
      max_latency_ms: 5,
    },
  });
});

test('row: a non-critical service DOWN or DEGRADED is DEGRADED', (t) => {
  for (const status of ['DOWN', 'DEGRADED'] as const) {
    const h = systemHealth({ ...full(), services: withService(up('ai-engine', false, { status })).services });
    t.is(h.status, 'DEGRADED', status);
    t.is(h.counts.critical_failures, 0);
    t.is(h.counts.services[status === 'DOWN' ? 'down' : 'degraded'], 1);
  }
});

test('row: infrastructure DEGRADED is DEGRADED', (t) => {
  const h = systemHealth(
    full({
      infrastructure: [
        { name: 'redis', status: 'OK' },
        { name: 'exchange', status: 'DEGRADED', error: 'weight 85%', latencyMs: 900 },
      ],
    }),
  );
  t.is(h.status, 'DEGRADED');
  t.deepEqual(h.counts.infrastructure, { ok: 1, degraded: 1, down: 0 });
  t.deepEqual(h.findings, [{ level: 'DEGRADED', source: 'exchange', message: 'exchange DEGRADED (weight 85%)' }]);
});

test('row: average latency over 1 s and under 5 s is DEGRADED', (t) => {
  const h = systemHealth(
    full({ services: [up('a', false, { latencyMs: 1_200 }), up('b', true, { latencyMs: 2_800 })] }),
  );
  t.is(h.status, 'DEGRADED');
  t.is(h.counts.average_latency_ms, 2_000);
  t.is(h.counts.max_latency_ms, 2_800);
});

test('row: a critical service DOWN is CRITICAL', (t) => {
  const h = systemHealth({
    ...full(),
    services: withService(up('execution', true, { status: 'DOWN', latencyMs: null, error: 'timeout' })).services,
  });
  t.is(h.status, 'CRITICAL');
  t.is(h.counts.critical_failures, 1);
  t.is(h.counts.services.down, 1);
});

test('row: any infrastructure DOWN is CRITICAL', (t) => {
  for (const name of ['redis', 'exchange', 'postgres']) {
    const h = systemHealth(
      full({
        infrastructure: full().infrastructure.map((i) => (i.name === name ? { name, status: 'DOWN' as const } : i)),
      }),
    );
    t.is(h.status, 'CRITICAL', name);
    t.is(h.counts.infrastructure.down, 1);
  }
});

test('row: average latency over 5 s is CRITICAL', (t) => {
  const h = systemHealth(
    full({ services: [up('a', false, { latencyMs: 5_500 }), up('b', true, { latencyMs: 6_500 })] }),
  );
  t.is(h.status, 'CRITICAL');
  t.is(h.counts.critical_failures, 1);
});

test('row: the ESS tripped is CRITICAL', (t) => {
  const h = systemHealth(
    full({ ess: { known: true, state: 'tripped', trip: { trigger: 'flash_crash', reason: 'x' } } }),
  );
  t.is(h.status, 'CRITICAL');
  t.deepEqual(
    h.findings.map((f) => f.source),
    ['ess'],
  );
});

test('a trading probe DOWN is CRITICAL and DEGRADED is DEGRADED, with its reason', (t) => {
  const stale = systemHealth(full({ probes: [staleFeed({ symbol: 'BTCUSDT', lastTickAt: 0, now: 40_000 })] }));
  t.is(stale.status, 'CRITICAL');
  t.deepEqual(stale.findings, [
    { level: 'CRITICAL', source: 'marketdata', message: 'BTCUSDT: last tick 40000 ms ago (over 30000 ms)' },
  ]);
  t.is(
    systemHealth(full({ probes: [staleFeed({ symbol: 'BTCUSDT', lastTickAt: 0, now: 6_000 })] })).status,
    'DEGRADED',
  );
});

test('a polled report or an unreachable service becomes an observation naming what is wrong', (t) => {
  const report = {
    service: 'execution',
    status: 'DEGRADED' as const,
    version: '1',
    timestamp: '2025-01-01T00:00:00.000Z',
    uptime_seconds: 5,
    dependencies: {
      redis: { status: 'OK' as const, latency_ms: 1, critical: true },
      disk_buffer: { status: 'DEGRADED' as const, latency_ms: null, critical: false, error: '12 events buffered' },
    },
    metrics: {},
  };
  t.deepEqual(observeService('execution', true, { reached: true, report, latencyMs: 12 }), {
    service: 'execution',
    critical: true,
    status: 'DEGRADED',
    error: 'disk_buffer DEGRADED: 12 events buffered',
    latencyMs: 12,
  });
  t.deepEqual(observeService('ai-engine', false, { reached: false, error: 'connect ECONNREFUSED' }), {
    service: 'ai-engine',
    critical: false,
    status: 'DOWN',
    error: 'connect ECONNREFUSED',
    latencyMs: null,
  });
});

test('alertChecks lists every condition, healthy ones too, at the alert level the rules give', (t) => {
  const checks = alertChecks(
    full({
      services: [
        up('execution', true, { status: 'DOWN' }),
        up('ai-engine', false, { status: 'DOWN' }),
        up('rl-training', false),
      ],
      ess: { known: true, state: 'tripped', trip: { trigger: 'manual', reason: 'drill', operator: 'alice' } },
    }),
  );
  const levels = Object.fromEntries(checks.map((c) => [`${c.component}:${c.condition}`, c.level]));
  t.deepEqual(levels, {
    'execution:health': 'CRITICAL',
    'ai-engine:health': 'WARNING',
    'rl-training:health': null,
    'redis:health': null,
    'exchange:health': null,
    'postgres:health': null,
    'services:latency': null,
    'marketdata:stale_feed:BTCUSDT': null,
    'ess:state': 'CRITICAL',
  });
});
