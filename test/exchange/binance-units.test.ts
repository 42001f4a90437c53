/**
 * The pure parts of the Binance adapter: signing, decimal strings, client
 * order ids, response mapping, error classification and usage headers.
 */
import test from 'ava';
import type { Redis } from 'ioredis';
import { isQtError } from '../../src/errors.js';
import { classifyAnswer, classifyFailure } from '../../src/exchange/binance/classify.js';
import { BINANCE_CLIENT_ORDER_ID_PATTERN, toVenueClientOrderId } from '../../src/exchange/binance/client-order-id.js';
import { BINANCE_ENDPOINTS } from '../../src/exchange/binance/endpoints.js';
import { intervalMs, parseUsageHeaders } from '../../src/exchange/binance/limits.js';
import {
  BinanceAccountSchema,
  BinanceOrderSchema,
  toBalances,
  toVenueOrder,
} from '../../src/exchange/binance/mapping.js';
import { parseBinanceSettings } from '../../src/exchange/binance/settings.js';
import { buildQuery, sign, signQuery, toDecimalString } from '../../src/exchange/binance/signing.js';
import { createKeys } from '../../src/streams/keys.js';

test('the signature matches the example of the Binance API documentation', (t) => {
  const secret = 'NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j';
  const query = buildQuery({
    symbol: 'LTCBTC',
    side: 'BUY',
    type: 'LIMIT',
    timeInForce: 'GTC',
    quantity: '1',
    price: '0.1',
    recvWindow: 5000,
    timestamp: 1499827319559,
  });
  t.is(
    query,
    'symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559',
  );
  t.is(sign(secret, query), 'c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71');
  t.is(signQuery(secret, query), `${query}&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71`);
});

test('undefined parameters are left out of the query', (t) => {
  t.is(buildQuery({ symbol: undefined, limit: 5 }), 'limit=5');
});

test('quantities and prices are plain decimal strings, never exponent notation', (t) => {
  t.is(toDecimalString(1e-7), '0.0000001');
  t.is(toDecimalString(1.5e-10), '0.00000000015');
  t.is(toDecimalString(0.1), '0.1');
  t.is(toDecimalString(0.00012345), '0.00012345');
  t.is(toDecimalString(50_000), '50000');
  t.is(toDecimalString(1e21), '1000000000000000000000');
  t.is(toDecimalString(1.234e21), '1234000000000000000000');
  t.is(toDecimalString(-2.5e-8), '-0.000000025');
  t.throws(() => toDecimalString(Number.NaN));
});

test('client order ids that fit are sent unchanged; longer ones are hashed deterministically to 36 characters', (t) => {
  t.is(toVenueClientOrderId('ord-sig-1'), 'ord-sig-1');
  const long = 'ord-01970c6e-5a4b-7cde-8f01-23456789abcd';
  const venueId = toVenueClientOrderId(long);
  t.is(venueId, toVenueClientOrderId(long));
  t.not(venueId, toVenueClientOrderId(`${long}x`));
  t.is(venueId.length, 36);
  t.regex(venueId, BINANCE_CLIENT_ORDER_ID_PATTERN);
  t.regex(toVenueClientOrderId('has spaces'), BINANCE_CLIENT_ORDER_ID_PATTERN);
});

test('a FULL order answer maps to a VenueOrder: status, fills with fees, average price', (t) => {
  const order = BinanceOrderSchema.parse({
    symbol: 'BTCUSDT',
    orderId: 28,
    orderListId: -1,
    clientOrderId: 'ord-1',
    transactTime: 1507725176595,
    price: '0.00000000',
    origQty: '2.00000000',
    executedQty: '2.00000000',
    cummulativeQuoteQty: '100010.00000000',
    status: 'FILLED',
    timeInForce: 'GTC',
    type: 'MARKET',
    side: 'BUY',
    fills: [
      { price: '50000.00000000', qty: '1.00000000', commission: '0.00100000', commissionAsset: 'BTC', tradeId: 56 },
      { price: '50010.00000000', qty: '1.00000000', commission: '0.00100000', commissionAsset: 'BTC', tradeId: 57 },
    ],
  });
  t.deepEqual(toVenueOrder('binance', order), {
    venue: 'binance',
    venueOrderId: '28',
    clientOrderId: 'ord-1',
    symbol: 'BTCUSDT',
    side: 'buy',
    type: 'market',
    status: 'filled',
    quantity: 2,
    executedQuantity: 2,
    fills: [
      { tradeId: '56', price: 50000, quantity: 1, fee: 0.001, feeAsset: 'BTC' },
      { tradeId: '57', price: 50010, quantity: 1, fee: 0.001, feeAsset: 'BTC' },
    ],
    averagePrice: 50005,
  });
});

test('statuses are lower-cased; a cancel answer keeps the original client order id; an unfilled order has no average', (t) => {
  const base = {
    symbol: 'ETHUSDT',
    orderId: 7,
    clientOrderId: 'cancel-7',
    origClientOrderId: 'ord-7',
    price: '3000.00',
    origQty: '1.0',
    executedQty: '0.0',
    cummulativeQuoteQty: '0.0',
    type: 'LIMIT',
    side: 'SELL',
  };
  const expected = {
    NEW: 'new',
    PARTIALLY_FILLED: 'partially_filled',
    FILLED: 'filled',
    CANCELED: 'cancelled',
    REJECTED: 'rejected',
    EXPIRED: 'expired',
  } as const;
  for (const [status, mapped] of Object.entries(expected)) {
    const order = toVenueOrder('binance', BinanceOrderSchema.parse({ ...base, status }));
    t.is(order.status, mapped);
    t.is(order.clientOrderId, 'ord-7');
    t.is(order.price, 3000);
    t.is(order.averagePrice, undefined);
    t.deepEqual(order.fills, []);
  }
  t.is(toVenueOrder('binance', BinanceOrderSchema.parse({ ...base, status: 'NEW' }), 'mine').clientOrderId, 'mine');
});

