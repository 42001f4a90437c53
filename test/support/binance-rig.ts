import type { ExecutionContext } from 'ava';
import type { Redis } from 'ioredis';
import { type BinanceAdapter, createBinanceAdapter } from '../../src/exchange/binance/binance-adapter.js';
import type { BinanceAdapterOptions } from '../../src/exchange/binance/settings.js';
import type { Keys } from '../../src/streams/keys.js';
import { testKeys } from './bus.js';
import { type FakeBinance, type SimulatedClock, simulatedClock, startFakeBinance } from './fake-binance.js';
import type { RedisServer } from './redis-fixture.js';

/** A fake Binance, a simulated clock and a factory of adapters against them, all closed on teardown. */
export interface BinanceRig {
  readonly clock: SimulatedClock;
  readonly fake: FakeBinance;
  readonly redis: Redis;
  readonly keys: Keys;
  /** A new adapter on the rig; `ownConnection` gives it its own Redis connection, as a separate process has. */
  adapter(extra?: Partial<BinanceAdapterOptions>, ownConnection?: boolean): BinanceAdapter;
}

/** Starts the rig on `server` with the clock at `start` (default: the fake's standard start). */
export async function binanceRig(t: ExecutionContext, server: RedisServer, start?: number): Promise<BinanceRig> {
  const clock = start === undefined ? simulatedClock() : simulatedClock(start);
  const fake = await startFakeBinance({ now: clock.now });
  const redis = server.client();
  const keys = testKeys('binance');
  const adapters: BinanceAdapter[] = [];
  const adapter = (extra: Partial<BinanceAdapterOptions> = {}, ownConnection = false) => {
    const a = createBinanceAdapter({
      baseUrl: fake.url,
      apiKey: fake.apiKey,
      apiSecret: fake.apiSecret,
      redis: ownConnection ? server.client() : redis,
      keys,
      now: clock.now,
      sleep: clock.sleep,
      random: () => 0.5,
      ...extra,
    });
    adapters.push(a);
    return a;
  };
  t.teardown(async () => {
    for (const a of adapters) await a.close();
    await fake.close();
  });
  return { clock, fake, redis, keys, adapter };
}
