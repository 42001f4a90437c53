/**
 * Execution's side of flatten (docs/execution.md): an approval marked
 * `emergencyExit` (and reduce-only) is worked while the ESS is tripped, for
 * no more than the position execution holds; a trip does not cancel it; and
 * what the ESS cancels names the ESS state and what tripped it.
 */
import test from 'ava';
import {
  type ExecutionContext,
  type ExecutionEvent,
  heldAgainst,
  initialExecution,
  reduceExecution,
} from '../../../src/actors/execution/execution-book.js';
import { executionToEvents } from '../../../src/actors/execution/execution-machine.js';
import type { EventData } from '../../../src/events/catalog.js';
import { createEnvelope } from '../../../src/events/envelope.js';
import type { VenueOrder } from '../../../src/exchange/adapter.js';

const approval = (
  orderId: string,
  side: 'buy' | 'sell',
  quantity: number,
  extra: Partial<EventData<'order.approved'>> = {},
): EventData<'order.approved'> => ({
  orderId,
  symbol: 'BTCUSDT',
  side,
  type: 'market',
  quantity,
  reduceOnly: false,
  notional: quantity * 50_000,
  ...extra,
});

const exit = (orderId: string, side: 'buy' | 'sell', quantity: number) =>
  approval(orderId, side, quantity, { reduceOnly: true, emergencyExit: true });

const filled = (orderId: string, side: 'buy' | 'sell', quantity: number, status: VenueOrder['status'] = 'filled') => ({
  type: 'VENUE_ORDER' as const,
  orderId,
  at: 2,
  order: {
    venue: 'paper',
    venueOrderId: orderId,
    clientOrderId: orderId,
    symbol: 'BTCUSDT',
    side,
    type: 'market',
    status,
    quantity,
    executedQuantity: status === 'new' ? 0 : quantity,
    averagePrice: 50_000,
    fills: status === 'new' ? [] : [{ tradeId: orderId, price: 50_000, quantity, fee: 1, feeAsset: 'USDT' }],
  } satisfies VenueOrder,
});

const run = (events: ExecutionEvent[], start = initialExecution({ takeProfit: 0, stopLoss: 0 })) =>
  events.reduce<ExecutionContext>((ctx, e) => reduceExecution(ctx, e), start);

const TRIP = { trigger: 'manual', reason: 'drill', operator: 'alice' } as const;

/** A book holding 0.3 BTC, with the ESS tripped by alice. */
const holding = () =>
  run([
    { type: 'APPROVED', order: approval('ord-1', 'buy', 0.3), at: 1 },
    filled('ord-1', 'buy', 0.3),
    { type: 'ESS', state: 'tripped', at: 3, trip: TRIP },
  ]);

test('an emergency exit is worked as one, for no more than execution holds', (t) => {
  const book = run([{ type: 'APPROVED', order: exit('flat-1', 'sell', 0.5), at: 4 }], holding());
  t.like(book.orders['flat-1'], { purpose: 'emergency_exit', emergencyExit: true, reduceOnly: true, quantity: 0.3 });
  t.is(heldAgainst(book, { symbol: 'BTCUSDT', side: 'sell' }), 0.3);
  t.is(heldAgainst(book, { symbol: 'BTCUSDT', side: 'buy' }), 0, 'a buy would grow the long');
  const done = run([filled('flat-1', 'sell', 0.3)], book);
  t.deepEqual(done.positions, {}, 'flat');
  t.deepEqual(
    done.outbox.slice(-2).map((o) => o.type),
    ['order.placed', 'order.filled'],
  );
});

test('an emergency exit that would not reduce a position execution holds is refused at once', (t) => {
  const book = run(
    [
      { type: 'APPROVED', order: exit('flat-buy', 'buy', 0.1), at: 4 },
      { type: 'APPROVED', order: { ...exit('flat-eth', 'sell', 1), symbol: 'ETHUSDT' }, at: 4 },
    ],
    holding(),
  );
  t.deepEqual(Object.keys(book.orders), []);
  t.deepEqual(
    book.outbox.filter((o) => o.type === 'order.cancelled').map((o) => (o.data as { reason: string }).reason),
    [
      'emergency exit refused: execution holds no short BTCUSDT position for it to reduce',
      'emergency exit refused: execution holds no long ETHUSDT position for it to reduce',
    ],
  );
});

test('a flag without reduce-only is not an exit; a trip cancels resting orders but keeps an operator’s exits', (t) => {
  const odd = run(
    [{ type: 'APPROVED', order: approval('odd', 'sell', 0.1, { emergencyExit: true }), at: 4 }],
    holding(),
  );
  t.like(odd.orders.odd, { purpose: 'signal' });
  t.is(odd.orders.odd?.emergencyExit, undefined);

  const armed = run([
    { type: 'APPROVED', order: approval('ord-1', 'buy', 0.3), at: 1 },
    filled('ord-1', 'buy', 0.3),
    { type: 'APPROVED', order: approval('ord-rest', 'buy', 0.1), at: 2 },
    filled('ord-rest', 'buy', 0.1, 'new'),
    { type: 'APPROVED', order: exit('flat-rest', 'sell', 0.1), at: 2 },
    filled('flat-rest', 'sell', 0.1, 'new'),
  ]);
  const tripped = run([{ type: 'ESS', state: 'tripped', at: 3, trip: TRIP }], armed);
  t.like(tripped.orders['ord-rest'], {
    status: 'cancelling',
    cancelReason: 'ESS tripped: tripped by operator alice: drill',
  });
  t.is(tripped.orders['flat-rest']?.status, 'open', 'the exit rests on');
});

test('the ESS events carry the trip cause into the book; a reset clears it', (t) => {
  const meta = { source: 'risk-safety', producer: 'risk.ess', seq: 1 };
  const tripped = createEnvelope({
    type: 'ess.tripped',
    data: { trigger: 'manual', reason: 'drill', operator: 'alice', cooldownUntil: new Date(60_000).toISOString() },
    ...meta,
  });
  const [event] = executionToEvents(tripped);
  t.like(event, { type: 'ESS', state: 'tripped', trip: TRIP });
  const changed = (to: 'tripped' | 'awaitingReset' | 'armed') =>
    executionToEvents(
      createEnvelope({ type: 'ess.state_changed', data: { from: 'armed', to, reason: 'x' }, ...meta }),
    )[0];
  t.false('trip' in (changed('tripped') ?? {}), 'the state change after it keeps the cause');
  t.false('trip' in (changed('awaitingReset') ?? {}));
  t.is((changed('armed') as { trip?: unknown }).trip, null);
  const book = run([event!, changed('awaitingReset')!]);
  t.deepEqual(book.essTrip, TRIP);
  t.is(run([changed('armed')!], book).essTrip, null);
});
