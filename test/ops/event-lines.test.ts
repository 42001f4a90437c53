/**
 * The per-event log lines of `npm start` (src/ops/event-lines.ts): for each
 * order ending and ESS transition, the human message and the structured
 * fields (the event's own data, its type and correlation id); the amounts'
 * formatting; and the bounded memory of open orders' quantities.
 */
import { Writable } from 'node:stream';
import test from 'ava';
import type { EventData, EventType } from '../../src/events/catalog.js';
import { createEnvelope, type Envelope } from '../../src/events/envelope.js';
import { createLogger } from '../../src/log.js';
import { eventLine, formatAmount, formatQuantity, LINE_EVENT_TYPES, OrderSizes } from '../../src/ops/event-lines.js';

function envelope<T extends EventType>(type: T, data: EventData<T>, correlationId = 'corr-line'): Envelope<T> {
  return createEnvelope({ type, data, source: 'test', producer: 'p-lines', seq: 1, correlationId });
}

const ref = { orderId: 'o-lines-1', symbol: 'BTCUSDT', side: 'buy' } as const;
const COOLDOWN = '2026-01-01T12:05:00.000Z';

test('order.placed: side, quantity, symbol, price (or market) and venue; the data as fields', (t) => {
  const placed = envelope('order.placed', {
    ...ref,
    venue: 'paper',
    venueOrderId: 'v-1',
    quantity: 0.0123,
    price: 65_012.3,
  });
  const line = eventLine(placed);
  t.is(line?.msg, 'placed BUY 0.0123 BTCUSDT @ 65012.30 on paper');
  t.deepEqual(line?.fields, {
    event: 'order.placed',
    orderId: 'o-lines-1',
    symbol: 'BTCUSDT',
    side: 'buy',
    venue: 'paper',
    venueOrderId: 'v-1',
    quantity: 0.0123,
    price: 65_012.3,
    correlationId: 'corr-line',
  });
  const market = envelope('order.placed', { ...ref, side: 'sell', venue: 'binance', venueOrderId: 'v-2', quantity: 2 });
  t.is(eventLine(market)?.msg, 'placed SELL 2 BTCUSDT at market on binance');
});

test('order.filled: quantity, price, fee and fee asset', (t) => {
  const data = {
    ...ref,
    venue: 'paper',
    venueOrderId: 'v-1',
    quantity: 0.0123,
    price: 65_012.3,
    fee: 0.8,
    feeAsset: 'USDT',
  };
  const line = eventLine(envelope('order.filled', data));
  t.is(line?.msg, 'filled BUY 0.0123 BTCUSDT @ 65012.30 fee 0.80 USDT');
  t.deepEqual(line?.fields, { event: 'order.filled', ...data, correlationId: 'corr-line' });
  const small = {
    ...data,
    symbol: 'DOGEUSDT',
    side: 'sell',
    quantity: 150,
    price: 0.123456,
    fee: 0.0000123,
    feeAsset: 'BNB',
  } as const;
  t.is(eventLine(envelope('order.filled', small))?.msg, 'filled SELL 150 DOGEUSDT @ 0.1235 fee 0.0000123 BNB');
});

test('order.cancelled: the reason as published; the quantity only when an earlier event of the order gave it', (t) => {
  const cancelled = envelope('order.cancelled', {
    ...ref,
    side: 'sell',
    symbol: 'ETHUSDT',
    reason: 'ESS tripped: TRADING_HALTED',
  });
  const line = eventLine(cancelled, { quantity: 0.5 });
  t.is(line?.msg, 'cancelled SELL 0.5 ETHUSDT: ESS tripped: TRADING_HALTED');
  t.like(line?.fields, {
    event: 'order.cancelled',
    side: 'sell',
    symbol: 'ETHUSDT',
    quantity: 0.5,
    reason: 'ESS tripped: TRADING_HALTED',
  });
  const unknown = eventLine(cancelled);
  t.is(unknown?.msg, 'cancelled SELL ETHUSDT: ESS tripped: TRADING_HALTED');
  t.false(unknown !== undefined && 'quantity' in unknown.fields, 'no quantity is made up');
});

test('order.failed: the reason and whether it is retryable', (t) => {
  const retryable = envelope('order.failed', { ...ref, reason: 'venue unreachable', retryable: true });
  t.is(eventLine(retryable, { quantity: 0.01 })?.msg, 'failed BUY 0.01 BTCUSDT: venue unreachable (retryable)');
  const final = envelope('order.failed', { ...ref, reason: 'insufficient balance', retryable: false });
  const line = eventLine(final);
  t.is(line?.msg, 'failed BUY BTCUSDT: insufficient balance (not retryable)');
  t.like(line?.fields, { event: 'order.failed', retryable: false, reason: 'insufficient balance' });
});

test('ess.tripped: trigger, operator when there is one, reason and cooldown end', (t) => {
  const crash = envelope('ess.tripped', {
    trigger: 'flash_crash',
    reason: 'BTCUSDT fell 18.20 % from 65000 to 53170 in 41000 ms',
    cooldownUntil: COOLDOWN,
  });
  const line = eventLine(crash);
  t.is(
    line?.msg,
    `ESS trip (flash_crash): BTCUSDT fell 18.20 % from 65000 to 53170 in 41000 ms; cooldown until ${COOLDOWN}`,
  );
  t.deepEqual(line?.fields, {
    event: 'ess.tripped',
    trigger: 'flash_crash',
    reason: 'BTCUSDT fell 18.20 % from 65000 to 53170 in 41000 ms',
    cooldownUntil: COOLDOWN,
    correlationId: 'corr-line',
  });
  const manual = envelope('ess.tripped', {
    trigger: 'manual',
    reason: 'drill',
    cooldownUntil: COOLDOWN,
    operator: 'ops',
  });
  t.is(eventLine(manual)?.msg, `ESS trip (manual by ops): drill; cooldown until ${COOLDOWN}`);
});

