/**
 * Unknown outcomes (5xx, -1006, -1007, a dropped connection or a timeout
 * after the order was sent): the adapter looks the order up by its client
 * order id before any resubmit, so the venue never gets a duplicate. An
 * order learnt of by a lookup comes with its fills and commission, read
 * from its trades (a lookup's answer has none).
 */
import test, { type ExecutionContext } from 'ava';
import { isVenueError, type VenueError } from '../../src/exchange/adapter.js';
import type { BinanceAdapterOptions } from '../../src/exchange/binance/settings.js';
import { binanceRig } from '../support/binance-rig.js';
import { FAULTS, type FakeFault } from '../support/fake-binance.js';
import { type RedisServer, startRedis } from '../support/redis-fixture.js';

let server: RedisServer;
test.before(async () => {
  server = await startRedis({ name: 'binance-unknown' });
});
test.after.always(() => server?.stop());

const setup = (t: ExecutionContext) => binanceRig(t, server);

const request = (clientOrderId: string) =>
  ({ clientOrderId, symbol: 'BTCUSDT', side: 'buy', type: 'market', quantity: 0.01 }) as const;

/** The order exists at the venue but the answer was lost: one POST, one lookup, no duplicate. */
const foundAfter = (name: string, fault: FakeFault, extra: Partial<BinanceAdapterOptions> = {}) =>
  test(`${name} after the order was created: the lookup returns it, no duplicate`, async (t) => {
    const { fake, adapter } = await setup(t);
    fake.fail(fault);
    const order = await adapter(extra).placeOrder(request('ord-u1'));
    t.like(order, { clientOrderId: 'ord-u1', status: 'filled', executedQuantity: 0.01, venueOrderId: '1' });
    t.is(fake.orders.length, 1, 'exactly one order at the venue');
    t.is(fake.requests.filter((r) => r.createdOrder !== undefined).length, 1, 'exactly one POST created it');
    t.is(fake.requestsTo('POST', '/api/v3/order').length, 1, 'never resubmitted');
    const [lookup] = fake.requestsTo('GET', '/api/v3/order');
    t.like(lookup, { status: 200, params: { origClientOrderId: 'ord-u1', symbol: 'BTCUSDT' } });
    // The lookup's answer has no fills: they come from the order's trades, commission included.
    t.deepEqual(order.fills, [{ tradeId: '1', price: 50_000, quantity: 0.01, fee: 0.00001, feeAsset: 'BTC' }]);
    t.like(fake.requestsTo('GET', '/api/v3/myTrades')[0], { status: 200, params: { symbol: 'BTCUSDT', orderId: '1' } });
  });

foundAfter('HTTP 503', FAULTS.serverErrorAfterCreate(503));
foundAfter('HTTP 500 with a plain-text body', FAULTS.serverErrorAfterCreate(500));
foundAfter('-1006 (unexpected response from the message bus)', FAULTS.unknownAfterCreate(-1006));
foundAfter('-1007 (timeout waiting for the backend)', FAULTS.unknownAfterCreate(-1007));
foundAfter('a dropped connection', FAULTS.dropAfterCreate());
foundAfter('a timeout', { kind: 'delay', delayMs: 2000, method: 'POST', path: '/api/v3/order' }, { timeoutMs: 250 });

test('a 5xx before the order was created: the lookup finds nothing (-2013), so it is resubmitted once', async (t) => {
  const { fake, adapter } = await setup(t);
  fake.fail({ kind: 'error', status: 502, method: 'POST' });
  const order = await adapter().placeOrder(request('ord-u2'));
  t.is(order.status, 'filled');
  t.deepEqual(
    fake.requests.map((r) => `${r.method} ${r.path} ${r.status}`),
    ['GET /api/v3/exchangeInfo 200', 'POST /api/v3/order 502', 'GET /api/v3/order 400', 'POST /api/v3/order 200'],
  );
  t.is(fake.orders.length, 1);
});

