/**
 * Pre-trade's side of flatten, and its open-order count (docs/actors.md,
 * pre-trade): an `ess.flatten_requested` is decided like a signal, from
 * what the actor consumed, into one reduce-only emergency exit per open
 * position while the ESS is tripped; the open-order count follows only the
 * orders pre-trade approved, so execution's TP/SL exits cannot make it drift.
 */
import test from 'ava';
import { createActor } from 'xstate';
import { takeOutbox } from '../../../src/actors/outbox.js';
import { DEFAULT_RISK_POLICY } from '../../../src/actors/risk-safety/policy.js';
import { flattenOrderId } from '../../../src/actors/risk-safety/pretrade-flatten.js';
import {
  type PretradeEvent,
  pretradeMachine,
  toPretradeEvents,
} from '../../../src/actors/risk-safety/pretrade-machine.js';
import { EVENT_CATALOG, type EventData, type EventType } from '../../../src/events/catalog.js';
import { createEnvelope, type Envelope } from '../../../src/events/envelope.js';

const NOW = Date.UTC(2026, 0, 5, 12, 0, 0);

const envelope = <T extends EventType>(type: T, data: EventData<T>, at = NOW): Envelope<T> =>
  createEnvelope({ type, data, source: 'test', producer: 'p', seq: 1, now: new Date(at) });

const buy = (signalId: string, decidedAt = NOW): PretradeEvent => ({
  type: 'SIGNAL',
  signal: { signalId, symbol: 'BTCUSDT', side: 'buy', confidence: 0.9, price: 50_000, strategies: [] },
  signalTime: decidedAt,
  decidedAt,
});

const flatten = (requestId: string, decidedAt = NOW): PretradeEvent => ({ type: 'FLATTEN', requestId, decidedAt });

const positions = (eventId: string, held: Record<string, number>): PretradeEvent => ({
  type: 'POSITIONS',
  positions: Object.fromEntries(
    Object.entries(held).map(([symbol, quantity]) => [
      symbol,
      { quantity, markPrice: symbol === 'BTCUSDT' ? 50_000 : 3_000 },
    ]),
  ),
  eventId,
});

const closed = (orderId: string, eventId: string): PretradeEvent => ({ type: 'ORDER_CLOSED', orderId, eventId });

test('ess.flatten_requested is a FLATTEN at the delivery time; an order outcome names its order', (t) => {
  const request = envelope('ess.flatten_requested', {
    requestId: 'req-1',
    operator: 'alice',
    reason: 'flatten',
    requestedAt: new Date(NOW).toISOString(),
  });
  t.deepEqual(toPretradeEvents(request, { receivedAt: NOW + 7.9 }), [
    { type: 'FLATTEN', requestId: 'req-1', decidedAt: NOW + 7 },
  ]);
  const filled = envelope('order.filled', {
    orderId: 'tp-btcusdt-1',
    symbol: 'BTCUSDT',
    side: 'sell',
    venue: 'paper',
    venueOrderId: '1',
    quantity: 1,
    price: 1,
    fee: 0,
    feeAsset: 'USDT',
  });
  t.deepEqual(toPretradeEvents(filled, { receivedAt: NOW }), [
    { type: 'ORDER_CLOSED', orderId: 'tp-btcusdt-1', eventId: filled.id },
  ]);
  const trip = envelope('ess.trip_requested', {
    requestId: 'req-2',
    operator: 'alice',
    reason: 'halt',
    requestedAt: new Date(NOW).toISOString(),
  });
  t.deepEqual(toPretradeEvents(trip, { receivedAt: NOW }), [], 'a trip request is not an ESS state');
});

test('the open-order count follows pre-trade’s approvals only: a TP/SL exit closing does not lower it', (t) => {
  const actor = createActor(pretradeMachine).start();
  actor.send({ type: 'POLICY', policy: { ...DEFAULT_RISK_POLICY, maxOpenOrders: 2 }, eventId: 'risk-1' });
  actor.send(buy('s1', NOW));
  actor.send(buy('s2', NOW + 200));
  t.is(actor.getSnapshot().context.openOrders, 2);
  t.deepEqual(actor.getSnapshot().context.openOrderIds, ['ord-s1', 'ord-s2']);
  actor.send(closed('tp-btcusdt-1', 'o-1'));
  actor.send(closed('sl-btcusdt-2', 'o-2'));
  actor.send(closed('ord-unknown', 'o-3'));
  t.is(actor.getSnapshot().context.openOrders, 2, 'execution’s own exits and unknown orders change nothing');
  actor.send(buy('s3', NOW + 400));
  actor.send(closed('ord-s1', 'o-4'));
  actor.send(closed('ord-s1', 'o-5'));
  t.is(actor.getSnapshot().context.openOrders, 1, 'its own order closing lowers it once');
  actor.send(buy('s4', NOW + 600));
  const decisions = takeOutbox(actor);
  t.deepEqual(
    decisions.map((d) => [d.type, (d.data as { reason?: string }).reason]),
    [
      ['order.approved', undefined],
      ['order.approved', undefined],
      ['order.rejected', 'MAX_OPEN_ORDERS'],
      ['order.approved', undefined],
    ],
  );
  t.like(actor.getSnapshot().context, { openOrders: 2, openOrderIds: ['ord-s2', 'ord-s4'] });
});

