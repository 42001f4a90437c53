/**
 * risk-safety end to end on real Redis: signals become approved or rejected
 * orders with reason codes, and a tripped ESS halts trading.
 */
import test from 'ava';
import { EssService } from '../../src/actors/risk-safety/ess-service.js';
import { PolicyStore } from '../../src/actors/risk-safety/policy.js';
import { orderIdFor } from '../../src/actors/risk-safety/pretrade-machine.js';
import { PretradeService } from '../../src/actors/risk-safety/pretrade-service.js';
import { loadConfig } from '../../src/config/load.js';
import type { Envelope } from '../../src/events/envelope.js';
import { decodeEntry } from '../../src/streams/codec.js';
import { RedisPublisher } from '../../src/streams/publisher.js';
import { testKeys, waitFor } from '../support/bus.js';
import { startRedis } from '../support/redis-fixture.js';

test('signals → order.approved / order.rejected with reason codes; a tripped ESS halts trading', async (t) => {
  const server = await startRedis({ name: 'pretrade' });
  t.teardown(() => server.stop());
  const redis = server.client();
  const keys = testKeys('pretrade');
  const config = loadConfig({ QT_KEY_PREFIX: keys.prefix });
  const ess = new EssService({ redis, keys, config, producer: 'risk', consumer: 'risk-1' });
  await ess.start();
  const pretrade = new PretradeService({
    redis,
    keys,
    producer: 'risk',
    consumer: 'risk-1',
    store: new PolicyStore({ redis, keys }),
    essState: () => ess.status().state,
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

  await ess.trip('ops', 'drill');
  await signal('sig-3', 0.95);
  await waitFor(async () => (await orders()).length === 3, 'third decision');
  t.like((await orders())[2]?.data, { orderId: orderIdFor('sig-3'), reason: 'TRADING_HALTED' });
});
