/**
 * Model-based property (docs/architecture.md §6, §16): random schedules of publishes, Redis
 * going down and up, and producer crashes. The model is a list: every event
 * whose publish() resolved must end up in the stream exactly once, in publish
 * order, with seqs 1..n and no gap.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fc, testProp } from '@fast-check/ava';
import test from 'ava';
import type { Redis } from 'ioredis';
import { type Config, loadConfig } from '../../src/config/load.js';
import { decodeEntry } from '../../src/streams/codec.js';
import { createRedis } from '../../src/streams/connection.js';
import { type EventBus, openEventBus } from '../../src/streams/event-bus.js';
import { uniquePrefix, waitFor } from '../support/bus.js';
import { type RedisServer, startRedis } from '../support/redis-fixture.js';

let server: RedisServer;
let checker: Redis;
/** What the runs exercised, so a run that never buffered or crashed cannot pass unnoticed. */
const exercised = { buffered: 0, direct: 0, crashes: 0, outages: 0 };
test.before(async () => {
  server = await startRedis({ name: 'buffered-property', persistence: 'aof' });
  checker = server.client({ retryStrategy: () => 50 });
});
test.after.always(async () => {
  checker?.disconnect();
  await server?.stop();
});

type Command =
  | { kind: 'publish'; count: number }
  | { kind: 'pause'; ms: number }
  | { kind: 'redisDown' }
  | { kind: 'redisUp' }
  | { kind: 'crash' };

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('publish' as const), count: fc.integer({ min: 1, max: 60 }) }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'redisDown' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'redisUp' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'crash' as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('pause' as const), ms: fc.integer({ min: 10, max: 150 }) }) },
);

/**
 * One schedule that surely covers every path (random ones may miss publishing
 * during an outage): direct, buffered, a crash while down, replay on restart,
 * direct again. Run first, as a fast-check example.
 */
const COVERING_SCHEDULE: Command[] = [
  { kind: 'publish', count: 20 },
  { kind: 'redisDown' },
  { kind: 'publish', count: 30 },
  { kind: 'crash' },
  { kind: 'publish', count: 10 },
  { kind: 'redisUp' },
  { kind: 'publish', count: 20 },
];

/** A producer process, in-process: its bus on its own connection, with fast reconnects for the test. */
async function startProducer(config: Config): Promise<EventBus> {
  const redis = createRedis(config, { retryStrategy: () => 50 });
  return openEventBus(config, { producer: 'model-producer', source: 'test', redis, connectWaitMs: 200 });
}

/**
 * A crash, as near as one process can fake it: the connection is cut first,
 * so an append in flight (the direct path or the drainer's) loses its reply
 * and its rows stay in the buffer, in doubt; then everything is abandoned.
 */
async function crash(bus: EventBus): Promise<void> {
  bus.redis.disconnect();
  await bus.close();
}

testProp(
  'buffered publishing loses, duplicates and reorders nothing across outages and producer crashes',
  [fc.array(command, { minLength: 1, maxLength: 10 })],
  async (t, commands) => {
    const dataDir = await mkdtemp(join(tmpdir(), 'qt-model-'));
    const config = loadConfig({
      REDIS_URL: server.url,
      QT_DATA_DIR: dataDir,
      QT_KEY_PREFIX: uniquePrefix('model'),
      REDIS_BREAKER_HALF_OPEN_MS: '100',
      REDIS_COMMAND_TIMEOUT_MS: '500',
      REDIS_WAIT_TIMEOUT_MS: '250',
    });
    let redisUp = true;
    let bus = await startProducer(config);
    const model: number[] = [];
    try {
      for (const c of commands) {
        if (c.kind === 'publish') {
          const first = model.length + 1;
          const prices = Array.from({ length: c.count }, (_, i) => first + i);
          const results = await Promise.all(
            prices.map((price) => bus.publisher.publish('market.tick', { symbol: 'ETHUSDT', price, volume: 1 })),
          );
          for (const r of results) exercised[r.via === 'buffer' ? 'buffered' : 'direct']++;
          model.push(...prices);
        } else if (c.kind === 'redisDown' && redisUp) {
          await server.kill();
          redisUp = false;
          exercised.outages++;
        } else if (c.kind === 'redisUp' && !redisUp) {
          await server.restart();
          redisUp = true;
        } else if (c.kind === 'pause') {
          await new Promise((r) => setTimeout(r, c.ms));
        } else if (c.kind === 'crash') {
          await crash(bus);
          bus = await startProducer(config);
          exercised.crashes++;
        }
      }
      if (!redisUp) await server.restart();
      await waitFor(() => checker.status === 'ready', 'checker reconnected');
      await waitFor(() => bus.buffer.backlog('market') === 0, 'buffer drained', 20_000, 20);
      const stream = bus.keys.stream('market');
      const entries = model.length === 0 ? [] : await checker.xrange(stream, '-', '+');
      const events = entries.map(([, fields]) => decodeEntry(fields));
      t.deepEqual(
        events.map((e) => (e.data as { price: number }).price),
        model,
        'every resolved publish is in the stream once, in order',
      );
      t.deepEqual(
        events.map((e) => e.seq),
        model.map((_, i) => i + 1),
        'seqs 1..n, no gap',
      );
    } finally {
      await bus.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  },
  {
    numRuns: 20,
    endOnFailure: true,
    examples: [[COVERING_SCHEDULE]],
  },
);

test.after('the schedules exercised outages, crashes and both publish paths', (t) => {
  t.log(exercised);
  t.true(exercised.buffered > 0 && exercised.direct > 0 && exercised.crashes > 0 && exercised.outages > 0);
});
