/**
 * The HTTP edges of a running `main` (docs/architecture.md §14.2): bad input
 * is a 4xx JSON, a wrong method is 405 with `Allow`, an unauthenticated big
 * body is 401, and an internal error is a JSON 500 whose correlation id
 * finds its log line.
 */
import test from 'ava';
import { RISK_POLICY_SETTING } from '../src/actors/risk-safety/policy.js';
import { createKeys } from '../src/streams/keys.js';
import { waitFor } from './support/bus.js';
import { startMain } from './support/main-process.js';
import { redisRig } from './support/rig.js';

const TOKEN = 'an-admin-token-for-the-edges';
const json = { 'content-type': 'application/json' };

test('a running main answers bad edges: unknown symbol 422, wrong method 405, big unauthenticated body 401, a 500 that is logged', async (t) => {
  const { server, dataDir, prefix } = await redisRig(t, 'main-edges');
  const { run, port } = await startMain(t, ['--actors=marketdata,risk-safety'], {
    REDIS_URL: server.url,
    QT_DATA_DIR: dataDir,
    QT_KEY_PREFIX: prefix,
    QT_ADMIN_TOKEN: TOKEN,
    QT_FEED_TICKS_PER_SECOND: '20',
  });
  const md = `http://127.0.0.1:${port(8006)}`;
  const risk = `http://127.0.0.1:${port(8003)}`;
  const admin = { ...json, authorization: `Bearer ${TOKEN}` };
  await waitFor(
    async () => ((await (await fetch(`${md}/feed`)).json()) as { published: number }).published > 0,
    'ticks flowing',
    20_000,
    100,
  );

  // A well-formed symbol the feed does not tick.
  const unknown = await fetch(`${md}/scenario/flash-crash`, {
    method: 'POST',
    headers: admin,
    body: JSON.stringify({ symbol: 'DOGEUSDT', drop: 0.2 }),
  });
  t.is(unknown.status, 422);
  const answer = (await unknown.json()) as { error: string; known: string[] };
  t.is(answer.error, 'unknown_symbol');
  t.true(answer.known.includes('BTCUSDT'), JSON.stringify(answer));

  // A body that is not JSON, with the token.
  const notJson = await fetch(`${risk}/ess/trip`, { method: 'POST', headers: admin, body: '{"operator":' });
  t.is(notJson.status, 400);
  t.like(await notJson.json(), { error: 'invalid_body', code: 'FST_ERR_CTP_INVALID_JSON_BODY' });

  // Known paths, wrong methods.
  const wrong = await fetch(`${md}/scenario/flash-crash`);
  t.is(wrong.status, 405);
  t.is(wrong.headers.get('allow'), 'POST');
  t.is((await fetch(`${risk}/policy`, { method: 'DELETE' })).headers.get('allow'), 'GET, HEAD, PUT');

  // 2 MB to admin routes without the token: 401, not 413.
  const big = JSON.stringify({ operator: 'x', reason: 'y'.repeat(2 * 1024 * 1024) });
  for (const url of [`${risk}/ess/trip`, `${risk}/policy`, `${md}/scenario/flash-crash`]) {
    const res = await fetch(url, { method: url.endsWith('/policy') ? 'PUT' : 'POST', headers: json, body: big });
    t.is(res.status, 401, url);
    t.is(((await res.json()) as { error: string }).error, 'unauthorized', url);
  }
  t.is(((await (await fetch(`${risk}/ess`)).json()) as { state: string }).state, 'armed', 'nothing was tripped');

  // A stored policy that no longer loads: GET /policy fails inside, as a logged JSON 500.
  await server.client().set(createKeys(prefix).setting(RISK_POLICY_SETTING), '{"maxOpenOrders":"lots"}');
  const broken = await fetch(`${risk}/policy`, { headers: { 'X-Correlation-ID': 'corr-edges-500' } });
  t.is(broken.status, 500);
  const body = await broken.text();
  t.deepEqual(JSON.parse(body), {
    error: 'internal',
    message: 'internal error; the service log has it under this correlationId',
    correlationId: 'corr-edges-500',
  });
  t.notRegex(body, /\n\s+at |maxOpenOrders/, 'no stack or internals in the body');
  await waitFor(() => run.out().includes('corr-edges-500'), 'the 500 logged', 5_000);
  const line = run
    .out()
    .split('\n')
    .filter((l) => l.includes('corr-edges-500'))
    .map((l) => JSON.parse(l) as { level: number; status?: number; err?: { message: string } });
  t.is(line.length, 1, 'logged once');
  t.like(line[0], { level: 50, status: 500 });
  t.regex(line[0]?.err?.message ?? '', /risk policy at .* is invalid/);

  run.child.kill('SIGTERM');
  t.is(await run.exit, 0);
});
