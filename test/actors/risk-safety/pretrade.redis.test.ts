/**
 * risk-safety end to end on real Redis: signals become approved or rejected
 * orders with reason codes, a tripped ESS (consumed from the `ess` stream)
 * halts trading, and a promoted sizing model sizes the orders after it.
 */
import test from 'ava';
import { EssService } from '../../../src/actors/risk-safety/ess-service.js';
import { orderIdFor } from '../../../src/actors/risk-safety/pretrade-machine.js';
import { PretradeService } from '../../../src/actors/risk-safety/pretrade-service.js';
import { loadConfig } from '../../../src/config/load.js';
import type { Envelope } from '../../../src/events/envelope.js';
import { decodeEntry } from '../../../src/streams/codec.js';
import { RedisPublisher } from '../../../src/streams/publisher.js';
import { testKeys, waitFor } from '../../support/bus.js';
import { startRedis } from '../../support/redis-fixture.js';

test('signals → order.approved / order.rejected with reason codes; a tripped ESS halts trading', async (t) => {
  const server = await startRedis({ name: 'pretrade' });
  t.teardown(() => server.stop());
  const redis = server.client();
  const keys = testKeys('pretrade');
  const config = loadConfig({ QT_KEY_PREFIX: keys.prefix });
  const publisher = new RedisPublisher({ redis, keys, producer: 'risk', source: 'risk-safety' });
  const ess = new EssService({ redis, keys, publisher, config, producer: 'risk', consumer: 'risk-1' });
  await ess.start();
  const pretrade = new PretradeService({
    redis,
    keys,
    producer: 'risk',
    consumer: 'risk-1',
  });
  await pretrade.start();
  t.teardown(async () => {
    await pretrade.close();
    await ess.close();
  });
  const feed = new RedisPublisher({ redis, keys, producer: 'ai', source: 'ai-engine' });
  const signal = (signalId: string, confidence: number) =>
    feed.publish('signal.generated', {
      signalId,
      symbol: 'BTCUSDT',
      side: 'buy',
      confidence,
      price: 50_000,
      strategies: [{ name: 'ema-cross', side: 'buy', score: confidence }],
    });
  const orders = async (): Promise<Envelope[]> =>
    (await redis.xrange(keys.stream('order'), '-', '+')).map(([, f]) => decodeEntry(f));

  const s1 = await signal('sig-1', 0.9);
  await signal('sig-2', 0.3);
  await waitFor(async () => (await orders()).length === 2, 'two decisions');
  const [approved, rejected] = await orders();
  t.is(approved?.type, 'order.approved');
  t.like(approved?.data, {
    orderId: orderIdFor('sig-1'),
    signalId: 'sig-1',
    symbol: 'BTCUSDT',
    side: 'buy',
    reduceOnly: false,
  });
  t.is(approved?.causationId, s1.envelope.id, 'caused by the signal');
  t.is(approved?.correlationId, s1.envelope.correlationId);
  t.is(rejected?.type, 'order.rejected');
  t.like(rejected?.data, { orderId: orderIdFor('sig-2'), reason: 'LOW_CONFIDENCE' });

  // Pre-trade learns of the trip from the `ess` stream, on its own consumer:
  // a signal is halted once the actor has consumed the trip.
  await ess.trip('ops', 'drill');
  await waitFor(() => pretrade.host.snapshot.context.essState === 'tripped', 'pre-trade consumed the trip');
  await signal('sig-3', 0.95);
  await waitFor(async () => (await orders()).length === 3, 'third decision');
  const halted = (await orders())[2];
  t.like(halted?.data, { orderId: orderIdFor('sig-3'), reason: 'TRADING_HALTED' });
  const essEvents = (await redis.xrange(keys.stream('ess'), '-', '+')).map(([, f]) => decodeEntry(f));
  const decidedOn = (halted?.data as { asOf?: { ess?: string } } | undefined)?.asOf?.ess;
  t.true(
    essEvents.some((e) => e.id === decidedOn && (e.type === 'ess.tripped' || e.type === 'ess.state_changed')),
    'the rejection names the ess event it was decided on',
  );
});

test('after model.promoted on the model stream, approved orders are sized by the promoted model', async (t) => {
  const server = await startRedis({ name: 'pretrade-sizing' });
  t.teardown(() => server.stop());
  const redis = server.client();
  const keys = testKeys('pretrade-sizing');
  const pretrade = new PretradeService({
    redis,
    keys,
    producer: 'risk',
    consumer: 'risk-1',
  });
  await pretrade.start();
  t.teardown(() => pretrade.close());
  const ai = new RedisPublisher({ redis, keys, producer: 'ai', source: 'ai-engine' });
  const rl = new RedisPublisher({ redis, keys, producer: 'rl', source: 'rl-training' });
  const signal = (signalId: string) =>
    ai.publish('signal.generated', {
      signalId,
      symbol: 'BTCUSDT',
      side: 'buy',
      confidence: 0.8,
      price: 50_000,
      strategies: [],
    });
  const approved = async () =>
    (await redis.xrange(keys.stream('order'), '-', '+'))
      .map(([, f]) => decodeEntry(f))
      .flatMap((e) => (e.type === 'order.approved' ? [e.data] : []));

  await signal('sig-1');
  await waitFor(async () => (await approved()).length === 1, 'first approval');
  await rl.publish('model.promoted', {
    modelId: 'cs-g1',
    previousModelId: 'fixed-1',
    reason: 'test',
    outcomes: 50,
    candidateScore: 0.3,
    liveScore: 0.1,
    kind: 'confidence-scaled',
    params: { a: 1, b: 2 },
  });
  await waitFor(() => pretrade.host.snapshot.context.sizingModel?.modelId === 'cs-g1', 'the promotion applied');
  await signal('sig-2');
  await waitFor(async () => (await approved()).length === 2, 'second approval');
  const [first, second] = await approved();
  t.like(first, { signalId: 'sig-1', quantity: 0.02, notional: 1_000 }, 'fixed-1: orderNotional');
  t.like(second, { signalId: 'sig-2', quantity: 0.032, notional: 1_600 }, 'cs-g1 at confidence 0.8: × 1.6');

  const committed = JSON.parse((await redis.get(keys.actorSnapshot('pretrade'))) ?? '{}');
  t.like(committed.context.sizingModel, { modelId: 'cs-g1', params: { a: 1, b: 2 } }, 'persisted with the snapshot');
});
