/**
 * rl-training on real Redis: the spec hosted by ActorHost consumes signals
 * and ticks published through a RedisPublisher, publishes `model.evaluated`
 * and `model.promoted` on the `model` stream, and pre-trade sizes the next
 * order with the promoted model.
 */
import test from 'ava';
import { ActorHost } from '../../../src/actors/host.js';
import { PretradeService } from '../../../src/actors/risk-safety/pretrade-service.js';
import { createRlSpec } from '../../../src/actors/rl-training/rl-machine.js';
import { type SizingModel, sizeMultiplier } from '../../../src/actors/rl-training/sizing.js';
import type { Envelope } from '../../../src/events/envelope.js';
import { decodeEntry } from '../../../src/streams/codec.js';
import { RedisPublisher } from '../../../src/streams/publisher.js';
import { testKeys, waitFor } from '../../support/bus.js';
import { startRedis } from '../../support/redis-fixture.js';

test('signals and ticks in → model.evaluated and model.promoted on the model stream → pre-trade sizes with it', async (t) => {
  const server = await startRedis({ name: 'rl-training' });
  t.teardown(() => server.stop());
  const redis = server.client();
  const keys = testKeys('rl-training');
  // Event time is a simulated clock shared by publishers and pre-trade, so the horizon passes without waiting.
  let clock = Date.now();
  const now = () => new Date(clock);
  const host = new ActorHost({
    spec: createRlSpec({ windowSize: 10, evaluateEvery: 5, horizonMs: 60_000, margin: 0.01, searchStep: 2 }),
    redis,
    keys,
    producer: 'rl',
    source: 'rl-training',
    consumer: 'rl-1',
  });
  await host.start();
  const pretrade = new PretradeService({
    redis,
    keys,
    producer: 'risk',
    consumer: 'risk-1',
    now: () => clock,
  });
  await pretrade.start();
  t.teardown(async () => {
    await pretrade.close();
    await host.close();
  });

  const ai = new RedisPublisher({ redis, keys, producer: 'ai', source: 'ai-engine', now });
  const md = new RedisPublisher({ redis, keys, producer: 'md', source: 'marketdata', now });
  const candidate = host.snapshot.context.candidate as SizingModel;
  const slope = candidate.kind === 'confidence-scaled' ? candidate.params.b : 0;
  t.not(slope, 0);

  // Confident signals on BTC, less confident ones on ETH; the side that pays is the one the candidate sizes up.
  for (let i = 0; i < 10; i++) {
    const hi = i % 2 === 0;
    await ai.publish('signal.generated', {
      signalId: `sig-${i}`,
      symbol: hi ? 'BTCUSDT' : 'ETHUSDT',
      side: 'buy',
      confidence: hi ? 0.9 : 0.6,
      price: 100,
      strategies: [],
    });
    clock += 100;
  }
  await waitFor(() => host.snapshot.context.pending.length === 10, 'ten signals pending');
  clock += 60_000;
  const win = slope > 0 ? 'BTCUSDT' : 'ETHUSDT';
  const lose = slope > 0 ? 'ETHUSDT' : 'BTCUSDT';
  await md.publish('market.tick', { symbol: win, price: 101, volume: 1 });
  await waitFor(() => host.snapshot.context.resolved === 5, 'first five outcomes');
  await md.publish('market.tick', { symbol: lose, price: 99, volume: 1 });

  const models = async (): Promise<Envelope[]> =>
    (await redis.xrange(keys.stream('model'), '-', '+')).map(([, f]) => decodeEntry(f));
  await waitFor(async () => (await models()).length === 3, 'evaluated, evaluated, promoted');
  const [first, second, promoted] = await models();
  t.is(first?.type, 'model.evaluated');
  t.like(first?.data, { modelId: candidate.modelId, liveModelId: 'fixed-1', outcomes: 5, decision: 'filling' });
  t.is(second?.type, 'model.evaluated');
  t.like(second?.data, { outcomes: 10, decision: 'promoted', liveScore: 0 });
  t.is(promoted?.type, 'model.promoted');
  t.like(promoted?.data, {
    modelId: candidate.modelId,
    previousModelId: 'fixed-1',
    kind: 'confidence-scaled',
    params: candidate.params,
    outcomes: 10,
  });
  t.is(promoted?.source, 'rl-training');
  t.is(promoted?.producer, 'rl.rl-training');
  t.truthy(promoted?.causationId, 'caused by the tick that completed the window');
  t.deepEqual(host.snapshot.context.live, candidate);
  const committed = JSON.parse((await redis.get(keys.actorSnapshot('rl-training'))) ?? '{}');
  t.deepEqual(committed.context.live, candidate, 'the promotion is in the committed snapshot');

  // Pre-trade picks the model up from the model stream and sizes the next signal with it.
  await waitFor(() => pretrade.host.snapshot.context.sizingModel?.modelId === candidate.modelId, 'pre-trade applied');
  await ai.publish('signal.generated', {
    signalId: 'sig-after',
    symbol: 'BTCUSDT',
    side: 'buy',
    confidence: 0.9,
    price: 100,
    strategies: [],
  });
  const approvedAfter = async () =>
    (await redis.xrange(keys.stream('order'), '-', '+'))
      .map(([, f]) => decodeEntry(f))
      .flatMap((e) => (e.type === 'order.approved' && e.data.signalId === 'sig-after' ? [e.data] : []))[0];
  await waitFor(async () => (await approvedAfter()) !== undefined, 'the order of the next signal');
  const order = await approvedAfter();
  const expected = 1_000 * sizeMultiplier(candidate, 0.9);
  t.true(Math.abs((order?.notional ?? 0) - expected) < 1e-6, `notional ${order?.notional}, expected ${expected}`);
});
