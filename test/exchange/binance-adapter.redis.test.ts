/**
 * The Binance adapter against the fake venue (real Redis for the shared
 * limits): signed requests, order life cycle, lookups, balances, credential
 * errors, clock resync, an unreachable venue or Redis, and close(). The
 * symbol filters have their own file (binance-filters.redis.test.ts).
 */
import test, { type ExecutionContext } from 'ava';
import { Redis } from 'ioredis';
import { isVenueError, VenueError } from '../../src/exchange/adapter.js';
import { binanceRig } from '../support/binance-rig.js';
import { getFreePort } from '../support/free-port.js';
import { type RedisServer, startRedis } from '../support/redis-fixture.js';

let server: RedisServer;
test.before(async () => {
  server = await startRedis({ name: 'binance-adapter' });
});
test.after.always(() => server?.stop());

const setup = (t: ExecutionContext) => binanceRig(t, server);

test('a market order is signed, sent with decimal strings, and comes back filled with fees', async (t) => {
  const { fake, adapter } = await setup(t);
  const binance = adapter();
  const order = await binance.placeOrder({
    clientOrderId: 'ord-sig-1',
    symbol: 'BTCUSDT',
    side: 'buy',
    type: 'market',
    quantity: 0.002,
  });
  t.like(order, {
    venue: 'binance',
    clientOrderId: 'ord-sig-1',
    symbol: 'BTCUSDT',
    side: 'buy',
    type: 'market',
    status: 'filled',
    quantity: 0.002,
    executedQuantity: 0.002,
    averagePrice: 50_000,
  });
  t.is(order.price, undefined);
  t.deepEqual(order.fills, [{ tradeId: '1', price: 50_000, quantity: 0.002, fee: 0.000002, feeAsset: 'BTC' }]);
  const [post] = fake.requestsTo('POST', '/api/v3/order');
  t.like(post?.params, {
    symbol: 'BTCUSDT',
    side: 'BUY',
    type: 'MARKET',
    quantity: '0.002',
    newClientOrderId: 'ord-sig-1',
    newOrderRespType: 'FULL',
    recvWindow: '5000',
  });
  t.is(post?.apiKey, fake.apiKey);
  t.regex(post?.params.signature ?? '', /^[0-9a-f]{64}$/);
  t.is(post?.status, 200);

  // A tiny quantity JavaScript prints as 1e-7 goes out as a decimal the venue accepts (on a symbol whose
  // lot step allows it: the fake gives a symbol it lists no filters for 8-decimal steps).
  fake.setPrice('XRPUSDT', 0.5);
  await binance.placeOrder({
    clientOrderId: 'ord-sig-2',
    symbol: 'XRPUSDT',
    side: 'buy',
    type: 'market',
    quantity: 1e-7,
  });
  t.is(fake.requestsTo('POST', '/api/v3/order')[1]?.params.quantity, '0.0000001');
  t.is(fake.orders.length, 2);
});

test('a limit order rests GTC, is listed as open, cancels once, then is gone', async (t) => {
  const { fake, adapter } = await setup(t);
  const binance = adapter();
  const placed = await binance.placeOrder({
    clientOrderId: 'ord-lim-1',
    symbol: 'ETHUSDT',
    side: 'buy',
    type: 'limit',
    quantity: 0.5,
    price: 2500.5,
  });
  t.like(placed, { status: 'new', type: 'limit', price: 2500.5, executedQuantity: 0, fills: [] });
  t.is(placed.averagePrice, undefined);
  t.like(fake.requestsTo('POST', '/api/v3/order')[0]?.params, { timeInForce: 'GTC', price: '2500.5', type: 'LIMIT' });

  t.deepEqual(
    (await binance.openOrders('ETHUSDT')).map((o) => o.clientOrderId),
    ['ord-lim-1'],
  );
  t.is((await binance.openOrders()).length, 1);
  t.deepEqual((await binance.openOrders('BTCUSDT')).length, 0);

  const cancelled = await binance.cancelOrder('ETHUSDT', 'ord-lim-1');
  t.like(cancelled, { status: 'cancelled', clientOrderId: 'ord-lim-1', venueOrderId: placed.venueOrderId });
  t.is(await binance.cancelOrder('ETHUSDT', 'ord-lim-1'), undefined, '-2011: nothing left to cancel');
  t.like(await binance.findOrder('ETHUSDT', 'ord-lim-1'), { status: 'cancelled' });
  t.deepEqual(await binance.openOrders('ETHUSDT'), []);
});

