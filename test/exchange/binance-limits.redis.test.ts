/**
 * Binance's rate-limit rules, shared through Redis: 429 + Retry-After, 418
 * bans, -1003/-1015 backoff, the request-weight and order-count budget fed by
 * the venue's usage headers, and atomic spending of the last unit.
 */
import test, { type ExecutionContext } from 'ava';
import { isVenueError, type VenueError } from '../../src/exchange/adapter.js';
import type { BinanceAdapter } from '../../src/exchange/binance/binance-adapter.js';
import { counterField, SharedLimits } from '../../src/exchange/binance/limits.js';
import type { BinanceAdapterOptions } from '../../src/exchange/binance/settings.js';
import { binanceRig } from '../support/binance-rig.js';
import { testKeys } from '../support/bus.js';
import { FAULTS } from '../support/fake-binance.js';
import { type RedisServer, startRedis } from '../support/redis-fixture.js';

let server: RedisServer;
test.before(async () => {
  server = await startRedis({ name: 'binance-limits' });
});
test.after.always(() => server?.stop());

/** One second into a minute (and a 10 s window) of the simulated clock. */
const T0 = 1_750_000_020_000 + 1000;
const MINUTE_START = 1_750_000_020_000;

async function setup(t: ExecutionContext) {
  const rig = await binanceRig(t, server, T0);
  // Each adapter gets its own connection, as separate processes would.
  const adapter = (extra: Partial<BinanceAdapterOptions> = {}) => rig.adapter(extra, true);
  const hash = () => server.client().hgetall(rig.keys.venueLimits('binance'));
  return { ...rig, adapter, hash };
}

const buy = (a: BinanceAdapter, id: string) =>
  a.placeOrder({ clientOrderId: id, symbol: 'BTCUSDT', side: 'buy', type: 'market', quantity: 1 });

test('429 with a short Retry-After: the adapter waits it out, retries and succeeds; Redis holds the deadline', async (t) => {
  const { clock, fake, adapter, hash } = await setup(t);
  fake.fail(FAULTS.http429(2, { method: 'POST' }));
  const order = await buy(adapter(), 'ord-429');
  t.is(order.status, 'filled');
  t.deepEqual(clock.sleeps, [2000]);
  t.deepEqual(
    fake.requestsTo('POST', '/api/v3/order').map((r) => r.status),
    [429, 200],
  );
  t.is(fake.orders.length, 1);
  t.is((await hash()).retryAfterUntil, String(T0 + 2000));
});

test('429 with a long Retry-After fails rate_limited, and a second adapter on the same Redis holds off too', async (t) => {
  const { clock, fake, adapter } = await setup(t);
  const a = adapter();
  fake.fail(FAULTS.http429(60));
  const err = await t.throwsAsync<VenueError>(a.balances());
  t.true(isVenueError(err, 'rate_limited'));
  t.is(err.retryAt, T0 + 60_000);
  t.is(fake.requests.length, 1);

  const b = adapter();
  const held = await t.throwsAsync<VenueError>(b.findOrder('BTCUSDT', 'any'));
  t.true(isVenueError(held, 'rate_limited'));
  t.is(held.retryAt, T0 + 60_000);
  t.is(fake.requests.length, 1, 'B sent nothing');

  // An adapter allowed to wait that long sits the hold out, then calls.
  const patient = adapter({ maxWaitMs: 120_000 });
  t.truthy(await patient.balances());
  t.deepEqual(clock.sleeps, [60_000]);
  t.is(fake.requests.length, 2);
  t.is(await b.findOrder('BTCUSDT', 'any'), undefined, 'B works once the hold is over');
});

test('418 bans every adapter on the Redis: calls fail fast without HTTP until the ban ends, then work', async (t) => {
  const { clock, fake, adapter, hash } = await setup(t);
  const a = adapter();
  const b = adapter();
  fake.fail(FAULTS.http418(120));
  const err = await t.throwsAsync<VenueError>(buy(a, 'ord-ban'));
  t.true(isVenueError(err, 'banned'));
  t.like(err, { retryAt: T0 + 120_000, httpStatus: 418, code: 'QT_VENUE_BANNED' });
  t.is((await hash()).bannedUntil, String(T0 + 120_000));
  const sent = fake.requests.length;

  for (const call of [() => a.balances(), () => b.balances(), () => buy(b, 'ord-ban-2'), () => b.openOrders()]) {
    const banned = await t.throwsAsync<VenueError>(call());
    t.true(isVenueError(banned, 'banned'));
    t.is(banned.retryAt, T0 + 120_000);
  }
  t.is(fake.requests.length, sent, 'no request during the ban');
  t.deepEqual(clock.sleeps, [], 'a ban is never waited out inside a call');
  t.is(fake.orders.length, 0);

  clock.advance(120_000);
  t.is((await buy(b, 'ord-after-ban')).status, 'filled');
  t.truthy(await a.balances());
});

test('-1003 without Retry-After is retried with growing, jittered backoff', async (t) => {
  const { clock, fake, adapter } = await setup(t);
  fake.fail(FAULTS.tooManyRequests({ times: 2 }));
  t.truthy(await adapter().balances());
  t.deepEqual(clock.sleeps, [188, 375], 'ceilings 250 and 500 ms, equal jitter at random 0.5');
  t.is(fake.requests.length, 3);
});