test('a snapshot from before order ids were kept: its counted approvals close by their ord- ids, exits still do not', (t) => {
  const actor = createActor(pretradeMachine).start();
  const json = JSON.parse(JSON.stringify(actor.getPersistedSnapshot()));
  json.context.openOrders = 2;
  delete json.context.openOrderIds;
  delete json.context.flattens;
  const old = createActor(pretradeMachine, { snapshot: json }).start();
  old.send(closed('tp-btcusdt-1', 'o-1'));
  t.is(old.getSnapshot().context.openOrders, 2);
  old.send(closed('ord-from-before', 'o-2'));
  old.send(closed('ord-from-before-2', 'o-3'));
  old.send(closed('ord-from-before-3', 'o-4'));
  t.is(old.getSnapshot().context.openOrders, 0, 'down to zero, never below');
});

test('flatten while tripped: one reduce-only emergency exit per position, recorded like a decision', (t) => {
  const actor = createActor(pretradeMachine).start();
  actor.send(positions('pf-1', { BTCUSDT: 0.1, ETHUSDT: 1.5, SOLUSDT: 0 }));
  actor.send({ type: 'ESS', state: 'tripped', eventId: 'ess-1' });
  actor.send(flatten('req-1', NOW + 50));
  const context = actor.getSnapshot().context;
  const out = takeOutbox(actor);
  t.deepEqual(
    out.map((o) => o.type),
    ['order.approved', 'order.approved'],
  );
  for (const o of out) EVENT_CATALOG['order.approved'].parse(o.data);
  t.deepEqual(out[0]?.data, {
    orderId: flattenOrderId('req-1', 'BTCUSDT'),
    symbol: 'BTCUSDT',
    side: 'sell',
    quantity: 0.1,
    type: 'market',
    reduceOnly: true,
    emergencyExit: true,
    notional: 5_000,
    decidedAt: new Date(NOW + 50).toISOString(),
    asOf: { portfolio: 'pf-1', ess: 'ess-1' },
  });
  t.like(out[1]?.data, { symbol: 'ETHUSDT', side: 'sell', quantity: 1.5, emergencyExit: true });
  t.is(context.openOrders, 2, 'the exits are open orders');
  t.deepEqual(context.recentOrderTimes, [], 'but not new risk in the rate window');
  t.like(context.asOf, { portfolio: 'pf-1', ess: 'ess-1' }, 'a FLATTEN is not an input: asOf unchanged');
  t.like(context.flattens?.at(-1), { requestId: 'req-1', skipped: [] });

  actor.send(flatten('req-1', NOW + 60));
  t.deepEqual(takeOutbox(actor), [], 'a repeated request is decided once');
  actor.send(flatten('req-2', NOW + 70));
  t.deepEqual(takeOutbox(actor), [], 'the exits are still open: no second exit of the same positions');
  t.deepEqual(
    actor
      .getSnapshot()
      .context.flattens?.at(-1)
      ?.skipped.map((s) => s.symbol),
    ['BTCUSDT', 'ETHUSDT'],
  );
  actor.send(closed(flattenOrderId('req-1', 'BTCUSDT'), 'o-1'));
  actor.send(positions('pf-2', { ETHUSDT: 1.5 }));
  actor.send(flatten('req-3', NOW + 80));
  t.deepEqual(takeOutbox(actor), [], 'ETH’s exit is still open and BTC is flat');
  t.is(actor.getSnapshot().context.openOrders, 1);
});

test('flatten is refused unless the ESS is tripped or awaitingReset as pre-trade last applied it', (t) => {
  for (const state of ['armed', 'reducing'] as const) {
    const actor = createActor(pretradeMachine).start();
    actor.send(positions('pf-1', { BTCUSDT: 0.1 }));
    actor.send({ type: 'ESS', state, eventId: 'ess-1' });
    actor.send(flatten('req-1'));
    t.deepEqual(takeOutbox(actor), [], state);
    t.regex(actor.getSnapshot().context.flattens?.at(-1)?.refused ?? '', new RegExp(`ESS is ${state}`));
    t.is(actor.getSnapshot().context.openOrders, 0);
  }
  const awaiting = createActor(pretradeMachine).start();
  awaiting.send(positions('pf-1', { BTCUSDT: -0.2 }));
  awaiting.send({ type: 'ESS', state: 'awaitingReset', eventId: 'ess-1' });
  awaiting.send(flatten('req-1'));
  t.like(takeOutbox(awaiting)[0]?.data, { side: 'buy', quantity: 0.2, reduceOnly: true }, 'a short is bought back');
});
