/**
 * The ESS across a SIGKILL (docs/architecture.md §9.5: "after any restart the ESS comes
 * back in the state it was in, with its remaining cooldown"), and its HTTP
 * commands: authenticated, validated, audited as events. Real main processes,
 * real Redis.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { decodeEntry } from '../../../src/streams/codec.js';
import { createKeys } from '../../../src/streams/keys.js';
import { uniquePrefix, waitFor } from '../../support/bus.js';
import { getFreePort } from '../../support/free-port.js';
import { type MainProcess, spawnMain } from '../../support/main-process.js';
import { type RedisServer, startRedis } from '../../support/redis-fixture.js';

const TOKEN = 'an-admin-token-for-tests';
const COOLDOWN_MS = 4_000;

let server: RedisServer;
test.before(async () => {
  server = await startRedis({ name: 'ess-restart' });
});
test.after.always(() => server?.stop());

async function startRiskSafety(env: Record<string, string>, port: number): Promise<MainProcess> {
  const run = spawnMain(['--actors=risk-safety'], { ...env, QT_HTTP_PORT_OFFSET: String(port - 8003) });
  await waitFor(
    () => run.out().includes('runtime started') || run.child.exitCode !== null,
    'risk-safety started',
    30_000,
  );
  if (run.child.exitCode !== null) throw new Error(`main exited early:\n${run.out()}`);
  return run;
}

const post = (url: string, body: unknown, token?: string) =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });

test.serial(
  'trip, SIGKILL, restart: still tripped with the same cooldown; reset refused before it ends, accepted after',
  async (t) => {
    const dataDir = await mkdtemp(join(tmpdir(), 'qt-ess-'));
    t.teardown(() => rm(dataDir, { recursive: true, force: true }));
    const prefix = uniquePrefix('ess');
    const port = await getFreePort();
    const env = {
      REDIS_URL: server.url,
      QT_DATA_DIR: dataDir,
      QT_KEY_PREFIX: prefix,
      QT_PRODUCER_ID: 'risk-1',
      QT_ADMIN_TOKEN: TOKEN,
      QT_ESS_COOLDOWN_MS: String(COOLDOWN_MS),
    };
    const base = `http://127.0.0.1:${port}`;
    const first = await startRiskSafety(env, port);
    t.teardown(() => first.child.kill('SIGKILL'));
    t.is(((await (await fetch(`${base}/ess`)).json()) as { state: string }).state, 'armed');

    // Guards: no token, bad token, bad body; nothing may change.
    t.is((await post(`${base}/ess/trip`, { operator: 'ops', reason: 'test' })).status, 401);
    t.is((await post(`${base}/ess/trip`, { operator: 'ops', reason: 'test' }, 'not-the-token-at-all')).status, 401);
    const bad = await post(`${base}/ess/trip`, { operator: '', reasons: 'typo' }, TOKEN);
    t.is(bad.status, 400);
    const badBody = (await bad.json()) as { issues: { path: string[] }[]; unknownFields: string[] };
    t.deepEqual(badBody.unknownFields, ['reasons'], 'the unknown field is named');
    t.deepEqual(badBody.issues.flatMap((i) => i.path.slice(0, 1)).sort(), ['operator', 'reason']);
    t.is(((await (await fetch(`${base}/ess`)).json()) as { state: string }).state, 'armed', 'nothing applied');

    const tripped = (await (await post(`${base}/ess/trip`, { operator: 'ops', reason: 'drill' }, TOKEN)).json()) as {
      state: string;
      cooldownUntil: string;
    };
    t.is(tripped.state, 'tripped');
    const redis = server.client();
    const projection = JSON.parse((await redis.get(createKeys(prefix).projection('ess'))) ?? '{}');
    t.like(projection, { state: 'tripped', cooldownUntil: tripped.cooldownUntil }, 'projected for execution to check');

    first.child.kill('SIGKILL');
    await first.exit;
    const second = await startRiskSafety(env, port);
    t.teardown(() => second.child.kill('SIGKILL'));
    const after = (await (await fetch(`${base}/ess`)).json()) as {
      state: string;
      cooldownUntil: string;
      remainingCooldownMs: number;
    };
    t.is(after.state, 'tripped', 'never silently armed after a restart');
    t.is(after.cooldownUntil, tripped.cooldownUntil, 'same cooldown end');
    t.true(after.remainingCooldownMs > 0 && after.remainingCooldownMs <= COOLDOWN_MS);

    const early = await post(`${base}/ess/reset`, { operator: 'ops', reason: 'too soon' }, TOKEN);
    t.is(early.status, 409);
    t.like(await early.json(), { accepted: false, code: 'COOLDOWN_ACTIVE' });

    await waitFor(
      async () => ((await (await fetch(`${base}/ess`)).json()) as { state: string }).state === 'awaitingReset',
      'cooldown over',
      COOLDOWN_MS + 5_000,
      100,
    );
    const reset = await post(`${base}/ess/reset`, { operator: 'ops', reason: 'drill over' }, TOKEN);
    t.is(reset.status, 200);
    t.like(await reset.json(), { accepted: true, status: { state: 'armed' } });

    const audit = (await redis.xrange(createKeys(prefix).stream('ess'), '-', '+')).map(([, f]) => decodeEntry(f));
    // The trip's record and its direct send race, so the request may land before or after the trip.
    t.deepEqual(
      audit.filter((e) => e.type !== 'ess.trip_requested').map((e) => e.type),
      ['ess.tripped', 'ess.state_changed', 'ess.state_changed', 'ess.reset', 'ess.state_changed'],
      'every transition is an event, published once despite the SIGKILL',
    );
    t.like(
      audit.filter((e) => e.type === 'ess.trip_requested').map((e) => e.data),
      [{ operator: 'ops', reason: 'drill' }],
      'the request recorded once, and applied once',
    );
    second.child.kill('SIGTERM');
    t.is(await second.exit, 0);
  },
);