test('account balances map to free and locked numbers per asset', (t) => {
  const account = BinanceAccountSchema.parse({
    makerCommission: 15,
    balances: [
      { asset: 'BTC', free: '4723846.89208129', locked: '0.00000000' },
      { asset: 'USDT', free: '12.5', locked: '7.25' },
    ],
  });
  t.deepEqual(toBalances(account), { BTC: { free: 4723846.89208129, locked: 0 }, USDT: { free: 12.5, locked: 7.25 } });
});

test('error answers are classified by HTTP status and Binance code', (t) => {
  const ctx = { call: 'POST /api/v3/order', now: 1_000_000, defaultBanMs: 120_000, scrub: (s: string) => s };
  const answer = (status: number, code?: number, headers: Record<string, string> = {}) =>
    classifyAnswer(
      { status, headers: new Headers(headers), body: code === undefined ? undefined : { code, msg: `m${code}` } },
      ctx,
    );
  t.like(answer(429, -1003, { 'retry-after': '7' }), { kind: 'rate_limited', retryAt: 1_007_000, venueCode: -1003 });
  t.like(answer(400, -1015), { kind: 'rate_limited', retryAt: undefined });
  t.like(answer(418, -1003, { 'retry-after': '60' }), { kind: 'banned', retryAt: 1_060_000 });
  t.like(answer(418, -1003), { kind: 'banned', retryAt: 1_120_000 });
  t.like(answer(503), { kind: 'unknown', httpStatus: 503 });
  t.like(answer(500, -1006), { kind: 'unknown', venueCode: -1006 });
  t.like(answer(408, -1007), { kind: 'unknown', venueCode: -1007 });
  t.like(answer(400, -2010), { kind: 'rejected', venueCode: -2010 });
  t.like(answer(400, -1021), { kind: 'rejected', venueCode: -1021 });
  t.regex(answer(400, -1022).message, /signature/);
  t.regex(answer(401, -2015).message, /API key/);
  t.is(answer(400, -2010).code, 'QT_VENUE_REJECTED');
  const banned = classifyAnswer(
    { status: 418, headers: new Headers(), body: { code: -1003, msg: 'IP banned until 1999999999999.' } },
    ctx,
  );
  t.is(banned.retryAt, 1999999999999, 'the ban end is read from the message without Retry-After');
});

test('a fetch that never reached the venue is unavailable; one that may have is unknown', (t) => {
  const refused = new TypeError('fetch failed', {
    cause: Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }),
  });
  const dropped = new TypeError('fetch failed', {
    cause: Object.assign(new Error('closed'), { code: 'UND_ERR_SOCKET' }),
  });
  const timeout = new DOMException('The operation was aborted due to timeout', 'TimeoutError');
  t.is(classifyFailure(refused, 'GET /x', 100).kind, 'unavailable');
  t.is(classifyFailure(dropped, 'GET /x', 100).kind, 'unknown');
  t.is(classifyFailure(timeout, 'GET /x', 100).kind, 'unknown');
});

test('usage headers of every interval are read; interval labels convert to ms', (t) => {
  const headers = new Headers({
    'X-MBX-USED-WEIGHT-1M': '42',
    'x-mbx-used-weight-1s': '3',
    'X-MBX-ORDER-COUNT-10S': '5',
    'X-MBX-ORDER-COUNT-1D': '77',
    'X-MBX-USED-WEIGHT': '42',
  });
  t.deepEqual(
    parseUsageHeaders(headers).sort((a, b) => a.interval.localeCompare(b.interval)),
    [
      { counter: 'orders', interval: '10S', used: 5 },
      { counter: 'orders', interval: '1D', used: 77 },
      { counter: 'weight', interval: '1M', used: 42 },
      { counter: 'weight', interval: '1S', used: 3 },
    ],
  );
  t.is(intervalMs('1M'), 60_000);
  t.is(intervalMs('10S'), 10_000);
  t.is(intervalMs('1D'), 86_400_000);
  t.is(intervalMs('x'), undefined);
});

test('the endpoint table carries the documented weights', (t) => {
  t.is(BINANCE_ENDPOINTS.newOrder.weight, 1);
  t.is(BINANCE_ENDPOINTS.queryOrder.weight, 4);
  t.is(BINANCE_ENDPOINTS.openOrdersOneSymbol.weight, 6);
  t.is(BINANCE_ENDPOINTS.openOrdersAll.weight, 80);
  t.is(BINANCE_ENDPOINTS.account.weight, 20);
  t.is(BINANCE_ENDPOINTS.time.weight, 1);
  t.like(BINANCE_ENDPOINTS.exchangeInfo, { weight: 20, signed: false, idempotent: true });
});

test('invalid options throw QT_CONFIG_INVALID naming the field, never the secret', (t) => {
  const base = { redis: {} as Redis, keys: createKeys('qt'), apiKey: 'k-123', apiSecret: 'SECRET-xyz' };
  const err = t.throws(() => parseBinanceSettings({ ...base, baseUrl: 'not a url', recvWindow: 90_000 }));
  t.true(isQtError(err, 'QT_CONFIG_INVALID'));
  t.regex(err.message, /baseUrl/);
  t.regex(err.message, /recvWindow/);
  t.false(JSON.stringify({ m: err.message, d: (err as { details?: unknown }).details }).includes('SECRET-xyz'));
  const ok = parseBinanceSettings({ ...base, baseUrl: 'https://testnet.binance.vision' });
  t.like(ok, { venue: 'binance', recvWindow: 5000, maxAttempts: 4, limits: { weightPerMinute: 6000 } });
});
