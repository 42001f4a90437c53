/**
 * The pre-trade actor's inputs are events: the ESS state from the `ess`
 * stream, the policy from `risk.policy_updated`, the decision time from the
 * host's delivery time; each decision records its time and the last event of
 * each input topic it was decided on.
 */
import test from 'ava';
import { v7 as uuidv7 } from 'uuid';
import { createActor } from 'xstate';
import { DEFAULT_RISK_POLICY, type RiskPolicy } from '../../../src/actors/risk-safety/policy.js';
import {
  PRETRADE_INPUT_TOPICS,
  type PretradeEvent,
  pretradeMachine,
  toPretradeEvents,
} from '../../../src/actors/risk-safety/pretrade-machine.js';
import { ACTOR_TOPICS } from '../../../src/actors/services.js';
import { EVENT_CATALOG, type EventData, type EventType } from '../../../src/events/catalog.js';
import { createEnvelope, type Envelope } from '../../../src/events/envelope.js';

const NOW = Date.UTC(2026, 0, 5, 12, 0, 0);

const envelope = <T extends EventType>(type: T, data: EventData<T>, at = NOW): Envelope<T> =>
  createEnvelope({ type, data, source: 'test', producer: 'p', seq: 1, now: new Date(at) });

const signal = (signalId: string, confidence = 0.8): EventData<'signal.generated'> => ({
  signalId,
  symbol: 'BTCUSDT',
  side: 'buy',
  confidence,
  price: 100_000,
  strategies: [],
});

const signalEvent = (signalId: string, confidence = 0.8, decidedAt = NOW): PretradeEvent => ({
  type: 'SIGNAL',
  signal: signal(signalId, confidence),
  signalTime: NOW,
  decidedAt,
});

/** The decisions an actor queued, each checked against the catalog. */
function decisions(actor: { getSnapshot(): { context: { outbox: readonly { type: string; data: unknown }[] } } }) {
  return actor.getSnapshot().context.outbox.map((o) => {
    EVENT_CATALOG[o.type as 'order.approved' | 'order.rejected'].parse(o.data);
    return { type: o.type, data: o.data as EventData<'order.rejected'> & EventData<'order.approved'> };
  });
}

test('envelopes map to machine events: ess events to the state they announce, the policy, the delivery time', (t) => {
  const at = { receivedAt: NOW + 12.7 };
  const tripped = envelope('ess.tripped', {
    trigger: 'manual',
    reason: 'drill',
    cooldownUntil: new Date(NOW + 60_000).toISOString(),
  });
  t.deepEqual(toPretradeEvents(tripped, at), [{ type: 'ESS', state: 'tripped', eventId: tripped.id }]);
  const changed = envelope('ess.state_changed', { from: 'tripped', to: 'awaitingReset', reason: 'cooldown elapsed' });
  t.deepEqual(toPretradeEvents(changed, at), [{ type: 'ESS', state: 'awaitingReset', eventId: changed.id }]);
  const reset = envelope('ess.reset', { operator: 'ops', reason: 'checked' });
  t.deepEqual(toPretradeEvents(reset, at), [{ type: 'ESS', state: 'armed', eventId: reset.id }]);

  const policy: RiskPolicy = { ...DEFAULT_RISK_POLICY, minConfidence: 0.9 };
  const updated = envelope('risk.policy_updated', { operator: 'ops', policy });
  t.deepEqual(toPretradeEvents(updated, at), [{ type: 'POLICY', policy, eventId: updated.id }]);

  const generated = envelope('signal.generated', signal('sig-1'), NOW - 300);
  t.deepEqual(toPretradeEvents(generated, at), [
    { type: 'SIGNAL', signal: signal('sig-1'), signalTime: NOW - 300, decidedAt: NOW + 12 },
  ]);
  const placed = envelope('order.placed', {
    orderId: 'o',
    symbol: 'BTCUSDT',
    side: 'buy',
    venue: 'paper',
    venueOrderId: 'v',
    quantity: 1,
  });
  t.deepEqual(toPretradeEvents(placed, at), [], 'not an input');
});

test('the actor consumes the signals and exactly the input topics a decision records', (t) => {
  t.deepEqual([...ACTOR_TOPICS.pretrade].sort(), ['signal', ...PRETRADE_INPUT_TOPICS].sort());
  t.deepEqual(
    Object.keys(EVENT_CATALOG['order.approved'].shape.asOf.unwrap().shape).sort(),
    [...PRETRADE_INPUT_TOPICS].sort(),
  );
});