test('when the lookup fails too, placeOrder throws unknown and a later findOrder finds the order', async (t) => {
  const { fake, adapter } = await setup(t);
  const binance = adapter({ maxAttempts: 2 });
  fake.fail(FAULTS.serverErrorAfterCreate(503));
  fake.fail({ kind: 'error', status: 503, method: 'GET', path: '/api/v3/order', times: 2 });
  const err = await t.throwsAsync<VenueError>(binance.placeOrder(request('ord-u3')));
  t.true(isVenueError(err, 'unknown'));
  t.like(err, { code: 'QT_VENUE_UNKNOWN', httpStatus: 503 });
  t.regex(err.message, /lookup/);
  t.is(fake.requestsTo('POST', '/api/v3/order').length, 1, 'not resubmitted while its fate is unknown');
  t.is(fake.requestsTo('GET', '/api/v3/order').length, 2, 'the idempotent lookup was retried');
  t.like(await binance.findOrder('BTCUSDT', 'ord-u3'), { status: 'filled' });
  t.is(fake.orders.length, 1);
});

test('a lookup whose trades do not yet add up to what executed is unknown; asked again, it carries them', async (t) => {
  const { fake, adapter } = await setup(t);
  const binance = adapter();
  await binance.placeOrder(request('ord-u5'));
  const trades = fake.order('ord-u5')?.fills.splice(0) ?? [];
  const err = await t.throwsAsync<VenueError>(binance.findOrder('BTCUSDT', 'ord-u5'));
  t.true(isVenueError(err, 'unknown'));
  t.regex(err.message, /trades for 0 of the 0\.01 executed/);
  fake.order('ord-u5')?.fills.push(...trades);
  const found = await binance.findOrder('BTCUSDT', 'ord-u5');
  t.like(found?.fills[0], { quantity: 0.01, fee: 0.00001, feeAsset: 'BTC' });
  t.is(fake.requestsTo('GET', '/api/v3/myTrades').length, 2);
});

test('an order that never appears is resubmitted at most maxAttempts times, then unknown', async (t) => {
  const { fake, adapter } = await setup(t);
  fake.fail({ kind: 'error', status: 503, method: 'POST', times: 3 });
  const err = await t.throwsAsync<VenueError>(adapter({ maxAttempts: 3 }).placeOrder(request('ord-u4')));
  t.true(isVenueError(err, 'unknown'));
  t.is(fake.requestsTo('POST', '/api/v3/order').length, 3);
  t.is(fake.requestsTo('GET', '/api/v3/order').length, 3, 'a lookup after every unknown answer');
  t.is(fake.orders.length, 0);
});

test('an unknown answer to a read is simply retried', async (t) => {
  const { clock, fake, adapter } = await setup(t);
  fake.fail({ kind: 'error', status: 500, code: -1006, path: '/api/v3/account' });
  fake.fail({ kind: 'drop', path: '/api/v3/account' });
  t.truthy(await adapter().balances());
  t.is(fake.requestsTo('GET', '/api/v3/account').length, 3);
  t.is(clock.sleeps.length, 2);
});

test('a cancel whose answer is lost is looked up and returns the cancelled order', async (t) => {
  const { fake, adapter } = await setup(t);
  const binance = adapter();
  await binance.placeOrder({ ...request('ord-u5'), type: 'limit', price: 40_000 });
  fake.fail({ kind: 'error', status: 503, afterProcessing: true, method: 'DELETE' });
  const cancelled = await binance.cancelOrder('BTCUSDT', 'ord-u5');
  t.like(cancelled, { status: 'cancelled', clientOrderId: 'ord-u5' });
  t.is(fake.requestsTo('DELETE', '/api/v3/order').length, 1);
});

test('a cancel lost before it reached the order is looked up, found open, and sent again', async (t) => {
  const { fake, adapter } = await setup(t);
  const binance = adapter();
  await binance.placeOrder({ ...request('ord-u6'), type: 'limit', price: 40_000 });
  fake.fail({ kind: 'drop', method: 'DELETE' });
  t.like(await binance.cancelOrder('BTCUSDT', 'ord-u6'), { status: 'cancelled' });
  t.deepEqual(
    fake.requests.slice(2).map((r) => `${r.method} ${r.status}`),
    ['DELETE undefined', 'GET 200', 'DELETE 200'],
    'dropped, looked up (still new), cancelled',
  );
});
