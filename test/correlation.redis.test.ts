/**
 * One correlation id across processes: an operator's `POST /ess/trip` to
 * risk-safety (one `main`) carries `X-Correlation-ID`; the `ess` events it
 * publishes carry that id, and so do the log lines of both risk-safety and
 * execution (another `main`, sharing only Redis) while they handle it.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { decodeEntry } from '../src/streams/codec.js';
import { createKeys } from '../src/streams/keys.js';
import { uniquePrefix, waitFor } from './support/bus.js';
import { type MainProcess, startMain } from './support/main-process.js';
import { startRedis } from './support/redis-fixture.js';

const TOKEN = 'a-correlation-admin-token';

/** The JSON log lines a `main` printed so far. */
function logLines(run: MainProcess): Record<string, unknown>[] {
  return run
    .out()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('an HTTP request’s correlation id is in the events published and in the logs of two services in two processes', async (t) => {
  const server = await startRedis({ name: 'correlation' });
  const dataDirs = [await mkdtemp(join(tmpdir(), 'qt-corr-risk-')), await mkdtemp(join(tmpdir(), 'qt-corr-exec-'))];
  t.teardown(async () => {
    await server.stop();
    for (const dir of dataDirs) await rm(dir, { recursive: true, force: true });
  });
  const prefix = uniquePrefix('corr');
  const shared = { REDIS_URL: server.url, QT_KEY_PREFIX: prefix, QT_ADMIN_TOKEN: TOKEN, QT_SUMMARY_INTERVAL_MS: '0' };
  // Two processes, one service each, sharing nothing but Redis.
  const [risk, exec] = await Promise.all([
    startMain(t, ['--actors=risk-safety'], {
      ...shared,
      QT_DATA_DIR: dataDirs[0] as string,
      QT_PRODUCER_ID: 'corr-risk',
    }),
    startMain(t, ['--actors=execution'], {
      ...shared,
      QT_DATA_DIR: dataDirs[1] as string,
      QT_PRODUCER_ID: 'corr-exec',
    }),
  ]);

  const correlationId = `corr-e2e-${randomUUID()}`;
  const trip = await fetch(`http://127.0.0.1:${risk.port(8003)}/ess/trip`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${TOKEN}`,
      'content-type': 'application/json',
      'X-Correlation-ID': correlationId,
    },
    body: JSON.stringify({ operator: 'alice', reason: 'correlation test' }),
  });
  t.is(trip.status, 200, await trip.clone().text());
  t.is(trip.headers.get('x-correlation-id'), correlationId);
  t.like(await trip.json(), { state: 'tripped' });

  // (b) The events risk-safety published for the request carry the id.
  const redis = server.client();
  const ess = (await redis.xrange(createKeys(prefix).stream('ess'), '-', '+')).map(([, f]) => decodeEntry(f));
  const tripped = ess.find((e) => e.type === 'ess.tripped');
  t.like(tripped, { correlationId, source: 'risk-safety', data: { operator: 'alice', trigger: 'manual' } });
  const changed = ess.find((e) => e.type === 'ess.state_changed');
  t.like(changed, { correlationId, data: { to: 'tripped' } });

  // (a) risk-safety logged inside the request with the id…
  const tagged = (run: MainProcess) => logLines(run).filter((l) => l.correlationId === correlationId);
  t.true(
    tagged(risk.run).some((l) => l.msg === 'ESS tripped by an operator'),
    JSON.stringify(tagged(risk.run)),
  );
  // …and execution, another process, logged with it while handling the `ess.tripped` event from Redis.
  await waitFor(
    () => tagged(exec.run).some((l) => l.msg === 'ESS tripped: cancelling resting orders, holding new ones'),
    'execution logging the trip with its correlation id',
    20_000,
    50,
  );
  t.like(
    tagged(exec.run).find((l) => l.msg?.toString().startsWith('ESS tripped')),
    { correlationId, trigger: 'manual' },
  );

  // Lines written outside any request or handler carry no correlation id.
  for (const run of [risk.run, exec.run]) {
    const started = logLines(run).find((l) => l.msg === 'runtime started');
    t.truthy(started);
    t.false(started !== undefined && 'correlationId' in started);
  }
  // Nothing but the request's and the handler's work carries it.
  t.deepEqual(
    tagged(risk.run).map((l) => l.msg),
    ['ESS tripped by an operator'],
  );

  risk.run.child.kill('SIGTERM');
  exec.run.child.kill('SIGTERM');
  t.is(await risk.run.exit, 0);
  t.is(await exec.run.exit, 0);
});