test('a risk.policy_updated without the whole policy does not decode; one from before allowShortSelling does', (t) => {
  const schema = EVENT_CATALOG['risk.policy_updated'];
  t.false(schema.safeParse({ operator: 'ops', policy: {} }).success, 'an empty policy');
  t.false(schema.safeParse({ operator: 'ops', policy: { maxOpenOrders: 3 } }).success, 'a patch');
  const { allowShortSelling: _, ...older } = DEFAULT_RISK_POLICY;
  t.deepEqual(schema.parse({ operator: 'ops', policy: older }).policy, DEFAULT_RISK_POLICY);
});

test('the actor decides by the ESS state and the policy it consumed, and records what it decided on', (t) => {
  const actor = createActor(pretradeMachine).start();
  actor.send(signalEvent('sig-1'));
  actor.send({ type: 'ESS', state: 'tripped', eventId: 'ess-1' });
  actor.send(signalEvent('sig-2'));
  actor.send({ type: 'ESS', state: 'armed', eventId: 'ess-2' });
  actor.send({ type: 'POLICY', policy: { ...DEFAULT_RISK_POLICY, minConfidence: 0.85 }, eventId: 'risk-1' });
  actor.send({ type: 'POSITIONS', positions: {}, eventId: 'pf-1' });
  actor.send({ type: 'ORDER_CLOSED', orderId: 'ord-sig-1', eventId: 'ord-1' });
  actor.send({
    type: 'MODEL_PROMOTED',
    model: { modelId: 'fixed-1', kind: 'fixed', params: { multiplier: 1 } },
    eventId: 'm-1',
  });
  actor.send(signalEvent('sig-3', 0.8, NOW + 1_500));
  actor.send(signalEvent('sig-4', 0.9, NOW + 1_501));

  const out = decisions(actor);
  t.deepEqual(
    out.map((d) => [d.data.signalId, d.type, d.data.reason]),
    [
      ['sig-1', 'order.approved', undefined],
      ['sig-2', 'order.rejected', 'TRADING_HALTED'],
      ['sig-3', 'order.rejected', 'LOW_CONFIDENCE'],
      ['sig-4', 'order.approved', undefined],
    ],
  );
  t.like(out[0]?.data, { decidedAt: new Date(NOW).toISOString(), asOf: {} });
  t.deepEqual(out[1]?.data.asOf, { ess: 'ess-1' });
  t.deepEqual(out[3]?.data.asOf, { ess: 'ess-2', risk: 'risk-1', portfolio: 'pf-1', order: 'ord-1', model: 'm-1' });
  t.is(out[3]?.data.decidedAt, new Date(NOW + 1_501).toISOString());
});

test('the decision time is the delivery time: a signal applied late is stale, the rate window counts decision times', (t) => {
  const actor = createActor(pretradeMachine).start();
  actor.send({ type: 'POLICY', policy: { ...DEFAULT_RISK_POLICY, maxOrdersPerSecond: 1 }, eventId: uuidv7() });
  actor.send(signalEvent('sig-1', 0.8, NOW + DEFAULT_RISK_POLICY.maxSignalAgeMs + 1));
  actor.send(signalEvent('sig-2', 0.8, NOW + 100));
  actor.send(signalEvent('sig-3', 0.8, NOW + 1_099));
  actor.send(signalEvent('sig-4', 0.8, NOW + 1_101));
  t.deepEqual(
    decisions(actor).map((d) => d.data.reason ?? 'approved'),
    ['STALE_SIGNAL', 'approved', 'RATE_LIMIT_EXCEEDED', 'approved'],
  );
});

test('a snapshot from before the ESS and policy were consumed decides armed, with the default policy', (t) => {
  const actor = createActor(pretradeMachine).start();
  const json = JSON.parse(JSON.stringify(actor.getPersistedSnapshot()));
  delete json.context.essState;
  delete json.context.policy;
  delete json.context.asOf;
  const old = createActor(pretradeMachine, { snapshot: json }).start();
  old.send(signalEvent('sig-1', DEFAULT_RISK_POLICY.minConfidence));
  t.like(decisions(old)[0], { type: 'order.approved', data: { asOf: {} } });
  old.send({ type: 'ESS', state: 'reducing', eventId: 'ess-1' });
  old.send(signalEvent('sig-2'));
  t.like(decisions(old)[1], { type: 'order.rejected', data: { reason: 'REDUCE_ONLY', asOf: { ess: 'ess-1' } } });

  const restored = createActor(pretradeMachine, {
    snapshot: JSON.parse(JSON.stringify(old.getPersistedSnapshot())),
  }).start();
  t.is(restored.getSnapshot().context.essState, 'reducing', 'the ESS state is persisted with the snapshot');
});
