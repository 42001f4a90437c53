/**
 * PostgreSQL in monitoring-health's infrastructure list (src/actors/monitoring/probe-postgres.ts), on a
 * server of the test's own: the probe OK, DEGRADED when slow (the server SIGSTOPped for 400 ms), DOWN when
 * it does not answer or is gone, OK when back; not configured with the SQLite store. Judged non-critical:
 * postgres DOWN makes the system DEGRADED (a WARNING alert), Redis DOWN still CRITICAL. Then a real
 * `main --actors=monitoring-health` with QT_TRADE_STORE=postgres: `postgres` OK in /health/system, DOWN
 * once the server is stopped, and the DATABASE_URL password in no output and no event.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import {
  POSTGRES_SLOW_MS,
  PostgresProbe,
  postgresProbeFromConfig,
} from '../../../src/actors/monitoring/probe-postgres.js';
import { alertChecks, systemStatus } from '../../../src/actors/monitoring/system-status.js';
import { loadConfig } from '../../../src/config/load.js';
import type { PostgresStoreConfig } from '../../../src/config/trade-store.js';
import { decodeEntry } from '../../../src/streams/codec.js';
import { waitFor } from '../../support/bus.js';
import { freePortOffset } from '../../support/main-process.js';
import { monitoringApi, startMainAt, stopMain } from '../../support/monitoring.js';
import { startPostgres } from '../../support/pg-fixture.js';
import { redisRig } from '../../support/rig.js';

const PASSWORD = 'monitoring-pw-never-shown';

function settings(url: string): PostgresStoreConfig {
  return {
    databaseUrl: url,
    migrationUrl: url,
    poolMax: 1,
    connectTimeoutMs: 500,
    idleTimeoutMs: 30_000,
    queryTimeoutMs: 5_000,
    retry: { baseMs: 250, maxMs: 10_000 },
  };
}

test.serial('the probe: OK, DEGRADED when slow, DOWN unanswered or gone, OK when back', async (t) => {
  const server = await startPostgres({ name: 'probe-postgres' });
  const probe = new PostgresProbe(settings(server.url.replace('postgres@', `postgres:${PASSWORD}@`)));
  t.teardown(async () => {
    server.resume();
    await probe.close();
    await server.stop();
  });

  const ok = await probe.probe({ timeoutMs: 1_000 });
  t.like(ok, {
    name: 'postgres',
    status: 'OK',
    critical: false,
    details: { database: `127.0.0.1:${server.port}/postgres` },
  });
  t.true((ok.latencyMs ?? Infinity) <= POSTGRES_SLOW_MS);

  server.pause();
  const slow = probe.probe({ timeoutMs: 2_000 });
  await sleep(400);
  server.resume();
  const degraded = await slow;
  t.like(degraded, { status: 'DEGRADED', critical: false });
  t.regex(degraded.error ?? '', /^SELECT 1 took \d+ ms \(over 200 ms\)$/);

  server.pause();
  const unanswered = await probe.probe({ timeoutMs: 500 });
  server.resume();
  t.like(unanswered, { status: 'DOWN', latencyMs: null, error: 'SELECT 1: no answer within 500 ms' });

  await server.kill();
  const down = await probe.probe({ timeoutMs: 1_000 });
  t.like(down, { status: 'DOWN', latencyMs: null, critical: false });
  t.truthy(down.error);
  t.false(JSON.stringify(down).includes(PASSWORD));

  await server.restart();
  await waitFor(async () => (await probe.probe({ timeoutMs: 1_000 })).status === 'OK', 'OK again', 10_000);
});

test('configured with the PostgreSQL or the dual store only', (t) => {
  t.is(postgresProbeFromConfig(loadConfig({})), undefined);
  t.is(postgresProbeFromConfig(loadConfig({ DATABASE_URL: 'postgres://db/qt' })), undefined, 'SQLite ignores the URL');
  for (const store of ['postgres', 'dual']) {
    const probe = postgresProbeFromConfig(
      loadConfig({ QT_TRADE_STORE: store, DATABASE_URL: 'postgres://u:p@db:6432/qt' }),
    );
    t.is(probe?.label, 'db:6432/qt');
    void probe?.close();
  }
});

test('postgres DOWN makes the system DEGRADED (a warning), not CRITICAL; Redis DOWN still does', (t) => {
  const services = [{ service: 'execution', critical: true, status: 'DEGRADED' as const, error: 'postgres DOWN' }];
  const postgresDown = {
    services,
    infrastructure: [
      { name: 'redis', status: 'OK' as const },
      { name: 'postgres', status: 'DOWN' as const, critical: false, error: 'connect ECONNREFUSED' },
    ],
    ess: null,
  };
  const verdict = systemStatus(postgresDown);
  t.is(verdict.status, 'DEGRADED');
  t.deepEqual(
    verdict.findings.find((f) => f.source === 'postgres'),
    { level: 'DEGRADED', source: 'postgres', message: 'postgres DOWN (connect ECONNREFUSED)' },
  );
  t.is(alertChecks(postgresDown).find((c) => c.component === 'postgres')?.level, 'WARNING');
  const redisDown = { ...postgresDown, infrastructure: [{ name: 'redis', status: 'DOWN' as const }] };
  t.is(systemStatus(redisDown).status, 'CRITICAL');
  t.is(alertChecks(redisDown).find((c) => c.component === 'redis')?.level, 'CRITICAL');
});

test.serial(
  'main --actors=monitoring-health on the PostgreSQL store: postgres OK, then DOWN once stopped',
  async (t) => {
    t.timeout(120_000);
    const rig = await redisRig(t, 'monitoring-postgres');
    const server = await startPostgres({ name: 'monitoring-postgres' });
    t.teardown(() => server.stop());
    const url = (await server.createDatabase('qt')).replace('postgres@', `postgres:${PASSWORD}@`);
    const offset = await freePortOffset([rig.server.port, server.port]);
    const run = await startMainAt(t, 'monitoring-health', {
      ...rig.env,
      QT_HTTP_PORT_OFFSET: String(offset),
      QT_HEALTH_INTERVAL_MS: '1000',
      QT_HEALTH_TIMEOUT_MS: '800',
      QT_SUMMARY_INTERVAL_MS: '0',
      QT_TRADE_STORE: 'postgres',
      DATABASE_URL: url,
      QT_PG_CONNECT_TIMEOUT_MS: '500',
    });
    const api = monitoringApi(`http://127.0.0.1:${8080 + offset}`);
    await waitFor(
      // Before the first cycle the API answers 503 without components.
      async () => (await api.system().catch(() => undefined))?.components?.infrastructure.postgres?.status === 'OK',
      'postgres OK',
      30_000,
      200,
    );
    const up = await api.system();
    t.like(up.components.infrastructure.postgres, { status: 'OK', error: null });

    await server.stop();
    await waitFor(
      async () => (await api.system()).components.infrastructure.postgres?.status === 'DOWN',
      'postgres DOWN',
      30_000,
      200,
    );
    const down = await api.system();
    t.truthy(down.components.infrastructure.postgres?.error);
    t.like(
      down.findings.find((f) => f.source === 'postgres'),
      { level: 'DEGRADED', message: `postgres DOWN (${down.components.infrastructure.postgres?.error})` },
    );

    t.is(await stopMain(run), 0);
    t.false(run.out().includes(PASSWORD), 'the password is in the output');
    const entries = await rig.server.client().xrange(rig.keys.stream('health'), '-', '+');
    const snapshots = entries.map(([, f]) => decodeEntry(f)).filter((e) => e.type === 'health.snapshot_updated');
    t.true(
      snapshots.some((e) => (e.data as { infrastructure?: Record<string, unknown> }).infrastructure?.postgres),
      'the snapshots name postgres',
    );
    t.false(JSON.stringify(entries).includes(PASSWORD), 'the password is in an event');
  },
);
