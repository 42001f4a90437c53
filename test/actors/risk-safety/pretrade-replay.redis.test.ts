/**
 * The pre-trade contract: replaying the recorded streams from the start into
 * a fresh pre-trade machine reproduces every decision exactly (same type,
 * same data). The live run is the real PretradeService on a real Redis, fed
 * signals, portfolio updates, order outcomes, policy changes (through
 * `PUT /policy` and as a bare `risk.policy_updated`), ESS transitions and an
 * operator's flatten (`ess.flatten_requested`) as events, with a restart in
 * the middle; topics are published in bursts, so how the actor's consumers
 * interleave them is up to the run. The replay (docs/actors.md, pre-trade)
 * reads the streams back with XRANGE and, for each trigger (a signal or a
 * flatten request) in the order of its decisions, first applies every input
 * event up to the ones its decision names in `asOf`, then the trigger at its
 * `decidedAt`.
 */
import test from 'ava';
import Fastify from 'fastify';
import type { Redis } from 'ioredis';
import { createActor } from 'xstate';
import { takeOutbox } from '../../../src/actors/outbox.js';
import { DEFAULT_RISK_POLICY, PolicyStore, type RiskPolicy } from '../../../src/actors/risk-safety/policy.js';
import { registerPolicyRoutes } from '../../../src/actors/risk-safety/policy-routes.js';
import {
  PRETRADE_INPUT_TOPICS,
  type PretradeInputTopic,
  pretradeMachine,
  toPretradeEvents,
} from '../../../src/actors/risk-safety/pretrade-machine.js';
import { PretradeService } from '../../../src/actors/risk-safety/pretrade-service.js';
import type { EventData } from '../../../src/events/catalog.js';
import type { Envelope } from '../../../src/events/envelope.js';
import { adminGuard } from '../../../src/http/auth.js';
import { decodeEntry } from '../../../src/streams/codec.js';
import type { Keys } from '../../../src/streams/keys.js';
import { RedisPublisher } from '../../../src/streams/publisher.js';
import { deadLetters, testKeys, waitFor } from '../../support/bus.js';
import { startRedis } from '../../support/redis-fixture.js';

const TOKEN = 'a-replay-admin-token';
const PRODUCER = 'risk';

type Decision = Envelope<'order.approved'> | Envelope<'order.rejected'>;

/**
 * A topic's events as the pre-trade group applied them: in stream order,
 * without the entries it dead-lettered and without repeats of a
 * (producer, seq) it had already processed (acked unhandled).
 */
