/**
 * The gateway's rate limits measured with a load generator against the real
 * nginx in front of a real `main --actors=all`: the general limit (a GET
 * at 300 r/s for 3 s), the execution limit (100 r/s for 3 s), and the
 * trading-operations limit (state-changing requests at 50 r/s for 3 s):
 * about rate × seconds + burst pass, the rest are 429 with a JSON body and
 * Retry-After. While the trading flood is being limited, reads on the same
 * service still pass and the operator's ESS trip and flatten get through.
 * Bounds are generous (the figures are logged); the shape is what is
 * checked. Skipped only when nginx is not installed.
 */
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import { loadGatewaySettings } from '../../scripts/gateway/settings.js';
import { SERVICE_NAMES } from '../../src/actors/services.js';
import { NGINX } from '../support/nginx.js';
import { describeLoad, generateLoad, type LoadResult } from '../support/nginx-load.js';
import { type GatewayRig, startGatewayRig } from '../support/nginx-rig.js';

const TOKEN = 'a-gateway-limits-admin-token';
const { limits } = loadGatewaySettings();

const test = anyTest as TestFn<GatewayRig>;
const serial = NGINX === undefined ? test.serial.skip : test.serial;
if (NGINX === undefined) test.skip('gateway limit tests: skipped, nginx is not installed', () => {});

test.before(async (t) => {
  if (NGINX === undefined) return;
  t.context = await startGatewayRig(t, 'gateway-limits', {
    actors: 'all',
    healthy: SERVICE_NAMES,
    env: { QT_ADMIN_TOKEN: TOKEN },
  });
});
test.after.always(async (t) => t.context.close?.());

/** Long enough for every bucket used before to drain (the slowest, trading, empties in burst / rate s). */
const drained = () => new Promise((resolve) => setTimeout(resolve, 1_500));

/**
 * Checks a load against a limit: the passes near rate × seconds + burst
 * (from 0.6× to 1.2× of it, plus a little), every other answer a
 * well-formed 429, none lost, and the load really was above the limit.
 */
function checkLimited(
  t: ExecutionContext<unknown>,
  r: LoadResult,
  passStatus: number,
  limit: { rate: number; burst: number },
): void {
  const expected = limit.rate * (r.sendingMs / 1000) + limit.burst;
  const passed = r.byStatus[passStatus] ?? 0;
  const limited = r.byStatus[429] ?? 0;
  t.true(r.achievedRate > limit.rate * 2, `the load (${r.achievedRate.toFixed(0)} r/s) was well above the limit`);
  t.is(r.failed, 0, `no request without an answer: ${r.firstError}`);
  t.is(passed + limited, r.sent, `only ${passStatus}s and 429s: ${JSON.stringify(r.byStatus)}`);
  t.true(
    passed >= expected * 0.6 && passed <= expected * 1.2 + 5,
    `${passed} passed, about ${expected.toFixed(0)} expected`,
  );
  t.is(r.wellFormed429, limited, 'every 429 has a JSON body and Retry-After');
}

serial('general limit: 300 r/s for 3 s on a read passes about 100 r/s × 3 s + burst 20, the rest 429', async (t) => {
  await drained();
  const r = await generateLoad({
    url: `${t.context.gateway.url}/api/marketdata/feed`,
    ratePerSecond: 300,
    durationMs: 3_000,
  });
  t.log(describeLoad('general, GET /api/marketdata/feed', r));
  checkLimited(t, r, 200, limits.general);
});

serial('execution limit: 100 r/s for 3 s on /api/execution/ passes about 20 r/s × 3 s + burst', async (t) => {
  await drained();
  const r = await generateLoad({
    url: `${t.context.gateway.url}/api/execution/balances`,
    ratePerSecond: 100,
    durationMs: 3_000,
  });
  t.log(describeLoad('execution, GET /api/execution/balances', r));
  checkLimited(t, r, 200, limits.execution);
});

serial(
  'a flood of trading operations (50 r/s) is limited to 10 r/s; reads, the ESS trip and flatten still get through',
  async (t) => {
    const { gateway, main } = t.context;
    await drained();
    // PUT /policy changes what orders may go out: a trading operation. Without a token the passes are the service's 401.
    const flood = generateLoad({
      url: `${gateway.url}/api/risk/policy`,
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ maxPositionUsd: 1 }),
      // Five times the trading limit, half the general one: only the trading zone limits it.
      ratePerSecond: 50,
      durationMs: 3_000,
    });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const operator = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
    const during = async (path: string, init: RequestInit = {}) => {
      const res = await fetch(`${gateway.url}${path}`, init);
      return { status: res.status, body: await res.text() };
    };
    // A read on the same service, and the same trading operation with the operator's token: limited like any other.
    const read = await during('/api/risk/ess');
    // Five at once: at most one can find a slot freed in the full bucket.
    const withToken = await Promise.all(
      Array.from({ length: 5 }, () => during('/api/risk/policy', { method: 'PUT', headers: operator, body: '{}' })),
    );
    const withTokenStatuses = withToken.map((a) => a.status);
    const trip = await during('/api/risk/ess/trip', {
      method: 'POST',
      headers: operator,
      body: JSON.stringify({ operator: 'gateway-test', reason: 'kill switch under a trading flood' }),
    });
    const flatten = await during('/api/risk/ess/flatten', {
      method: 'POST',
      headers: operator,
      body: JSON.stringify({ operator: 'gateway-test', reason: 'flatten under a trading flood' }),
    });
    const r = await flood;
    t.log(describeLoad('trading, PUT /api/risk/policy', r));
    t.log(
      `during the flood: GET /ess ${read.status}, PUT /policy with token ${withTokenStatuses}, trip ${trip.status}, flatten ${flatten.status}`,
    );
    checkLimited(t, r, 401, limits.trading);
    t.is(read.status, 200, read.body);
    const limitedWithToken = withTokenStatuses.filter((s) => s === 429).length;
    t.true(limitedWithToken >= 4, 'the trading zone does not care who asks');
    t.true([200, 202].includes(trip.status), `trip: ${trip.status} ${trip.body}`);
    t.true([200, 202].includes(flatten.status), `flatten: ${flatten.status} ${flatten.body}`);
    const ess = (await (await fetch(`${gateway.url}/api/risk/ess`)).json()) as { state?: string };
    t.is(ess.state, 'tripped');
    t.regex(main.run.out(), /kill switch under a trading flood/);
  },
);

serial('the kill switch has its own bounded allowance per token', async (t) => {
  const { gateway } = t.context;
  await drained();
  const trips = await Promise.all(
    Array.from({ length: 30 }, () =>
      fetch(`${gateway.url}/api/risk/ess/trip`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ operator: 'gateway-test', reason: 'many trips at once' }),
      }).then(async (res) => {
        await res.text();
        return res.status;
      }),
    ),
  );
  const passed = trips.filter((s) => s === 200 || s === 202).length;
  const limited = trips.filter((s) => s === 429).length;
  t.log(`30 trips at once: ${passed} passed, ${limited} limited (burst ${limits.killSwitch.burst})`);
  t.is(passed + limited, 30, JSON.stringify(trips));
  t.true(passed >= limits.killSwitch.burst && passed <= limits.killSwitch.burst + 3, `${passed} passed`);
  // Another token has its own bucket: the service answers it (401), the gateway does not limit it.
  const other = await fetch(`${gateway.url}/api/risk/ess/trip`, {
    method: 'POST',
    headers: { authorization: 'Bearer some-other-token-value', 'content-type': 'application/json' },
    body: '{}',
  });
  t.is(other.status, 401);
});
