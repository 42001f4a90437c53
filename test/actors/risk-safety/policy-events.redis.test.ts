/**
 * The policy's events follow the store (pre-trade decides by the events, the
 * API reads the store): concurrent `PUT /policy` requests publish their
 * events in the order of their writes, and at start a stored policy that the
 * last `risk.policy_updated` does not carry is published.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import Fastify from 'fastify';
import { DEFAULT_RISK_POLICY, PolicyStore, RISK_POLICY_SETTING } from '../../../src/actors/risk-safety/policy.js';
import {
  announceStoredPolicy,
  registerPolicyRoutes,
  STORED_POLICY_OPERATOR,
} from '../../../src/actors/risk-safety/policy-routes.js';
import type { EventData } from '../../../src/events/catalog.js';
import { adminGuard } from '../../../src/http/auth.js';
import { decodeEntry } from '../../../src/streams/codec.js';
import { type Publisher, RedisPublisher } from '../../../src/streams/publisher.js';
import { testKeys } from '../../support/bus.js';
import { type RedisServer, startRedis } from '../../support/redis-fixture.js';

const TOKEN = 'a-policy-events-token';

let server: RedisServer;
test.before(async () => {
  server = await startRedis({ name: 'policy-events' });
});
test.after.always(() => server?.stop());

function rig(label: string) {
  const redis = server.client();
  const keys = testKeys(label);
  const store = new PolicyStore({ redis, keys });
  const publisher = new RedisPublisher({ redis, keys, producer: 'risk-api', source: 'risk-safety' });
  const events = async (): Promise<EventData<'risk.policy_updated'>[]> =>
    (await redis.xrange(keys.stream('risk'), '-', '+')).map(
      ([, f]) => decodeEntry(f).data as EventData<'risk.policy_updated'>,
    );
  return { redis, keys, store, publisher, events };
}

test('concurrent PUTs publish their events in the order of their writes: the last event is the stored policy', async (t) => {
  const { store, publisher, events } = rig('policy-order');
  // A publisher whose calls take a random while, as over a busy link: only the
  // store's turn (write, then publish, then the next write) keeps them in order.
  let publishes = 0;
  const slow: Publisher = {
    publish: async (type, data, options) => {
      publishes++;
      await sleep(Math.floor(Math.random() * 20));
      return publisher.publish(type, data, options);
    },
    close: () => publisher.close(),
  };
  const app = Fastify();
  registerPolicyRoutes(app, { store, publisher: slow, guardAdmin: adminGuard(TOKEN) });
  await app.ready();
  t.teardown(() => app.close());

  const answers = await Promise.all(
    Array.from({ length: 12 }, (_, i) =>
      app.inject({
        method: 'PUT',
        url: '/policy',
        headers: { authorization: `Bearer ${TOKEN}` },
        payload: {
          operator: `op-${i}`,
          policy: i % 2 === 0 ? { maxOpenOrders: i + 1 } : { maxOrdersPerSecond: i + 1 },
        },
      }),
    ),
  );
  t.true(answers.every((a) => a.statusCode === 200));
  t.is(publishes, 12);
  const published = await events();
  t.is(published.length, 12);
  // Each event is one write: answered, in the same order, by the requests.
  t.deepEqual(
    published.map((e) => e.policy),
    answers.map((a) => a.json()),
  );
  t.deepEqual(published.at(-1)?.policy, await store.load(), 'the last event carries the stored policy');
});

test('at start, a stored policy no event carries is published once; nothing stored or already published: nothing', async (t) => {
  const { redis, keys, store, publisher, events } = rig('policy-announce');
  const announce = () => announceStoredPolicy({ store, publisher, redis, keys });

  t.false(await announce(), 'nothing stored');
  t.deepEqual(await events(), []);

  const stored = { ...DEFAULT_RISK_POLICY, maxOpenOrders: 3, minConfidence: 0.8 };
  await store.save(stored);
  t.true(await announce(), 'stored, never published');
  t.deepEqual(await events(), [{ operator: STORED_POLICY_OPERATOR, policy: stored }]);
  t.false(await announce(), 'the last event carries it');

  await store.update({ maxOpenOrders: 4 }, (policy) =>
    publisher.publish('risk.policy_updated', { operator: 'ops', policy }),
  );
  t.false(await announce(), 'a change made through the route is published already');

  await store.save({ ...stored, maxOpenOrders: 9 });
  t.true(await announce(), 'changed behind the events');
  t.like((await events()).at(-1)?.policy, { maxOpenOrders: 9, minConfidence: 0.8 });
  t.is((await events()).length, 3);

  await redis.set(keys.setting(RISK_POLICY_SETTING), '{"maxOpenOrders": -1}');
  const err = await t.throwsAsync(announce());
  t.is((err as { code?: string }).code, 'QT_CONFIG_INVALID', 'an invalid stored policy stops the start');
});
