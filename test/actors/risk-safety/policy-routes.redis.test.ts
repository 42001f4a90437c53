/**
 * `GET /policy` and `PUT /policy` (docs/architecture.md §10): authenticated, validated, a
 * refused request changes nothing, and an accepted one is stored in Redis and
 * audited as `risk.policy_updated` on the `risk` stream.
 */

import test from 'ava';
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import type { Redis } from 'ioredis';
import { DEFAULT_RISK_POLICY, PolicyStore, type RiskPolicy } from '../../../src/actors/risk-safety/policy.js';
import { registerPolicyRoutes } from '../../../src/actors/risk-safety/policy-routes.js';
import type { Envelope } from '../../../src/events/envelope.js';
import { adminGuard } from '../../../src/http/auth.js';
import { decodeEntry } from '../../../src/streams/codec.js';
import type { Keys } from '../../../src/streams/keys.js';
import { RedisPublisher } from '../../../src/streams/publisher.js';
import { testKeys } from '../../support/bus.js';
import { type RedisServer, startRedis } from '../../support/redis-fixture.js';

const TOKEN = 'a-policy-admin-token';

let server: RedisServer;
test.before(async () => {
  server = await startRedis({ name: 'policy-routes' });
});
test.after.always(() => server?.stop());

interface Rig {
  readonly app: FastifyInstance;
  readonly redis: Redis;
  readonly keys: Keys;
  readonly stored: () => Promise<string | null>;
  readonly put: (body: unknown, token?: string) => Promise<LightMyRequestResponse>;
  readonly auditEvents: () => Promise<Envelope[]>;
}

/** An app with the policy routes over a fresh key prefix; torn down after the test. */
async function rig(t: { teardown: (fn: () => unknown) => void }, adminEnabled = true): Promise<Rig> {
  const redis = server.client();
  const keys = testKeys('policy-routes');
  const publisher = new RedisPublisher({ redis, keys, producer: 'p', source: 'risk-safety' });
  const app = Fastify();
  registerPolicyRoutes(app, {
    store: new PolicyStore({ redis, keys }),
    publisher,
    guardAdmin: adminGuard(adminEnabled ? TOKEN : undefined),
  });
  await app.ready();
  t.teardown(async () => {
    await app.close();
    await publisher.close();
    const leftovers = await redis.keys(`${keys.prefix}:*`);
    if (leftovers.length > 0) await redis.del(...leftovers);
  });
  return {
    app,
    redis,
    keys,
    stored: () => redis.get(keys.setting('risk-policy')),
    put: (body, token) =>
      app.inject({
        method: 'PUT',
        url: '/policy',
        headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
        payload: body as object,
      }),
    auditEvents: async () =>
      (await redis.xrange(keys.stream('risk'), '-', '+'))
        .map(([, fields]) => decodeEntry(fields))
        .filter((e) => e.type === 'risk.policy_updated'),
  };
}

test('GET /policy answers the defaults when nothing is stored', async (t) => {
  const { app, stored } = await rig(t);
  const res = await app.inject({ method: 'GET', url: '/policy' });
  t.is(res.statusCode, 200);
  t.deepEqual(res.json(), DEFAULT_RISK_POLICY);
  t.is(await stored(), null);
});

test('PUT /policy without a token or with a wrong one is 401; nothing changes', async (t) => {
  const { put, stored, auditEvents } = await rig(t);
  const body = { operator: 'ops', policy: { maxOpenOrders: 5 } };
  const missing = await put(body);
  t.is(missing.statusCode, 401);
  t.is(missing.json().error, 'unauthorized');
  t.is((await put(body, 'not-the-token')).statusCode, 401);
  t.is(await stored(), null);
  t.deepEqual(await auditEvents(), []);
});

test('PUT /policy is 404 when admin endpoints are disabled, even with a token', async (t) => {
  const { put, stored } = await rig(t, false);
  const res = await put({ operator: 'ops', policy: { maxOpenOrders: 5 } }, TOKEN);
  t.is(res.statusCode, 404);
  t.is(res.json().error, 'disabled');
  t.is(await stored(), null);
});

test('PUT /policy with a bad body is 400 with issues; the stored policy is unchanged', async (t) => {
  const { put, stored, auditEvents } = await rig(t);
  const before = { ...DEFAULT_RISK_POLICY, maxOpenOrders: 4 };
  t.is((await put({ operator: 'ops', policy: { maxOpenOrders: 4 } }, TOKEN)).statusCode, 200);
  const storedBefore = await stored();
  t.deepEqual(JSON.parse(storedBefore ?? 'null'), before);

  const cases: [string, unknown, string[]][] = [
    ['unknown policy key', { operator: 'ops', policy: { maxOrderPerSecond: 1 } }, ['policy']],
    ['negative number', { operator: 'ops', policy: { maxNotionalPerOrder: -5 } }, ['policy', 'maxNotionalPerOrder']],
    ['missing operator', { policy: { maxOpenOrders: 1 } }, ['operator']],
    ['empty operator', { operator: '  ', policy: { maxOpenOrders: 1 } }, ['operator']],
    ['unknown top-level key', { operator: 'ops', policy: { maxOpenOrders: 1 }, force: true }, []],
    ['empty patch', { operator: 'ops', policy: {} }, ['policy']],
    ['confidence above 1', { operator: 'ops', policy: { minConfidence: 2 } }, ['policy', 'minConfidence']],
  ];
  for (const [what, body, path] of cases) {
    const res = await put(body, TOKEN);
    t.is(res.statusCode, 400, what);
    const answer = res.json() as { error: string; issues: { path: (string | number)[] }[] };
    t.is(answer.error, 'invalid_body', what);
    t.true(answer.issues.length > 0, what);
    t.true(
      answer.issues.some((i) => JSON.stringify(i.path) === JSON.stringify(path)),
      `${what}: ${JSON.stringify(answer.issues)}`,
    );
    t.is(await stored(), storedBefore, `${what}: stored policy unchanged`);
  }
  t.is((await auditEvents()).length, 1, 'only the good PUT was audited');
});

test('a good PUT merges, stores, audits as risk.policy_updated naming the operator, and answers 200', async (t) => {
  const { app, put, stored, auditEvents } = await rig(t);
  const res = await app.inject({
    method: 'PUT',
    url: '/policy',
    headers: { authorization: `Bearer ${TOKEN}` },
    payload: { operator: 'alice', policy: { maxOrdersPerSecond: 3, minConfidence: 0.7 } },
  });
  t.is(res.statusCode, 200);
  const expected: RiskPolicy = { ...DEFAULT_RISK_POLICY, maxOrdersPerSecond: 3, minConfidence: 0.7 };
  t.deepEqual(res.json(), expected);
  t.deepEqual(JSON.parse((await stored()) ?? 'null'), expected);
  t.deepEqual((await app.inject({ method: 'GET', url: '/policy' })).json(), expected);

  const [event, ...more] = await auditEvents();
  t.deepEqual(more, []);
  t.is(event?.type, 'risk.policy_updated');
  t.deepEqual(event?.data, { operator: 'alice', policy: expected });

  // A second change keeps the first.
  const second = await put({ operator: 'bob', policy: { maxOpenOrders: 2 } }, TOKEN);
  t.deepEqual(second.json(), { ...expected, maxOpenOrders: 2 });
  const events = await auditEvents();
  t.deepEqual(
    events.map((e) => (e.data as { operator: string }).operator),
    ['alice', 'bob'],
  );
});