test('findOrder of an order the venue does not have resolves undefined (-2013)', async (t) => {
  const { fake, adapter } = await setup(t);
  t.is(await adapter().findOrder('BTCUSDT', 'ord-never-placed'), undefined);
  const lookups = fake.requestsTo('GET', '/api/v3/order');
  t.is(lookups.length, 1, 'not retried: -2013 is an answer');
  t.is(lookups[0]?.params.origClientOrderId, 'ord-never-placed');
  t.is(lookups[0]?.status, 400);
});

test('an id longer than Binance allows is sent hashed, and callers get their own id back', async (t) => {
  const { fake, adapter } = await setup(t);
  const binance = adapter();
  const id = 'ord-01970c6e-5a4b-7cde-8f01-23456789abcd';
  const placed = await binance.placeOrder({
    clientOrderId: id,
    symbol: 'BTCUSDT',
    side: 'sell',
    type: 'market',
    quantity: 1,
  });
  t.is(placed.clientOrderId, id);
  const sent = fake.requestsTo('POST', '/api/v3/order')[0]?.params.newClientOrderId ?? '';
  t.is(sent.length, 36);
  t.like(await binance.findOrder('BTCUSDT', id), { clientOrderId: id, venueOrderId: placed.venueOrderId });
  t.like(placed.fills[0], { fee: 50, feeAsset: 'USDT' }, 'a sell pays commission in the quote asset');
});

test('placing an order whose id is already open returns that order instead of a second one (-2010 duplicate)', async (t) => {
  const { fake, adapter } = await setup(t);
  const binance = adapter();
  const request = {
    clientOrderId: 'ord-dup',
    symbol: 'ETHUSDT',
    side: 'sell',
    type: 'limit',
    quantity: 1,
    price: 4000,
  } as const;
  const first = await binance.placeOrder(request);
  const again = await binance.placeOrder(request);
  t.is(again.venueOrderId, first.venueOrderId);
  t.is(fake.orders.length, 1);
  t.is(fake.requestsTo('POST', '/api/v3/order')[1]?.status, 400);
});

test('insufficient balance (-2010) is rejected with the venue code and message, not retried', async (t) => {
  const { fake, adapter } = await setup(t);
  fake.fail({ kind: 'error', status: 400, code: -2010, method: 'POST' });
  const err = await t.throwsAsync<VenueError>(
    adapter().placeOrder({ clientOrderId: 'ord-poor', symbol: 'BTCUSDT', side: 'buy', type: 'market', quantity: 10 }),
  );
  t.true(isVenueError(err, 'rejected'));
  t.like(err, { venueCode: -2010, httpStatus: 400, code: 'QT_VENUE_REJECTED', retryable: false });
  t.regex(err.message, /insufficient balance/);
  t.is(fake.requestsTo('POST', '/api/v3/order').length, 1);
});

test('an invalid order is refused locally without a request', async (t) => {
  const { fake, adapter } = await setup(t);
  const binance = adapter();
  const bad = [
    { clientOrderId: 'a', symbol: 'BTCUSDT', side: 'buy', type: 'market', quantity: 0 },
    { clientOrderId: 'b', symbol: 'BTCUSDT', side: 'buy', type: 'limit', quantity: 1 },
  ] as const;
  for (const request of bad) await t.throwsAsync<VenueError>(binance.placeOrder(request), { instanceOf: VenueError });
  t.is(fake.requests.length, 0);
});

test('balances map free and locked per asset; zero balances are omitted', async (t) => {
  const { fake, adapter } = await setup(t);
  fake.setBalance('BTC', 0.5, 0.25);
  fake.setBalance('ETH', 0, 0);
  t.deepEqual(await adapter().balances(), {
    USDT: { free: 10_000, locked: 0 },
    BTC: { free: 0.5, locked: 0.25 },
  });
  t.is(fake.requestsTo('GET', '/api/v3/account')[0]?.params.omitZeroBalances, 'true');
});

