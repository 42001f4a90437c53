/**
 * Property: for random schedules of publishes (two producers), handler
 * failures and consumer crashes with restarts, every event's effect is
 * committed exactly once per group, in per-producer order. The effect is an
 * RPUSH committed with the ack (commitWith), so "exactly once" is checked on
 * what a crash cannot half-apply.
 */
import { fc, testProp } from '@fast-check/ava';
import test from 'ava';
import type { Redis } from 'ioredis';
import { StreamConsumer } from '../../src/streams/consumer.js';
import type { Keys } from '../../src/streams/keys.js';
import { RedisPublisher } from '../../src/streams/publisher.js';
import { pendingCount, testKeys, waitFor } from '../support/bus.js';
import { type RedisServer, startRedis } from '../support/redis-fixture.js';

let server: RedisServer;
test.before(async () => {
  server = await startRedis({ name: 'exactly-once' });
});
test.after.always(async () => {
  await server?.stop();
});

type Step =
  | { kind: 'publish'; producer: 'p1' | 'p2'; failures: number[] }
  | { kind: 'crash' }
  | { kind: 'crashInHandler' }
  | { kind: 'pause'; ms: number };

const failures = fc.oneof(
  { weight: 6, arbitrary: fc.constant(0) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }) },
);
const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('publish' as const),
      producer: fc.constantFrom('p1' as const, 'p2' as const),
      failures: fc.array(failures, { minLength: 1, maxLength: 15 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('crash' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('crashInHandler' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('pause' as const), ms: fc.integer({ min: 0, max: 30 }) }) },
);

/** A consumer that can be crashed: its connection is cut with no goodbye. */
class CrashableConsumer {
  readonly conn: Redis;
  readonly consumer: StreamConsumer;
  constructor(keys: Keys, effects: string, handler: (producer: string, seq: number) => void) {
    this.conn = server.client({ maxRetriesPerRequest: 0 });
    this.consumer = new StreamConsumer({
      redis: this.conn,
      keys,
      topic: 'market',
      group: 'g',
      consumer: 'stable-name',
      blockMs: 50,
      retryDelayMs: 1,
      // Crashes count as deliveries too; this property is about exactly-once and
      // order, so the limit is set out of reach (the DLQ has its own tests).
      maxDeliveries: 20,
      handler: (e) => handler(e.producer, e.seq),
      commitWith: (events) => [['RPUSH', effects, ...events.map((e) => `${e.producer}:${e.seq}`)]],
    });
  }
  /** Cuts the connection at once: nothing after this point is acked or committed. */
  cut(): void {
    this.conn.disconnect();
  }
}

testProp(
  'each event is applied exactly once per group, in per-producer order, despite failures and crashes',
  [fc.array(step, { minLength: 1, maxLength: 12 })],
  async (t, steps) => {
    const keys = testKeys('prop');
    const effects = `${keys.prefix}:effects`;
    const redis = server.client();
    const publishers = {
      p1: new RedisPublisher({ redis, keys, producer: 'p1', source: 'prop' }),
      p2: new RedisPublisher({ redis, keys, producer: 'p2', source: 'prop' }),
    };
    const failuresLeft = new Map<string, number>();
    const published = { p1: 0, p2: 0 };
    let crashArmed = false;
    let current: CrashableConsumer | undefined;
    // One consumer instance lives at a time: a crash (from a step or from
    // inside a handler) cuts the live instance and queues its restart.
    let lifecycle: Promise<void> = Promise.resolve();
    const start = async () => {
      const instance: CrashableConsumer = new CrashableConsumer(keys, effects, (producer, seq) => {
        if (crashArmed && instance === current) {
          crashArmed = false;
          crash();
          throw new Error('crashed inside the handler');
        }
        const key = `${producer}:${seq}`;
        const left = failuresLeft.get(key) ?? 0;
        if (left > 0) {
          failuresLeft.set(key, left - 1);
          throw new Error('injected handler failure');
        }
      });
      current = instance;
      await instance.consumer.start();
    };
    const crash = (): Promise<void> => {
      const victim = current;
      if (!victim) return lifecycle;
      current = undefined;
      victim.cut();
      lifecycle = lifecycle.then(async () => {
        await victim.consumer.close();
        await start();
      });
      return lifecycle;
    };

    await start();
    for (const s of steps) {
      await lifecycle;
      if (s.kind === 'publish') {
        const sends = s.failures.map((f) => {
          const seq = ++published[s.producer];
          if (f > 0) failuresLeft.set(`${s.producer}:${seq}`, f);
          return publishers[s.producer].publish('market.tick', { symbol: 'BTCUSDT', price: seq, volume: 1 });
        });
        await Promise.all(sends);
      } else if (s.kind === 'crash') {
        await crash();
      } else if (s.kind === 'crashInHandler') {
        crashArmed = true;
      } else {
        await new Promise((r) => setTimeout(r, s.ms));
      }
    }
    const total = published.p1 + published.p2;
    crashArmed = false;
    await lifecycle;
    await waitFor(async () => (await redis.llen(effects)) >= total, `${total} effects`, 20_000);
    await waitFor(async () => (await pendingCount(redis, keys.stream('market'), 'g')) === 0, 'nothing pending', 20_000);
    await lifecycle;
    await current?.consumer.close();

    const applied = await redis.lrange(effects, 0, -1);
    t.is(applied.length, total, 'no effect applied twice, none lost');
    for (const producer of ['p1', 'p2'] as const) {
      const seqs = applied.filter((a) => a.startsWith(`${producer}:`)).map((a) => Number(a.split(':')[1]));
      t.deepEqual(
        seqs,
        Array.from({ length: published[producer] }, (_, i) => i + 1),
        `${producer} in order`,
      );
    }
    t.is(await redis.xlen(keys.dlq()), 0, 'nothing is dead-lettered');
    redis.disconnect();
  },
  { numRuns: 100, endOnFailure: true },
);