test('-1015 (too many orders) is retried with backoff and places exactly one order', async (t) => {
  const { clock, fake, adapter } = await setup(t);
  fake.fail(FAULTS.tooManyOrders({ method: 'POST', times: 2 }));
  t.is((await buy(adapter(), 'ord-1015')).status, 'filled');
  t.is(clock.sleeps.length, 2);
  t.true(clock.sleeps[1]! > clock.sleeps[0]!);
  t.is(fake.orders.length, 1);
});

test('backoff jitter stays within half and all of each ceiling; rate limits exhaust maxAttempts', async (t) => {
  const { clock, fake, adapter } = await setup(t);
  let r = 0;
  const randoms = [0, 0.999, 0.3];
  fake.fail(FAULTS.tooManyRequests({ times: 3 }));
  const err = await t.throwsAsync<VenueError>(adapter({ maxAttempts: 3, random: () => randoms[r++] ?? 0 }).balances());
  t.true(isVenueError(err, 'rate_limited'));
  t.like(err, { venueCode: -1003 });
  t.is(fake.requests.length, 3);
  t.is(clock.sleeps.length, 2);
  t.true(clock.sleeps[0]! >= 125 && clock.sleeps[0]! <= 250);
  t.true(clock.sleeps[1]! >= 250 && clock.sleeps[1]! <= 500);
});

test("weight headers drive the shared budget: B refuses, then waits for the next window, after A's answer used it up", async (t) => {
  const { clock, fake, adapter, hash } = await setup(t);
  const a = adapter();
  const b = adapter();
  // Other clients of the IP already spent most of the minute; the venue reports it on A's answer.
  fake.setUsedWeight(5975);
  t.truthy(await a.balances());
  t.is((await hash())[counterField('weight', '1M', MINUTE_START)], '5995');

  const refused = await t.throwsAsync<VenueError>(b.balances());
  t.true(isVenueError(refused, 'rate_limited'));
  t.is(refused.retryAt, MINUTE_START + 60_000, 'retry when the minute window rolls');
  t.regex(refused.message, /budget/);
  t.is(fake.requests.length, 1, 'B sent nothing');
  // The budget is by weight: a query (4) still fits in the last 5 units, an openOrders for all symbols (80) does not.
  t.is(await b.findOrder('BTCUSDT', 'x'), undefined);
  t.is(fake.requests.length, 2);
  await t.throwsAsync<VenueError>(a.openOrders(), { message: /budget/ });
  t.is(fake.requests.length, 2);

  // Three seconds before the window rolls, B waits them out instead of failing.
  clock.advance(MINUTE_START + 57_000 - clock.now());
  t.truthy(await b.balances());
  t.deepEqual(clock.sleeps, [3000]);
  t.is(fake.requestsTo('GET', '/api/v3/account').length, 2);
});

test('the order-count budget holds the next order until the 10 s window rolls', async (t) => {
  const { clock, fake, adapter } = await setup(t);
  const a = adapter({ limits: { ordersPer10s: 2 } });
  await buy(a, 'ord-c1');
  await buy(a, 'ord-c2');
  t.deepEqual(clock.sleeps, []);
  await buy(a, 'ord-c3');
  t.deepEqual(clock.sleeps, [9000], 'waited from 1 s into the window to its end');
  t.is(fake.orders.length, 3);
});

test('two processes never both spend the last unit of a window', async (t) => {
  const keys = testKeys('binance-race');
  const now = () => T0;
  const limits = { weightPerMinute: 25, ordersPer10s: 100, ordersPerDay: 1000 };
  const p1 = new SharedLimits({ redis: server.client(), key: keys.venueLimits('binance'), limits, now });
  const p2 = new SharedLimits({ redis: server.client(), key: keys.venueLimits('binance'), limits, now });
  const results = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? p1 : p2).acquire(1, 0)));
  t.is(results.filter((r) => r.ok).length, 25);
  t.like(
    results.find((r) => !r.ok),
    { reason: 'budget', until: MINUTE_START + 60_000 },
  );
});

test('two adapters racing for the last 20 weight: exactly one request reaches the venue', async (t) => {
  const { fake, adapter } = await setup(t);
  const opts = { limits: { weightPerMinute: 30 }, maxWaitMs: 0 };
  const settled = await Promise.allSettled([adapter(opts).balances(), adapter(opts).balances()]);
  t.is(settled.filter((s) => s.status === 'fulfilled').length, 1);
  const rejected = settled.find((s) => s.status === 'rejected');
  t.true(isVenueError(rejected?.reason, 'rate_limited'));
  t.is(fake.requests.length, 1);
});

test('old windows are pruned and the hash expires', async (t) => {
  const { clock, adapter, hash, keys } = await setup(t);
  const a = adapter();
  await a.balances();
  clock.advance(60_000);
  await a.balances();
  const fields = Object.keys(await hash()).filter((f) => f.startsWith('weight:1M:'));
  t.deepEqual(fields, [counterField('weight', '1M', MINUTE_START + 60_000)]);
  const ttl = await server.client().pttl(keys.venueLimits('binance'));
  t.true(ttl > 0 && ttl <= 86_400_000 + 60_000);
});
