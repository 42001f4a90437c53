/**
 * Symbol filters against the fake venue, which serves Binance's
 * exchangeInfo and refuses what breaks a filter (-1013) as Binance does:
 * float dust is rounded to the lot step before sending, an order below a
 * bound is refused without reaching the venue, the filters are fetched once
 * per symbol and kept for the TTL, and a failed fetch never costs a good copy.
 */
import test, { type ExecutionContext } from 'ava';
import { isVenueError, type OrderRequest, type VenueError } from '../../src/exchange/adapter.js';
import { DEFAULT_BINANCE_SYMBOL_FILTERS_TTL_MS } from '../../src/exchange/binance/settings.js';
import { binanceRig } from '../support/binance-rig.js';
import { FAULTS } from '../support/fake-binance.js';
import { type RedisServer, startRedis } from '../support/redis-fixture.js';

let server: RedisServer;
test.before(async () => {
  server = await startRedis({ name: 'binance-filters' });
});
test.after.always(() => server?.stop());

const setup = (t: ExecutionContext) => binanceRig(t, server);

const market = (clientOrderId: string, quantity: number, extra: Partial<OrderRequest> = {}): OrderRequest => ({
  clientOrderId,
  symbol: 'BTCUSDT',
  side: 'sell',
  type: 'market',
  quantity,
  ...extra,
});

const sentQuantities = (fake: Awaited<ReturnType<typeof setup>>['fake']) =>
  fake.requestsTo('POST', '/api/v3/order').map((r) => r.params.quantity);

test('float dust is rounded down to the lot step before sending, and the venue fills what was sent', async (t) => {
  const { fake, adapter } = await setup(t);
  const binance = adapter();
  const flat = await binance.placeOrder(market('ord-dust-1', 0.1 + 0.2));
  t.like(flat, { status: 'filled', quantity: 0.3, executedQuantity: 0.3 });
  const sized = await binance.placeOrder(market('ord-dust-2', 1000 / 65_000, { side: 'buy' }));
  t.like(sized, { status: 'filled', executedQuantity: 0.01538 });
  const eth = await binance.placeOrder(market('ord-dust-3', 0.12345678, { symbol: 'ETHUSDT' }));
  t.like(eth, { status: 'filled', executedQuantity: 0.1234 });
  t.deepEqual(sentQuantities(fake), ['0.3', '0.01538', '0.1234']);
  t.true(
    fake.requestsTo('POST', '/api/v3/order').every((r) => r.status === 200),
    'the venue, which enforces LOT_SIZE, took every order',
  );
});

test('a quantity below minQty once rounded is rejected naming the filter, and no order request is sent', async (t) => {
  const { fake, adapter } = await setup(t);
  const binance = adapter();
  for (const [id, quantity] of [
    ['ord-min-1', 1e-9],
    ['ord-min-2', 0.000009],
  ] as const) {
    const err = await t.throwsAsync<VenueError>(binance.placeOrder(market(id, quantity)));
    t.true(isVenueError(err, 'rejected'));
    t.like(err, { code: 'QT_VENUE_REJECTED', retryable: false, venueCode: undefined });
    t.regex(
      err.message,
      new RegExp(`^order ${id}: BTCUSDT LOT_SIZE: quantity .* is 0, below minQty 0\\.00001; not sent$`),
    );
  }
  t.deepEqual(
    fake.requests.map((r) => `${r.method} ${r.path}`),
    ['GET /api/v3/exchangeInfo'],
    'only the filters were read',
  );
  t.is(fake.orders.length, 0);
});

test('a LOT_SIZE-conforming order goes out unchanged and is filled', async (t) => {
  const { fake, adapter } = await setup(t);
  const order = await adapter().placeOrder(market('ord-ok', 0.00123, { side: 'buy' }));
  t.like(order, { status: 'filled', quantity: 0.00123, executedQuantity: 0.00123, averagePrice: 50_000 });
  t.deepEqual(sentQuantities(fake), ['0.00123']);
  t.is(fake.order('ord-ok')?.origQty, 0.00123);
});

