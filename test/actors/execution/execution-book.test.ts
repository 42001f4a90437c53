import test from 'ava';
import {
  type ExecutionContext,
  type ExecutionEvent,
  initialExecution,
  reduceExecution,
} from '../../../src/actors/execution/execution-book.js';
import type { EventData } from '../../../src/events/catalog.js';
import type { VenueOrder } from '../../../src/exchange/adapter.js';

const approved = (orderId: string, side: 'buy' | 'sell' = 'buy', quantity = 0.1): EventData<'order.approved'> => ({
  orderId,
  symbol: 'BTCUSDT',
  side,
  type: 'market',
  quantity,
  reduceOnly: false,
  notional: quantity * 50_000,
});

const venueOrder = (orderId: string, patch: Partial<VenueOrder> = {}): VenueOrder => ({
  venue: 'paper',
  venueOrderId: '7',
  clientOrderId: orderId,
  symbol: 'BTCUSDT',
  side: 'buy',
  type: 'market',
  status: 'filled',
  quantity: 0.1,
  executedQuantity: 0.1,
  averagePrice: 50_000,
  fills: [{ tradeId: '1', price: 50_000, quantity: 0.1, fee: 5, feeAsset: 'USDT' }],
  ...patch,
});

const run = (events: ExecutionEvent[], start = initialExecution({ takeProfit: 0.03, stopLoss: 0.02 })) =>
  events.reduce<ExecutionContext>((ctx, e) => reduceExecution(ctx, e), start);

test('an approved order is pending until the venue answers; a fill publishes placed then filled and opens a position', (t) => {
  const pending = run([{ type: 'APPROVED', order: approved('ord-1'), at: 1 }]);
  t.like(pending.orders['ord-1'], { status: 'pending', attempts: 0, purpose: 'signal', placed: false });
  t.deepEqual(pending.outbox, []);

  const done = run(
    [
      { type: 'SUBMITTING', orderId: 'ord-1', at: 2 },
      { type: 'VENUE_ORDER', orderId: 'ord-1', order: venueOrder('ord-1'), at: 3 },
    ],
    pending,
  );
  t.deepEqual(
    done.outbox.map((o) => o.type),
    ['order.reported', 'order.placed', 'order.filled'],
  );
  // The venue's whole answer first (what the trade store records), at the answer's time, with the order's purpose.
  t.deepEqual(done.outbox[0]?.data, {
    orderId: 'ord-1',
    symbol: 'BTCUSDT',
    side: 'buy',
    venue: 'paper',
    venueOrderId: '7',
    type: 'market',
    status: 'filled',
    quantity: 0.1,
    executedQuantity: 0.1,
    averagePrice: 50_000,
    fills: [{ tradeId: '1', price: 50_000, quantity: 0.1, fee: 5, feeAsset: 'USDT' }],
    purpose: 'signal',
    reportedAt: 3,
  } satisfies EventData<'order.reported'>);
  t.like(done.outbox[2]?.data, { orderId: 'ord-1', quantity: 0.1, price: 50_000, fee: 5, feeAsset: 'USDT' });
  t.deepEqual(done.orders, {});
  t.deepEqual(done.positions.BTCUSDT, { quantity: 0.1, avgPrice: 50_000 });
  t.true(done.finished.includes('ord-1'));
});

test('a repeated approval of a working or finished order is ignored', (t) => {
  const a = { type: 'APPROVED', order: approved('ord-1'), at: 1 } as const;
  const working = run([a, { type: 'SUBMITTING', orderId: 'ord-1', at: 2 }, a]);
  t.is(working.orders['ord-1']?.attempts, 1, 'the second approval did not reset the order');
  const finished = run([{ type: 'VENUE_ORDER', orderId: 'ord-1', order: venueOrder('ord-1'), at: 3 }, a], working);
  t.deepEqual(finished.orders, {});
});

test('a resting order is open; the ESS tripping marks it for cancelling; the venue cancel publishes order.cancelled', (t) => {
  const open = run([
    { type: 'APPROVED', order: approved('ord-1'), at: 1 },
    {
      type: 'VENUE_ORDER',
      orderId: 'ord-1',
      order: venueOrder('ord-1', { status: 'new', executedQuantity: 0, fills: [] }),
      at: 2,
    },
  ]);
  t.is(open.orders['ord-1']?.status, 'open');
  t.deepEqual(
    open.outbox.map((o) => o.type),
    ['order.reported', 'order.placed'],
  );
  t.like(open.outbox[0]?.data, { status: 'new', executedQuantity: 0, fills: [], reportedAt: 2 });
  const trip = { trigger: 'flash_crash', reason: 'BTCUSDT fell 25 %' } as const;
  const tripped = run([{ type: 'ESS', state: 'tripped', at: 3, trip }], { ...open, outbox: [] });
  t.is(tripped.orders['ord-1']?.status, 'cancelling');
  const cancelled = run(
    [
      {
        type: 'VENUE_ORDER',
        orderId: 'ord-1',
        order: venueOrder('ord-1', { status: 'cancelled', executedQuantity: 0, fills: [] }),
        at: 4,
      },
    ],
    tripped,
  );
  t.deepEqual(
    cancelled.outbox.map((o) => o.type),
    ['order.reported', 'order.cancelled'],
  );
  t.like(cancelled.outbox[0]?.data, { status: 'cancelled', reportedAt: 4 });
  t.like(cancelled.outbox[1]?.data, { reason: 'ESS tripped: tripped by flash_crash: BTCUSDT fell 25 %' });
});

