/**
 * `PUT /policy` refuses limits that contradict each other (docs/architecture.md
 * §10): 400 `invalid_policy` naming both fields, checked on the policy the
 * patch would make (stored fields included), with nothing stored and no
 * `risk.policy_updated`; a change of both fields in one request goes through
 * as one whole-policy event.
 */
import test from 'ava';
import Fastify from 'fastify';
import { DEFAULT_RISK_POLICY, PolicyStore } from '../../../src/actors/risk-safety/policy.js';
import { registerPolicyRoutes } from '../../../src/actors/risk-safety/policy-routes.js';
import { isQtError } from '../../../src/errors.js';
import { adminGuard } from '../../../src/http/auth.js';
import { decodeEntry } from '../../../src/streams/codec.js';
import { RedisPublisher } from '../../../src/streams/publisher.js';
import { testKeys } from '../../support/bus.js';
import { type RedisServer, startRedis } from '../../support/redis-fixture.js';

const TOKEN = 'a-policy-contradiction-token';

let server: RedisServer;
test.before(async () => {
  server = await startRedis({ name: 'policy-contradictions' });
});
test.after.always(() => server?.stop());

async function rig(t: { teardown: (fn: () => unknown) => void }) {
  const redis = server.client();
  const keys = testKeys('policy-contradictions');
  const publisher = new RedisPublisher({ redis, keys, producer: 'p', source: 'risk-safety' });
  const store = new PolicyStore({ redis, keys });
  const app = Fastify();
  registerPolicyRoutes(app, { store, publisher, guardAdmin: adminGuard(TOKEN) });
  await app.ready();
  t.teardown(async () => {
    await app.close();
    await publisher.close();
    const leftovers = await redis.keys(`${keys.prefix}:*`);
    if (leftovers.length > 0) await redis.del(...leftovers);
  });
  return {
    store,
    stored: () => redis.get(store.key),
    put: (policy: object) =>
      app.inject({
        method: 'PUT',
        url: '/policy',
        headers: { authorization: `Bearer ${TOKEN}` },
        payload: { operator: 'ops', policy },
      }),
    events: async () =>
      (await redis.xrange(keys.stream('risk'), '-', '+'))
        .map(([, fields]) => decodeEntry(fields))
        .filter((e) => e.type === 'risk.policy_updated'),
  };
}

test('a patch that contradicts itself is 400 invalid_policy naming both fields; nothing stored, no event', async (t) => {
  const { put, stored, events } = await rig(t);
  const res = await put({ orderNotional: 2_000, maxNotionalPerOrder: 1_500 });
  t.is(res.statusCode, 400);
  const body = res.json() as { error: string; issues: { fields: string[]; message: string }[] };
  t.is(body.error, 'invalid_policy');
  t.deepEqual(
    body.issues.map((i) => i.fields),
    [['orderNotional', 'maxNotionalPerOrder']],
  );
  t.regex(body.issues[0]?.message ?? '', /every order would be rejected/);
  t.is(await stored(), null);
  t.deepEqual(await events(), []);
});

test('a patch that contradicts a stored field is refused too; changing both in one request is accepted as one event', async (t) => {
  const { put, stored, events } = await rig(t);
  t.is((await put({ orderNotional: 5_000 })).statusCode, 200);
  const before = await stored();

  const lower = await put({ maxPositionNotionalPerSymbol: 4_000 });
  t.is(lower.statusCode, 400);
  t.deepEqual(
    (lower.json() as { issues: { fields: string[] }[] }).issues.map((i) => i.fields),
    [['orderNotional', 'maxPositionNotionalPerSymbol']],
  );
  t.is(await stored(), before, 'the stored policy is unchanged');
  t.is((await events()).length, 1, 'only the first PUT was published');

  const both = await put({ orderNotional: 3_000, maxPositionNotionalPerSymbol: 4_000 });
  t.is(both.statusCode, 200);
  const expected = { ...DEFAULT_RISK_POLICY, orderNotional: 3_000, maxPositionNotionalPerSymbol: 4_000 };
  t.deepEqual(both.json(), expected);
  const last = (await events()).at(-1);
  t.deepEqual(last?.data, { operator: 'ops', policy: expected }, 'the event carries the whole new policy');
});

test('the store refuses to save a contradictory policy (QT_POLICY_CONTRADICTORY), whoever calls it', async (t) => {
  const { store, stored } = await rig(t);
  const err = await t.throwsAsync(store.save({ ...DEFAULT_RISK_POLICY, orderNotional: 20_000 }));
  t.true(isQtError(err, 'QT_POLICY_CONTRADICTORY'));
  t.is(await stored(), null);
});
