/**
 * The system status rules (docs/architecture.md §12) as one pure function,
 * shared by `qt check` and the monitoring service: one test per rule, plus
 * the one-line form `qt check` prints.
 */
import test from 'ava';
import {
  type ServiceObservation,
  type SystemObservation,
  statusLine,
  systemStatus,
} from '../../src/ops/system-status.js';

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
