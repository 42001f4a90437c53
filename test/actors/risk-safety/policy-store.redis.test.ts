/**
 * The risk policy schema and its store in real Redis (docs/architecture.md §10): defaults
 * when absent, round trips, and a corrupt stored value is an error naming the
 * key rather than a silent fallback to defaults.
 */
import test from 'ava';
import {
  DEFAULT_MAX_NOTIONAL_PER_ORDER,
  DEFAULT_MAX_OPEN_ORDERS,
  DEFAULT_MAX_ORDERS_PER_SECOND,
  DEFAULT_MAX_POSITION_NOTIONAL_PER_SYMBOL,
  DEFAULT_MAX_SIGNAL_AGE_MS,
  DEFAULT_MIN_CONFIDENCE,
  DEFAULT_ORDER_NOTIONAL,
  DEFAULT_RISK_POLICY,
  PolicyStore,
  RiskPolicyPatchSchema,
  RiskPolicySchema,
} from '../../../src/actors/risk-safety/policy.js';
import { isQtError } from '../../../src/errors.js';
import { testKeys } from '../../support/bus.js';
import { type RedisServer, startRedis } from '../../support/redis-fixture.js';

let server: RedisServer;
test.before(async () => {
  server = await startRedis({ name: 'policy-store' });
});
test.after.always(() => server?.stop());

test('the defaults are the named constants', (t) => {
  t.deepEqual(DEFAULT_RISK_POLICY, {
    maxOrdersPerSecond: DEFAULT_MAX_ORDERS_PER_SECOND,
    maxNotionalPerOrder: DEFAULT_MAX_NOTIONAL_PER_ORDER,
    maxPositionNotionalPerSymbol: DEFAULT_MAX_POSITION_NOTIONAL_PER_SYMBOL,
    maxOpenOrders: DEFAULT_MAX_OPEN_ORDERS,
    minConfidence: DEFAULT_MIN_CONFIDENCE,
    maxSignalAgeMs: DEFAULT_MAX_SIGNAL_AGE_MS,
    orderNotional: DEFAULT_ORDER_NOTIONAL,
    allowShortSelling: false,
  });
  t.like(DEFAULT_RISK_POLICY, { maxOrdersPerSecond: 10, maxNotionalPerOrder: 10_000, orderNotional: 1_000 });
  t.true(Object.isFrozen(DEFAULT_RISK_POLICY));
});

test('the schema is strict, checks ranges, and fills missing fields from defaults', (t) => {
  t.false(RiskPolicySchema.safeParse({ maxOrderPerSecond: 5 }).success, 'unknown key');
  t.false(RiskPolicySchema.safeParse({ maxNotionalPerOrder: -1 }).success, 'negative');
  t.false(RiskPolicySchema.safeParse({ minConfidence: 1.5 }).success, 'confidence above 1');
  t.false(RiskPolicySchema.safeParse({ maxOpenOrders: 2.5 }).success, 'fractional count');
  t.is(RiskPolicySchema.parse({ maxOpenOrders: 3 }).maxOrdersPerSecond, DEFAULT_MAX_ORDERS_PER_SECOND);
  // A patch leaves absent fields absent instead of defaulting them.
  t.deepEqual(RiskPolicyPatchSchema.parse({ maxOpenOrders: 3 }), { maxOpenOrders: 3 });
  t.false(RiskPolicyPatchSchema.safeParse({ bogus: 1 }).success);
});

test('load: defaults when nothing is stored; save then load round-trips', async (t) => {
  const redis = server.client();
  const keys = testKeys('policy');
  const store = new PolicyStore({ redis, keys });
  t.is(store.key, keys.setting('risk-policy'));
  t.deepEqual(await store.load(), DEFAULT_RISK_POLICY);
  t.is(await redis.get(keys.setting('risk-policy')), null, 'loading writes nothing');

  const policy = { ...DEFAULT_RISK_POLICY, maxOpenOrders: 5, minConfidence: 0.75 };
  await store.save(policy);
  t.deepEqual(JSON.parse((await redis.get(keys.setting('risk-policy'))) ?? 'null'), policy);
  t.deepEqual(await store.load(), policy);
  await redis.del(keys.setting('risk-policy'));
});

test('load: a stored policy missing newer fields takes their defaults', async (t) => {
  const redis = server.client();
  const keys = testKeys('policy');
  await redis.set(keys.setting('risk-policy'), JSON.stringify({ maxOpenOrders: 7 }));
  t.deepEqual(await new PolicyStore({ redis, keys }).load(), { ...DEFAULT_RISK_POLICY, maxOpenOrders: 7 });
  await redis.del(keys.setting('risk-policy'));
});

test('load: an invalid stored value is an error naming the key', async (t) => {
  const redis = server.client();
  const keys = testKeys('policy');
  const key = keys.setting('risk-policy');
  const store = new PolicyStore({ redis, keys });
  for (const bad of ['{not json', JSON.stringify({ maxOpenOrders: -1 }), JSON.stringify({ surprise: true }), '[]']) {
    await redis.set(key, bad);
    const err = await t.throwsAsync(store.load());
    t.true(isQtError(err, 'QT_CONFIG_INVALID'), bad);
    t.true(err?.message.includes(key), err?.message);
  }
  await redis.del(key);
});

test('save refuses an invalid policy and writes nothing', async (t) => {
  const redis = server.client();
  const keys = testKeys('policy');
  const store = new PolicyStore({ redis, keys });
  const err = await t.throwsAsync(store.save({ ...DEFAULT_RISK_POLICY, orderNotional: Number.NaN }));
  t.true(isQtError(err, 'QT_CONFIG_INVALID'));
  t.is(await redis.get(keys.setting('risk-policy')), null);
});

test('update merges a patch; concurrent updates through one store are all kept', async (t) => {
  const redis = server.client();
  const keys = testKeys('policy');
  const store = new PolicyStore({ redis, keys });
  const results = await Promise.all([
    store.update({ maxOpenOrders: 3 }),
    store.update({ minConfidence: 0.9 }),
    store.update({ maxSignalAgeMs: 1_000 }),
  ]);
  const expected = { ...DEFAULT_RISK_POLICY, maxOpenOrders: 3, minConfidence: 0.9, maxSignalAgeMs: 1_000 };
  t.deepEqual(results[2], expected);
  t.deepEqual(await store.load(), expected);
  await redis.del(keys.setting('risk-policy'));
});