test('limit prices are rounded to the tick toward the trader: a buy down, a sell up', async (t) => {
  const { fake, adapter } = await setup(t);
  const binance = adapter();
  const buy = await binance.placeOrder({
    clientOrderId: 'ord-tick-b',
    symbol: 'ETHUSDT',
    side: 'buy',
    type: 'limit',
    quantity: 0.5,
    price: 2500.559,
  });
  const sell = await binance.placeOrder({
    clientOrderId: 'ord-tick-s',
    symbol: 'ETHUSDT',
    side: 'sell',
    type: 'limit',
    quantity: 0.5,
    price: 3500.551,
  });
  t.like(buy, { status: 'new', price: 2500.55 });
  t.like(sell, { status: 'new', price: 3500.56 });
  t.deepEqual(
    fake.requestsTo('POST', '/api/v3/order').map((r) => r.params.price),
    ['2500.55', '3500.56'],
  );
});

test('the filters are fetched once per symbol, shared by concurrent orders, and fetched again after the TTL', async (t) => {
  const { clock, fake, adapter } = await setup(t);
  const binance = adapter();
  const infos = () => fake.requestsTo('GET', '/api/v3/exchangeInfo');
  await Promise.all([1, 2, 3].map((i) => binance.placeOrder(market(`ord-c${i}`, 0.001))));
  await binance.placeOrder(market('ord-c4', 0.001));
  t.is(infos().length, 1, 'one fetch for four orders, three of them concurrent');
  t.like(infos()[0], { status: 200, params: { symbol: 'BTCUSDT' } });
  t.is(infos()[0]?.apiKey, undefined, 'unsigned: no key, no signature');
  t.is(infos()[0]?.params.signature, undefined);

  await binance.placeOrder(market('ord-c5', 0.01, { symbol: 'ETHUSDT' }));
  t.deepEqual(
    infos().map((r) => r.params.symbol),
    ['BTCUSDT', 'ETHUSDT'],
    'another symbol has its own fetch',
  );

  // The venue makes BTCUSDT's step finer; the cached copy is used until the TTL runs out.
  fake.setFilters('BTCUSDT', [
    { filterType: 'LOT_SIZE', minQty: '0.00000100', maxQty: '9000', stepSize: '0.00000100' },
  ]);
  clock.advance(DEFAULT_BINANCE_SYMBOL_FILTERS_TTL_MS - 1000);
  await binance.placeOrder(market('ord-c6', 0.0012345));
  t.is(infos().length, 2, 'still the cached copy a second before the TTL');
  t.is(sentQuantities(fake).at(-1), '0.00123', 'rounded to the old step');
  clock.advance(1000);
  await binance.placeOrder(market('ord-c7', 0.0012345));
  t.is(infos().length, 3, 'refetched once the TTL passed');
  t.is(sentQuantities(fake).at(-1), '0.001234', 'rounded to the new step');
  t.is(fake.orders.length, 7);
});

test('a failed refresh keeps the cached copy in use; with no copy the order fails unavailable and is not sent', async (t) => {
  const { clock, fake, adapter } = await setup(t);
  const binance = adapter({ maxAttempts: 2 });
  await binance.placeOrder(market('ord-r1', 0.001));
  clock.advance(DEFAULT_BINANCE_SYMBOL_FILTERS_TTL_MS);
  fake.fail({ ...FAULTS.serverError(503), path: '/api/v3/exchangeInfo', times: 2 });
  const kept = await binance.placeOrder(market('ord-r2', 0.1 + 0.2));
  t.like(kept, { status: 'filled', executedQuantity: 0.3 });
  t.deepEqual(
    fake.requestsTo('GET', '/api/v3/exchangeInfo').map((r) => r.status),
    [200, 503, 503],
  );
  await binance.placeOrder(market('ord-r3', 0.001));
  t.is(fake.requestsTo('GET', '/api/v3/exchangeInfo').length, 3, 'not asked again at once after a failed refresh');

  // ETHUSDT was never fetched: without filters the order cannot be checked, so it stays home.
  fake.fail({ ...FAULTS.serverError(503), path: '/api/v3/exchangeInfo', times: 2 });
  const err = await t.throwsAsync<VenueError>(binance.placeOrder(market('ord-r4', 0.01, { symbol: 'ETHUSDT' })));
  t.true(isVenueError(err, 'unavailable'), 'the order never left: safe to retry');
  t.true(err.retryable);
  t.like(err, { httpStatus: 503 });
  t.regex(err.message, /^order ord-r4: the symbol filters of ETHUSDT could not be read \(.*503.*\); order not sent$/);
  t.is(fake.requestsTo('POST', '/api/v3/order').length, 3);
  // The next order fetches again and goes through.
  t.like(await binance.placeOrder(market('ord-r5', 0.01, { symbol: 'ETHUSDT' })), { status: 'filled' });
});