test('venue rejections, give-ups and ESS blocks end an order with order.failed or order.cancelled', (t) => {
  const base = run([
    { type: 'APPROVED', order: approved('a'), at: 1 },
    { type: 'APPROVED', order: approved('b'), at: 1 },
    { type: 'APPROVED', order: approved('c'), at: 1 },
  ]);
  const after = run(
    [
      { type: 'VENUE_REJECTED', orderId: 'a', reason: 'insufficient balance', at: 2 },
      { type: 'GIVE_UP', orderId: 'b', reason: 'not placed within 30000 ms', at: 2 },
      { type: 'BLOCKED', orderId: 'c', reason: 'ESS tripped: TRADING_HALTED', at: 2 },
    ],
    base,
  );
  t.deepEqual(
    after.outbox.map((o) => [o.type, (o.data as { retryable?: boolean }).retryable]),
    [
      ['order.failed', false],
      ['order.failed', true],
      ['order.cancelled', undefined],
    ],
  );
  t.deepEqual(after.orders, {});
});

test('a retry keeps the order pending until retryAt, with the error remembered', (t) => {
  const ctx = run([
    { type: 'APPROVED', order: approved('a'), at: 1 },
    { type: 'SUBMITTING', orderId: 'a', at: 2 },
    { type: 'VENUE_RETRY', orderId: 'a', reason: 'unknown: 503', retryAt: 500, at: 3 },
  ]);
  t.like(ctx.orders.a, { status: 'pending', attempts: 1, notBefore: 500, lastError: 'unknown: 503' });
});

test('stop-loss and take-profit start a reduce-only exit of the whole position, once', (t) => {
  const long = run([
    { type: 'APPROVED', order: approved('ord-1'), at: 1 },
    { type: 'VENUE_ORDER', orderId: 'ord-1', order: venueOrder('ord-1'), at: 2 },
  ]);
  const quiet = run([{ type: 'TICK', symbol: 'BTCUSDT', price: 49_500, at: 3 }], long);
  t.deepEqual(quiet.orders, {}, 'a 1 % dip is inside the 2 % stop');
  const stopped = run([{ type: 'TICK', symbol: 'BTCUSDT', price: 48_900, at: 4 }], long);
  const exit = Object.values(stopped.orders)[0];
  t.like(exit, { purpose: 'stop_loss', side: 'sell', quantity: 0.1, reduceOnly: true, type: 'market' });
  const again = run([{ type: 'TICK', symbol: 'BTCUSDT', price: 48_000, at: 5 }], stopped);
  t.is(Object.keys(again.orders).length, 1, 'no second exit while one is working');

  const profit = run([{ type: 'TICK', symbol: 'BTCUSDT', price: 51_600, at: 3 }], long);
  t.like(Object.values(profit.orders)[0], { purpose: 'take_profit', side: 'sell' });

  const exitId = exit?.orderId ?? '';
  const flat = run(
    [
      {
        type: 'VENUE_ORDER',
        orderId: exitId,
        order: venueOrder(exitId, { side: 'sell', averagePrice: 48_900 }),
        at: 6,
      },
    ],
    stopped,
  );
  t.deepEqual(flat.positions, {}, 'the exit closed the position');
});

test('no TP/SL exit is started while the ESS is tripped or awaiting reset', (t) => {
  const long = run([
    { type: 'APPROVED', order: approved('ord-1'), at: 1 },
    { type: 'VENUE_ORDER', orderId: 'ord-1', order: venueOrder('ord-1'), at: 2 },
    { type: 'ESS', state: 'tripped', at: 3 },
  ]);
  const crashed = run([{ type: 'TICK', symbol: 'BTCUSDT', price: 30_000, at: 4 }], long);
  t.deepEqual(crashed.orders, {});
  const reducing = run(
    [
      { type: 'ESS', state: 'reducing', at: 5 },
      { type: 'TICK', symbol: 'BTCUSDT', price: 30_000, at: 6 },
    ],
    long,
  );
  t.is(Object.values(reducing.orders)[0]?.purpose, 'stop_loss', 'reducing allows reduce-only exits');
});

test('a buy whose fee is paid in the base asset opens a position net of the fee', (t) => {
  const ctx = run([
    { type: 'APPROVED', order: approved('ord-1'), at: 1 },
    {
      type: 'VENUE_ORDER',
      orderId: 'ord-1',
      order: venueOrder('ord-1', {
        fills: [{ tradeId: '1', price: 50_000, quantity: 0.1, fee: 0.0001, feeAsset: 'BTC' }],
      }),
      at: 2,
    },
  ]);
  t.true(Math.abs((ctx.positions.BTCUSDT?.quantity ?? 0) - 0.0999) < 1e-12);
});