async function applied(redis: Redis, keys: Keys, topic: string): Promise<Envelope[]> {
  const dead = new Set(
    (await deadLetters(redis, keys)).filter((d) => d.group === 'pretrade' && d.topic === topic).map((d) => d.entryId),
  );
  const seen = new Set<string>();
  const out: Envelope[] = [];
  for (const [entryId, fields] of await redis.xrange(keys.stream(topic), '-', '+')) {
    if (dead.has(entryId)) continue;
    const event = decodeEntry(fields);
    const key = `${event.producer}/${event.seq}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(event);
  }
  return out;
}

/** Events that are decided on, not applied as inputs: signals, and operators' flatten requests (on `ess`). */
const isTrigger = (e: Envelope) => e.type === 'signal.generated' || e.type === 'ess.flatten_requested';

/**
 * Replays the recorded streams into a fresh machine, no Redis: for each
 * trigger, in the order its first decision was recorded, the input events of
 * each topic up to (and with) the one its recorded decision names in
 * `asOf`, then the trigger with the recorded `decidedAt` as delivery time.
 * Between two triggers the events of different topics touch different parts
 * of the context, so their order among themselves does not matter; their
 * order relative to the triggers is what `asOf` records. A flatten request
 * that decided no order (refused, or nothing to close) changes nothing a
 * decision reads, so it is not replayed. Returns the decisions it made.
 */
function replay(
  triggers: readonly Envelope[],
  inputs: Readonly<Record<PretradeInputTopic, readonly Envelope[]>>,
  recorded: readonly Decision[],
): { type: string; data: unknown }[] {
  const actor = createActor(pretradeMachine).start();
  const cursor = Object.fromEntries(PRETRADE_INPUT_TOPICS.map((topic) => [topic, 0])) as Record<
    PretradeInputTopic,
    number
  >;
  const byId = new Map(triggers.map((e) => [e.id, e]));
  const firstDecision = new Map<string, Decision>();
  for (const d of recorded) if (!firstDecision.has(d.causationId ?? '')) firstDecision.set(d.causationId ?? '', d);
  const out: { type: string; data: unknown }[] = [];
  for (const [cause, decision] of firstDecision) {
    const trigger = byId.get(cause);
    if (!trigger) throw new Error(`decision ${decision.id} has no trigger ${cause}`);
    const { asOf = {}, decidedAt } = decision.data;
    if (decidedAt === undefined) throw new Error(`decision ${decision.id} has no decidedAt`);
    for (const topic of PRETRADE_INPUT_TOPICS) {
      const upTo = asOf[topic];
      if (upTo === undefined) continue;
      const events = inputs[topic];
      // The one applied last, or one after it.
      const last = events.findIndex((e, i) => i >= cursor[topic] - 1 && e.id === upTo);
      if (last === -1) throw new Error(`decision ${decision.id}: ${topic} event ${upTo} is before the last applied`);
      // Only a trigger's decision reads the delivery time; the inputs never do.
      for (; cursor[topic] <= last; cursor[topic]++) {
        const event = events[cursor[topic]] as Envelope;
        if (isTrigger(event)) continue;
        for (const e of toPretradeEvents(event, { receivedAt: Number.NaN })) actor.send(e);
      }
    }
    for (const e of toPretradeEvents(trigger, { receivedAt: Date.parse(decidedAt) })) actor.send(e);
    out.push(...takeOutbox(actor));
  }
  return out;
}

test('replaying the recorded streams into a fresh pre-trade machine reproduces every decision', async (t) => {
  const server = await startRedis({ name: 'pretrade-replay' });
  t.teardown(() => server.stop());
  const redis = server.client();
  const keys = testKeys('pretrade-replay');
  const startPretrade = async () => {
    const service = new PretradeService({ redis, keys, producer: PRODUCER, consumer: 'risk-1' });
    await service.start();
    return service;
  };
  let pretrade = await startPretrade();
  const store = new PolicyStore({ redis, keys });
  const routesPublisher = new RedisPublisher({ redis, keys, producer: 'risk-api', source: 'risk-safety' });
  const app = Fastify();
  registerPolicyRoutes(app, { store, publisher: routesPublisher, guardAdmin: adminGuard(TOKEN) });
  await app.ready();
  t.teardown(async () => {
    await pretrade.close();
    await app.close();
  });
  const put = async (policy: Partial<RiskPolicy>) => {
    const res = await app.inject({
      method: 'PUT',
      url: '/policy',
      headers: { authorization: `Bearer ${TOKEN}` },
      payload: { operator: 'ops', policy },
    });
    t.is(res.statusCode, 200, res.body);
  };

  const ai = new RedisPublisher({ redis, keys, producer: 'ai', source: 'ai-engine' });
  const lateAi = new RedisPublisher({
    redis,
    keys,
    producer: 'ai-late',
    source: 'ai-engine',
    now: () => new Date(Date.now() - 60_000),
  });
  const exec = new RedisPublisher({ redis, keys, producer: 'exec', source: 'execution' });
  const pf = new RedisPublisher({ redis, keys, producer: 'pf', source: 'portfolio-intelligence' });
  const ess = new RedisPublisher({ redis, keys, producer: 'ess', source: 'risk-safety' });
  const opsTool = new RedisPublisher({ redis, keys, producer: 'ops-tool', source: 'ops' });
  let published = 0;
  const signal = (id: string, side: 'buy' | 'sell', confidence: number, symbol = 'BTCUSDT', via = ai) => {
    published++;
    return via.publish('signal.generated', {
      signalId: id,
      symbol,
      side,
      confidence,
      price: symbol === 'BTCUSDT' ? 50_000 : 2_500,
      strategies: [],
    });
  };
  const portfolio = (btc: number) =>
    pf.publish('portfolio.updated', {
      equity: 100_000,
      cash: 100_000 - btc * 50_000,
      peakEquity: 100_000,
      drawdown: 0,
      realizedPnl: 0,
      unrealizedPnl: 0,
      dailyRealizedPnl: 0,
      exposure: btc * 50_000,
      positions: [{ symbol: 'BTCUSDT', quantity: btc, avgPrice: 50_000, markPrice: 50_000 }],
    });
  const ref = (signalId: string) => ({ orderId: `ord-${signalId}`, symbol: 'BTCUSDT', side: 'buy' as const });
  const essChange = (from: EventData<'ess.state_changed'>['from'], to: EventData<'ess.state_changed'>['to']) =>
    ess.publish('ess.state_changed', { from, to, reason: `test: ${from} → ${to}` });
  const decisions = async (): Promise<Decision[]> =>
    (await redis.xrange(keys.stream('order'), '-', '+'))
      .map(([, f]) => decodeEntry(f))
      .filter((e): e is Decision => e.type === 'order.approved' || e.type === 'order.rejected');
  // Generous bounds: other suites may load the machine.
  const consumed = (what: string, predicate: () => boolean | Promise<boolean>) => waitFor(predicate, what, 30_000);
  const signalDecisions = async () => (await decisions()).filter((d) => d.data.signalId !== undefined);
  const allDecided = () => consumed('every signal decided', async () => (await signalDecisions()).length === published);
  const context = () => pretrade.host.snapshot.context;

  // 1. Armed, default policy. Signals, a position and a fill in one burst.
  await Promise.all([
    signal('p1-buy', 'buy', 0.9),
    signal('p1-low', 'buy', 0.3),
    signal('p1-short', 'sell', 0.9, 'ETHUSDT'),
    signal('p1-stale', 'buy', 0.9, 'BTCUSDT', lateAi),
    portfolio(0.1),
    exec.publish('order.filled', {
      ...ref('p1-buy'),
      venue: 'paper',
      venueOrderId: 'v1',
      quantity: 0.02,
      price: 50_000,
      fee: 1,
      feeAsset: 'USDT',
    }),
    signal('p1-sell', 'sell', 0.9),
  ]);
  await allDecided();
  await consumed('the position consumed', () => context().positions.BTCUSDT?.quantity === 0.1);

  // 2. A policy change through the route, with a signal racing it; then signals under it for sure.
  await Promise.all([put({ maxOpenOrders: 2, minConfidence: 0.7 }), signal('p2-race', 'buy', 0.65)]);
  await consumed('the route’s policy consumed', () => context().policy?.maxOpenOrders === 2);
  for (const id of ['p2-a', 'p2-b', 'p2-c', 'p2-d']) await signal(id, 'buy', 0.9);
  await allDecided();
  await Promise.all([
    exec.publish('order.cancelled', { ...ref('p2-a'), reason: 'test' }),
    exec.publish('order.failed', { ...ref('p2-b'), reason: 'test', retryable: false }),
    signal('p2-after-close', 'buy', 0.9),
  ]);
  await allDecided();

  // 3. A restart, then a policy published as an event only: the store never
  // has it, so deciding by the store instead of the events would not replay.
  await pretrade.close();
  pretrade = await startPretrade();
  const stored = await store.load();
  await opsTool.publish('risk.policy_updated', {
    operator: 'ops-tool',
    policy: { ...stored, orderNotional: 2_000, maxNotionalPerOrder: 1_500, maxOpenOrders: 20 },
  });
  await consumed('the published policy consumed', () => context().policy?.orderNotional === 2_000);
  await signal('p3-big', 'buy', 0.9);
  await allDecided();
  t.is((await store.load()).orderNotional, DEFAULT_RISK_POLICY.orderNotional, 'the store does not have it');
  t.like((await decisions()).at(-1)?.data, { signalId: 'p3-big', reason: 'NOTIONAL_EXCEEDS_MAX' });

  // 4. The ESS reduces, then trips, with signals racing each transition.
  await Promise.all([essChange('armed', 'reducing'), signal('p4-race-reducing', 'buy', 0.9)]);
  await consumed('reducing consumed', () => context().essState === 'reducing');
  await signal('p4-reducing', 'buy', 0.9);
  await Promise.all([
    (async () => {
      await ess.publish('ess.tripped', {
        trigger: 'manual',
        reason: 'drill',
        cooldownUntil: new Date(Date.now() + 60_000).toISOString(),
        operator: 'ops',
      });
      await essChange('reducing', 'tripped');
    })(),
    signal('p4-race-trip', 'buy', 0.9),
  ]);
  await consumed('the trip consumed', () => context().essState === 'tripped');
  await signal('p4-halted', 'buy', 0.9);
  await allDecided();

  // 4b. An operator flattens while tripped, racing a signal and a position update; then again, with the exit open.
  const flatten = (requestId: string) =>
    opsTool.publish('ess.flatten_requested', {
      requestId,
      operator: 'ops',
      reason: 'flatten drill',
      requestedAt: new Date().toISOString(),
    });
  await Promise.all([flatten('flat-a'), signal('p4-race-flatten', 'buy', 0.9), portfolio(0.12)]);
  await consumed('the flatten decided', () => context().flattens?.some((f) => f.requestId === 'flat-a') === true);
  await flatten('flat-b');
  await consumed(
    'the second flatten decided',
    () => context().flattens?.some((f) => f.requestId === 'flat-b') === true,
  );
  t.deepEqual(context().flattens?.at(-1)?.orders, [], 'the first exit is still open: nothing more to send');
  const exit = context().flattens?.find((f) => f.requestId === 'flat-a')?.orders[0];
  t.truthy(exit, 'the flatten decided an exit');
  await exec.publish('order.filled', {
    orderId: exit?.orderId ?? '',
    symbol: 'BTCUSDT',
    side: 'sell',
    venue: 'paper',
    venueOrderId: 'v-flat',
    quantity: exit?.quantity ?? 1,
    price: 50_000,
    fee: 1,
    feeAsset: 'USDT',
  });
  await allDecided();

  // 5. Cooldown, reset, and another change through the route (which merges
  // onto the store, so it drops the policy published in 3).
  await essChange('tripped', 'awaitingReset');
  await signal('p5-awaiting', 'buy', 0.9);
  await ess.publish('ess.reset', { operator: 'ops', reason: 'checked' });
  await Promise.all([essChange('awaitingReset', 'armed'), put({ maxOpenOrders: 5 }), signal('p5-race', 'buy', 0.9)]);
  await consumed(
    'the reset and the policy consumed',
    () => context().essState === 'armed' && context().policy?.maxOpenOrders === 5,
  );
  await signal('p5-armed', 'buy', 0.9);
  await allDecided();
  await pretrade.close();

  // The recorded run.
  const recorded = (await decisions()).filter((d) => d.producer === `${PRODUCER}.pretrade`);
  t.is(recorded.filter((d) => d.data.signalId !== undefined).length, published, 'one decision per signal');
  const exits = recorded.filter(
    (d): d is Envelope<'order.approved'> => d.type === 'order.approved' && d.data.emergencyExit === true,
  );
  t.is(exits.length, 1, 'one emergency exit: the second flatten found it still open');
  t.like(exits[0]?.data, { side: 'sell', reduceOnly: true });
  t.truthy(exits[0]?.data.asOf?.ess, 'decided on the trip');
  const signals = await applied(redis, keys, 'signal');
  const inputs = Object.fromEntries(
    await Promise.all(PRETRADE_INPUT_TOPICS.map(async (topic) => [topic, await applied(redis, keys, topic)])),
  ) as Record<PretradeInputTopic, Envelope[]>;
  const triggers = [...signals, ...inputs.ess.filter(isTrigger)];

  // What the run covered.
  const reasons = new Set(recorded.flatMap((d) => (d.type === 'order.rejected' ? [d.data.reason] : [])));
  t.true(
    recorded.some((d) => d.type === 'order.approved'),
    'approvals',
  );
  t.true(reasons.has('TRADING_HALTED'), [...reasons].join());
  for (const reason of ['LOW_CONFIDENCE', 'SHORT_NOT_ALLOWED', 'STALE_SIGNAL', 'MAX_OPEN_ORDERS', 'REDUCE_ONLY']) {
    t.true(reasons.has(reason as never), `${reason} in ${[...reasons].join()}`);
  }
  const policies = new Set(recorded.map((d) => d.data.asOf?.risk));
  t.is(policies.size, 4, 'decisions under the default and each of the three policy events');
  t.is(inputs.risk.length, 3);
  t.true(
    recorded.every((d) => d.data.decidedAt !== undefined && d.data.asOf !== undefined),
    'each decision records what it was decided on',
  );

  // The replay.
  const replayed = replay(triggers, inputs, recorded);
  t.is(replayed.length, recorded.length);
  t.deepEqual(
    replayed,
    recorded.map((d) => ({ type: d.type, data: d.data })),
    'the replay decides exactly as the run',
  );
});
