import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { isVenueError } from '../../src/exchange/adapter.js';
import { PaperExchange, splitSymbol } from '../../src/exchange/paper-exchange.js';

const near = (a: number | undefined, b: number) => a !== undefined && Math.abs(a - b) <= Math.abs(b) * 1e-12;

function paper(t: { teardown(f: () => void): void }, prices: Record<string, number>, path = ':memory:') {
  const venue = new PaperExchange({
    path,
    priceOf: (s) => prices[s],
    feeRate: 0.001,
    slippageBps: 10,
    startingBalances: { USDT: 10_000 },
  });
  t.teardown(() => venue.close());
  return venue;
}

test('a market buy fills at the latest price plus slippage, pays the fee in quote, and moves balances', async (t) => {
  const venue = paper(t, { BTCUSDT: 50_000 });
  const order = await venue.placeOrder({
    clientOrderId: 'ord-1',
    symbol: 'BTCUSDT',
    side: 'buy',
    type: 'market',
    quantity: 0.1,
  });
  t.is(order.status, 'filled');
  t.is(order.executedQuantity, 0.1);
  const price = 50_000 * (1 + 10 / 10_000); // 10 bps slippage, computed as the venue does
  t.true(near(order.averagePrice, price), `average ${order.averagePrice} ≈ ${price}`);
  t.is(order.fills.length, 1);
  t.is(order.fills[0]?.fee, 0.1 * price * 0.001);
  t.is(order.fills[0]?.feeAsset, 'USDT');
  const balances = await venue.balances();
  t.is(balances.BTC?.free, 0.1);
  t.true(Math.abs((balances.USDT?.free ?? 0) - (10_000 - 0.1 * price * 1.001)) < 1e-9);
});

test('a market sell fills below the latest price and credits quote net of fee', async (t) => {
  const prices = { ETHUSDT: 2_000 };
  const venue = paper(t, prices);
  await venue.placeOrder({ clientOrderId: 'b', symbol: 'ETHUSDT', side: 'buy', type: 'market', quantity: 1 });
  const usdtBefore = (await venue.balances()).USDT?.free ?? 0;
  prices.ETHUSDT = 2_100;
  const sell = await venue.placeOrder({
    clientOrderId: 's',
    symbol: 'ETHUSDT',
    side: 'sell',
    type: 'market',
    quantity: 1,
  });
  const px = 2_100 * (1 - 10 / 10_000);
  t.true(near(sell.averagePrice, px));
  const after = await venue.balances();
  t.true(Math.abs((after.USDT?.free ?? 0) - (usdtBefore + px * 0.999)) < 1e-9);
  t.is(after.ETH?.free, 0);
});

test('orders the balance cannot cover are rejected like -2010 and change nothing', async (t) => {
  const venue = paper(t, { BTCUSDT: 50_000 });
  const err = await t.throwsAsync(
    venue.placeOrder({ clientOrderId: 'big', symbol: 'BTCUSDT', side: 'buy', type: 'market', quantity: 1 }),
  );
  t.true(isVenueError(err, 'rejected'));
  t.is(isVenueError(err) ? err.venueCode : 0, -2010);
  const short = await t.throwsAsync(
    venue.placeOrder({ clientOrderId: 'short', symbol: 'BTCUSDT', side: 'sell', type: 'market', quantity: 0.01 }),
  );
  t.true(isVenueError(short, 'rejected'), 'spot cannot sell what it does not hold');
  t.deepEqual(await venue.balances(), { USDT: { free: 10_000, locked: 0 } });
  t.is(await venue.findOrder('BTCUSDT', 'big'), undefined, 'a rejected order does not exist');
});

test('a client order id is accepted once; findOrder returns it, also after the file is reopened', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'qt-paper-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'paper.sqlite');
  const first = paper(t, { BTCUSDT: 40_000 }, path);
  const placed = await first.placeOrder({
    clientOrderId: 'ord-x',
    symbol: 'BTCUSDT',
    side: 'buy',
    type: 'market',
    quantity: 0.01,
  });
  const dup = await t.throwsAsync(
    first.placeOrder({ clientOrderId: 'ord-x', symbol: 'BTCUSDT', side: 'buy', type: 'market', quantity: 0.01 }),
  );
  t.true(isVenueError(dup, 'rejected'));
  await first.close();
  const second = paper(t, { BTCUSDT: 40_000 }, path);
  const found = await second.findOrder('BTCUSDT', 'ord-x');
  t.deepEqual(found, placed);
  t.is(second.allOrders().length, 1);
  t.is((await second.balances()).BTC?.free, 0.01, 'balances survive; starting balances are not re-applied');
});

test('a limit order rests with its funds locked, fills when the price crosses, and can be cancelled', async (t) => {
  const prices = { SOLUSDT: 150 };
  const venue = paper(t, prices);
  const rest = await venue.placeOrder({
    clientOrderId: 'lim-1',
    symbol: 'SOLUSDT',
    side: 'buy',
    type: 'limit',
    quantity: 10,
    price: 140,
  });
  t.is(rest.status, 'new');
  t.true(((await venue.balances()).USDT?.locked ?? 0) > 1_400);
  t.is((await venue.openOrders('SOLUSDT')).length, 1);
  prices.SOLUSDT = 139;
  const filled = await venue.findOrder('SOLUSDT', 'lim-1');
  t.is(filled?.status, 'filled');
  t.true(near(filled?.averagePrice, 140), 'a resting order fills at its limit');
  t.is((await venue.balances()).USDT?.locked, 0);

  await venue.placeOrder({
    clientOrderId: 'lim-2',
    symbol: 'SOLUSDT',
    side: 'buy',
    type: 'limit',
    quantity: 1,
    price: 100,
  });
  const cancelled = await venue.cancelOrder('SOLUSDT', 'lim-2');
  t.is(cancelled?.status, 'cancelled');
  t.is((await venue.balances()).USDT?.locked, 0);
  t.is(await venue.cancelOrder('SOLUSDT', 'nope'), undefined);
});

test('no price yet means the venue is unavailable (retryable), not a rejection', async (t) => {
  const venue = paper(t, {});
  const err = await t.throwsAsync(
    venue.placeOrder({ clientOrderId: 'p', symbol: 'BTCUSDT', side: 'buy', type: 'market', quantity: 0.01 }),
  );
  t.true(isVenueError(err, 'unavailable'));
  t.true(isVenueError(err) && err.retryable);
});

test('symbols split into base and quote; an unknown quote is a rejection', (t) => {
  t.deepEqual(splitSymbol('BTCUSDT'), ['BTC', 'USDT']);
  t.deepEqual(splitSymbol('ETHBTC'), ['ETH', 'BTC']);
  t.deepEqual(splitSymbol('BTCFDUSD'), ['BTC', 'FDUSD']);
  t.true(
    isVenueError(
      t.throws(() => splitSymbol('FOOBAR')),
      'rejected',
    ),
  );
});