test('ess.state_changed: from → to, with the trigger and the cooldown end when the event has them', (t) => {
  const trip = envelope('ess.state_changed', {
    from: 'armed',
    to: 'tripped',
    trigger: 'flash_crash',
    reason: 'BTCUSDT fell 18.20 % from 65000 to 53170 in 41000 ms',
    cooldownUntil: COOLDOWN,
  });
  const line = eventLine(trip);
  t.is(
    line?.msg,
    `ESS armed → tripped: flash_crash BTCUSDT fell 18.20 % from 65000 to 53170 in 41000 ms; cooldown until ${COOLDOWN}`,
  );
  t.like(line?.fields, { event: 'ess.state_changed', from: 'armed', to: 'tripped', trigger: 'flash_crash' });
  const elapsed = envelope('ess.state_changed', { from: 'tripped', to: 'awaitingReset', reason: 'cooldown elapsed' });
  t.is(eventLine(elapsed)?.msg, 'ESS tripped → awaitingReset: cooldown elapsed');
  t.false('cooldownUntil' in (eventLine(elapsed)?.fields ?? {}));
});

test('ess.reset: operator and reason', (t) => {
  const line = eventLine(envelope('ess.reset', { operator: 'ops', reason: 'drill over' }));
  t.is(line?.msg, 'ESS reset by ops: drill over');
  t.deepEqual(line?.fields, { event: 'ess.reset', operator: 'ops', reason: 'drill over', correlationId: 'corr-line' });
});

test('every other event type has no line of its own', (t) => {
  t.is(eventLine(envelope('market.tick', { symbol: 'BTCUSDT', price: 65_000, volume: 1 })), undefined);
  const approved = { ...ref, type: 'market', quantity: 0.3, reduceOnly: false, notional: 960 } as const;
  t.is(eventLine(envelope('order.approved', approved)), undefined);
  t.is(eventLine(envelope('order.rejected', { ...ref, reason: 'LOW_CONFIDENCE', detail: 'low' })), undefined);
  t.deepEqual(
    [...LINE_EVENT_TYPES],
    [
      'order.placed',
      'order.filled',
      'order.cancelled',
      'order.failed',
      'ess.tripped',
      'ess.state_changed',
      'ess.reset',
    ],
  );
});

test('formatAmount and formatQuantity', (t) => {
  t.is(formatAmount(65_012.3), '65012.30');
  t.is(formatAmount(0.8), '0.80');
  t.is(formatAmount(0), '0.00');
  t.is(formatAmount(5.5), '5.50');
  t.is(formatAmount(0.123456), '0.1235');
  t.is(formatAmount(0.0000123), '0.0000123');
  t.is(formatAmount(-12.345), '-12.35');
  t.is(formatQuantity(0.0123), '0.0123');
  t.is(formatQuantity(0.5), '0.5');
  t.is(formatQuantity(100), '100');
  t.is(formatQuantity(0.00000001), '0.00000001');
  t.is(formatQuantity(0.1 + 0.2), '0.3', 'float noise past eight decimals is not shown');
});

test('OrderSizes: an ending learns the quantity of its approval or placement, once; bounded', (t) => {
  const sizes = new OrderSizes(2);
  const approved = (orderId: string, quantity: number) =>
    envelope('order.approved', { ...ref, orderId, type: 'market', quantity, reduceOnly: false, notional: 1 });
  const cancelled = (orderId: string) => envelope('order.cancelled', { ...ref, orderId, reason: 'x' });
  t.is(sizes.observe(approved('o-a', 0.3)), undefined);
  t.deepEqual(sizes.observe(cancelled('o-a')), { quantity: 0.3 });
  t.is(sizes.observe(cancelled('o-a')), undefined, 'forgotten once ended');
  // The placement's quantity replaces the approval's (a venue may round it).
  sizes.observe(approved('o-b', 0.3));
  sizes.observe(
    envelope('order.placed', { ...ref, orderId: 'o-b', venue: 'paper', venueOrderId: 'v', quantity: 0.29 }),
  );
  t.is(sizes.size, 1);
  sizes.observe(approved('o-c', 1));
  sizes.observe(approved('o-d', 2));
  t.is(sizes.size, 2, 'at most the limit');
  t.is(sizes.observe(cancelled('o-b')), undefined, 'the oldest was forgotten');
  t.deepEqual(sizes.observe(envelope('order.failed', { ...ref, orderId: 'o-d', reason: 'r', retryable: false })), {
    quantity: 2,
  });
});

test('as JSON lines: one record per event, the fields as keys beside the message', (t) => {
  let text = '';
  const destination = new Writable({
    write(chunk, _encoding, done) {
      text += String(chunk);
      done();
    },
  });
  const log = createLogger({ destination });
  const data = {
    ...ref,
    venue: 'paper',
    venueOrderId: 'v-1',
    quantity: 0.0123,
    price: 65_012.3,
    fee: 0.8,
    feeAsset: 'USDT',
  };
  const line = eventLine(envelope('order.filled', data, 'corr-json'));
  if (!line) return t.fail('no line');
  log.info(line.fields, line.msg);
  const records = text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  t.is(records.length, 1);
  t.like(records[0], {
    level: 30,
    event: 'order.filled',
    symbol: 'BTCUSDT',
    side: 'buy',
    quantity: 0.0123,
    price: 65_012.3,
    fee: 0.8,
    feeAsset: 'USDT',
    correlationId: 'corr-json',
    msg: 'filled BUY 0.0123 BTCUSDT @ 65012.30 fee 0.80 USDT',
  });
});