test('a symbol the venue does not list is rejected (-1121) without an order request', async (t) => {
  const { fake, adapter } = await setup(t);
  const err = await t.throwsAsync<VenueError>(adapter().placeOrder(market('ord-nosym', 1, { symbol: 'NOPEUSDT' })));
  t.true(isVenueError(err, 'rejected'));
  t.like(err, { venueCode: -1121, httpStatus: 400 });
  t.regex(err.message, /symbol filters of NOPEUSDT.*Invalid symbol/);
  t.is(fake.requestsTo('POST', '/api/v3/order').length, 0);
});

test("a limit order's notional below minNotional is refused locally; a market order's is judged at the last fill price", async (t) => {
  const { fake, adapter } = await setup(t);
  const binance = adapter();
  const limit = await t.throwsAsync<VenueError>(
    binance.placeOrder({ ...market('ord-n1', 0.0001), type: 'limit', price: 40_000 }),
  );
  t.regex(limit.message, /BTCUSDT NOTIONAL: notional 0\.0001 × 40000 = 4, below minNotional 5; not sent/);
  t.is(fake.requestsTo('POST', '/api/v3/order').length, 0);

  // No fill seen yet: the market order goes out and the venue, which applies the minimum to market orders, refuses it.
  const first = await t.throwsAsync<VenueError>(binance.placeOrder(market('ord-n2', 0.00005)));
  t.true(isVenueError(first, 'rejected'));
  t.like(first, { venueCode: -1013, httpStatus: 400 });
  t.regex(first.message, /Filter failure: NOTIONAL/);
  t.is(fake.requestsTo('POST', '/api/v3/order').length, 1);

  // Once a fill told the adapter the price, the same order is refused before sending.
  await binance.placeOrder(market('ord-n3', 0.001));
  const second = await t.throwsAsync<VenueError>(binance.placeOrder(market('ord-n4', 0.00005)));
  t.regex(second.message, /NOTIONAL: notional 0\.00005 × last price 50000 = 2\.5, below minNotional 5; not sent/);
  t.is(fake.requestsTo('POST', '/api/v3/order').length, 2);
});

test('the venue enforces its filters: an order the cached copy allows but the new rules do not is -1013, and refetched', async (t) => {
  const { fake, adapter } = await setup(t);
  const binance = adapter();
  await binance.placeOrder(market('ord-v1', 0.001));
  fake.setFilters('BTCUSDT', [
    { filterType: 'PRICE_FILTER', minPrice: '0.10000000', maxPrice: '1000000', tickSize: '0.10000000' },
    { filterType: 'LOT_SIZE', minQty: '0.00100000', maxQty: '9000', stepSize: '0.00100000' },
  ]);
  const lot = await t.throwsAsync<VenueError>(binance.placeOrder(market('ord-v2', 0.00123)));
  t.true(isVenueError(lot, 'rejected'));
  t.like(lot, { venueCode: -1013, httpStatus: 400 });
  t.regex(lot.message, /Filter failure: LOT_SIZE/);
  t.is(fake.requestsTo('GET', '/api/v3/exchangeInfo').length, 1);

  // The refusal expired the cached copy: the next order reads the new rules and is rounded to them.
  const after = await binance.placeOrder({
    ...market('ord-v3', 0.00123),
    type: 'limit',
    side: 'buy',
    price: 40_000.05,
  });
  t.is(fake.requestsTo('GET', '/api/v3/exchangeInfo').length, 2);
  t.like(fake.requestsTo('POST', '/api/v3/order').at(-1)?.params, { quantity: '0.001', price: '40000' });
  t.like(after, { status: 'new', quantity: 0.001, price: 40_000 });

  // The venue's PRICE_FILTER, met by a copy that is one tick behind: refused by the venue too.
  fake.setFilters('BTCUSDT', [
    { filterType: 'PRICE_FILTER', minPrice: '1', maxPrice: '1000000', tickSize: '1.00000000' },
  ]);
  const price = await t.throwsAsync<VenueError>(
    binance.placeOrder({ ...market('ord-v4', 0.001), type: 'limit', side: 'buy', price: 40_000.1 }),
  );
  t.regex(price.message, /Filter failure: PRICE_FILTER/);
});