test('a wrong secret is rejected naming the signature (-1022); a wrong key naming the API key (-2015)', async (t) => {
  const { fake, adapter } = await setup(t);
  const wrongSecret = await t.throwsAsync<VenueError>(adapter({ apiSecret: 'not-the-secret' }).balances());
  t.true(isVenueError(wrongSecret, 'rejected'));
  t.like(wrongSecret, { venueCode: -1022 });
  t.regex(wrongSecret.message, /signature/);
  t.false(wrongSecret.message.includes('not-the-secret'));

  const wrongKey = await t.throwsAsync<VenueError>(adapter({ apiKey: 'not-the-key' }).findOrder('BTCUSDT', 'x'));
  t.true(isVenueError(wrongKey, 'rejected'));
  t.like(wrongKey, { venueCode: -2015, httpStatus: 401 });
  t.regex(wrongKey.message, /API key/);
  t.false(wrongKey.message.includes('not-the-key'));
  t.is(fake.requests.length, 2, 'credential errors are never retried');
});

test('a clock out of recvWindow (-1021) is resynced from /api/v3/time and the call retried once', async (t) => {
  const { fake, adapter } = await setup(t);
  const binance = adapter();
  fake.setClockSkew(8000);
  const order = await binance.placeOrder({
    clientOrderId: 'ord-skew',
    symbol: 'BTCUSDT',
    side: 'buy',
    type: 'market',
    quantity: 1,
  });
  t.is(order.status, 'filled');
  t.deepEqual(
    fake.requests.map((r) => `${r.method} ${r.path} ${r.status}`),
    // The symbol's filters are read unsigned, so the skew shows only on the order.
    ['GET /api/v3/exchangeInfo 200', 'POST /api/v3/order 400', 'GET /api/v3/time 200', 'POST /api/v3/order 200'],
  );
  t.is(binance.clockOffsetMs, 8000);
  t.is(fake.orders.length, 1);

  // A venue clock behind ours: our timestamps are "ahead of the server's time".
  fake.setClockSkew(-3000);
  t.truthy(await binance.balances());
  t.is(binance.clockOffsetMs, -3000);
});

test('an unreachable venue is unavailable after backoff retries; a new order is not looked up', async (t) => {
  const { clock, adapter } = await setup(t);
  const port = await getFreePort();
  const binance = adapter({ baseUrl: `http://127.0.0.1:${port}`, maxAttempts: 3 });
  const err = await t.throwsAsync<VenueError>(
    binance.placeOrder({ clientOrderId: 'ord-x', symbol: 'BTCUSDT', side: 'buy', type: 'market', quantity: 1 }),
  );
  t.true(isVenueError(err, 'unavailable'));
  t.regex(err.message, /ECONNREFUSED/);
  t.deepEqual(clock.sleeps, [188, 375], 'exponential backoff: 250 then 500 ms ceilings, half jittered');
});

test('without the shared limits in Redis nothing is sent: the call fails unavailable', async (t) => {
  const { fake, adapter } = await setup(t);
  const port = await getFreePort();
  // A client of a port nobody listens on, failing at once instead of queueing.
  const unreachable = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  unreachable.on('error', () => {});
  t.teardown(() => unreachable.disconnect());
  const err = await t.throwsAsync<VenueError>(adapter({ redis: unreachable }).balances());
  t.true(isVenueError(err, 'unavailable'));
  t.regex(err.message, /Redis/);
  t.is(fake.requests.length, 0);
});

test('close() is idempotent and later calls fail unavailable without a request', async (t) => {
  const { fake, adapter } = await setup(t);
  const binance = adapter();
  await binance.close();
  await binance.close();
  const err = await t.throwsAsync<VenueError>(binance.balances());
  t.true(isVenueError(err, 'unavailable'));
  t.regex(err.message, /closed/);
  t.is(fake.requests.length, 0);
});
