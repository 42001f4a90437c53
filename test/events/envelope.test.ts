import test from 'ava';
import { EVENT_CATALOG, EVENT_TYPES, TOPICS, topicOf } from '../../src/events/catalog.js';
import { createEnvelope, validateEnvelope } from '../../src/events/envelope.js';
import { decodeEntry, encodeEntry } from '../../src/streams/codec.js';

const tick = { symbol: 'BTCUSDT', price: 65000.5, volume: 1.2 };

test('the catalog has every v1 type of the design, each with its topic', (t) => {
  const expected = [
    'market.tick',
    'market.candle',
    'signal.generated',
    'order.approved',
    'order.rejected',
    'order.placed',
    'order.filled',
    'order.reported',
    'order.cancelled',
    'order.failed',
    'portfolio.updated',
    'ess.tripped',
    'ess.state_changed',
    'ess.reset',
    'ess.trip_requested',
    'ess.flatten_requested',
    'risk.policy_updated',
    'risk.entries_paused',
    'risk.entries_resumed',
    'health.snapshot_updated',
    'health.alert_raised',
    'health.alert_cleared',
    'model.evaluated',
    'model.promoted',
    'audit.command_executed',
    'ops.restart_step',
  ];
  t.deepEqual([...EVENT_TYPES].sort(), [...expected].sort());
  t.deepEqual([...TOPICS].sort(), [
    'audit',
    'ess',
    'health',
    'market',
    'model',
    'ops',
    'order',
    'portfolio',
    'risk',
    'signal',
  ]);
  t.is(topicOf('order.filled'), 'order');
});

test('createEnvelope fills id (UUIDv7), time, version and correlation id', (t) => {
  const env = createEnvelope({ type: 'market.tick', data: tick, source: 'marketdata', producer: 'p1', seq: 1 });
  t.regex(env.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  t.is(env.correlationId, env.id);
  t.is(env.version, 1);
  t.deepEqual(env.data, tick);
  t.notThrows(() => new Date(env.time).toISOString());
});

test('UUIDv7 ids sort in creation order', (t) => {
  const ids = Array.from(
    { length: 50 },
    (_, i) => createEnvelope({ type: 'market.tick', data: tick, source: 's', producer: 'p', seq: i + 1 }).id,
  );
  t.deepEqual([...ids].sort(), ids);
});

test('bad data is refused with the zod issues', (t) => {
  const err = t.throws(() =>
    createEnvelope({
      type: 'market.tick',
      data: { symbol: 'btc', price: -1 } as never,
      source: 's',
      producer: 'p',
      seq: 1,
    }),
  );
  t.is((err as { code?: string }).code, 'QT_ENVELOPE_INVALID');
  t.regex(err?.message ?? '', /symbol/);
  t.regex(err?.message ?? '', /price/);
});

test('unknown types and bad headers are refused', (t) => {
  const good = createEnvelope({ type: 'market.tick', data: tick, source: 's', producer: 'p', seq: 1 });
  t.throws(() => validateEnvelope({ ...good, type: 'market.exploded' }), { code: 'QT_UNKNOWN_EVENT_TYPE' } as never);
  t.throws(() => validateEnvelope({ ...good, seq: 0 }), { code: 'QT_ENVELOPE_INVALID' } as never);
  t.throws(() => validateEnvelope({ ...good, id: 'not-a-uuid' }), { code: 'QT_ENVELOPE_INVALID' } as never);
  t.throws(() => validateEnvelope({ ...good, producer: 'a:b' }), { code: 'QT_ENVELOPE_INVALID' } as never);
});

test('an entry round-trips through the stream codec', (t) => {
  const env = createEnvelope({
    type: 'order.rejected',
    data: { orderId: 'o-1', symbol: 'ETHUSDT', side: 'buy', reason: 'LOW_CONFIDENCE', detail: '0.2 < 0.6' },
    source: 'risk-safety',
    producer: 'p',
    seq: 9,
    correlationId: 'req-42',
    causationId: 'evt-1',
  });
  const fields = encodeEntry(env);
  t.is(fields[1], 'order.rejected');
  t.deepEqual(decodeEntry(fields), env);
});

test('malformed entries are refused with a reason', (t) => {
  t.throws(() => decodeEntry(['type', 'market.tick']), { message: /no "env" field/ });
  t.throws(() => decodeEntry(['env', '{oops']), { message: /not JSON/ });
  t.throws(() => decodeEntry(['env', '{"id":1}']), { code: 'QT_ENVELOPE_INVALID' } as never);
});

test('every catalog schema rejects an empty object or accepts it knowingly', (t) => {
  for (const type of EVENT_TYPES) {
    t.false(EVENT_CATALOG[type].safeParse({}).success, `${type} must require fields`);
  }
});
