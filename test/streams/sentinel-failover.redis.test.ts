/**
 * DESIGN §3, §5, §13: the Sentinel-managed master is SIGKILLed in the middle
 * of a steady stream of publishes, Sentinel promotes a replica, and publishing
 * goes on throughout. With REDIS_MIN_REPLICAS_ACK=1 every acknowledged publish
 * is on a replica, so none may be lost: every publish() resolves, the consumer
 * group gets every event once, in publish order, the new master's stream holds
 * them all, and the publisher goes back to publishing directly to Redis.
 *
 * Real processes only: 1 master, 2 replicas, 3 sentinels (quorum 2).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { loadConfig } from '../../src/config/load.js';
import type { Envelope } from '../../src/events/envelope.js';
import { createRedis } from '../../src/streams/connection.js';
import { type SequenceGap, StreamConsumer } from '../../src/streams/consumer.js';
import { type EventBus, openEventBus } from '../../src/streams/event-bus.js';
import type { Published } from '../../src/streams/publisher.js';
import { uniquePrefix, waitFor } from '../support/bus.js';
import { type RedisAddress, type SentinelGroup, startSentinelGroup } from '../support/redis-fixture.js';

const PRODUCER = 'failover-producer';
const TOPIC = 'market';
const GROUP = 'check';
/** One publish every PUBLISH_EVERY_MS: about 400 events/s once timer overhead is counted. */
const PUBLISH_EVERY_MS = 2;
/** The master dies this long into the stream. */
const KILL_AFTER_MS = 1_500;
/** Publishing goes on this long after the first publish that reached the new master. */
const AFTER_RESUME_MS = 1_500;
/** Bound on the failover itself, as seen by the sentinels. */
const FAILOVER_TIMEOUT_MS = 15_000;
/** Bound on publishing reaching Redis again after the failover. */
const RESUME_TIMEOUT_MS = 20_000;

/** One publish() call: what it resolved with, or why it rejected, and when it settled. */
interface Outcome {
  readonly price: number;
  result?: Published;
  error?: unknown;
  settledAt?: number;
}

/** Resolves with `promise` or rejects after `ms`, so no clean-up step can hang the test. */
async function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

test.serial('SIGKILL the Sentinel master mid-stream: no publish fails, none is lost, publishing resumes', async (t) => {
  const group: SentinelGroup = await startSentinelGroup({
    masterName: 'qtfailover',
    downAfterMs: 1_000,
    failoverTimeoutMs: 3_000,
  });
  const dataDir = await mkdtemp(join(tmpdir(), 'qt-failover-'));
  const cleanups: (() => Promise<unknown>)[] = [];
  t.teardown(async () => {
    // Clients first (bounded: they may be talking to nodes that are gone), then every process.
    for (const cleanup of cleanups.reverse()) await cleanup().catch((err) => t.log(`clean-up: ${String(err)}`));
    await group.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  const config = loadConfig({
    REDIS_SENTINELS: group.sentinelAddrs.map((s) => `${s.host}:${s.port}`).join(','),
    REDIS_MASTER_NAME: group.masterName,
    REDIS_MIN_REPLICAS_ACK: '1',
    REDIS_BREAKER_HALF_OPEN_MS: '300',
    REDIS_COMMAND_TIMEOUT_MS: '1000',
    QT_DATA_DIR: dataDir,
    QT_KEY_PREFIX: uniquePrefix('failover'),
  });
  const bus: EventBus = await openEventBus(config, { producer: PRODUCER, source: 'test' });
  cleanups.push(() => bounded(bus.close(), 10_000, 'closing the event bus'));

  // What the handler ran on (in memory), and what the group committed with its acks (in Redis).
  const handled: Envelope[] = [];
  const gaps: SequenceGap[] = [];
  const effects = `${config.keyPrefix}:test:{${TOPIC}}:effects`;
  const consumerRedis = createRedis(config);
  consumerRedis.on('error', () => undefined);
  cleanups.push(async () => consumerRedis.disconnect());
  await consumerRedis.connect();
  const consumer = new StreamConsumer({
    redis: consumerRedis,
    keys: bus.keys,
    topic: TOPIC,
    group: GROUP,
    consumer: 'checker',
    blockMs: 200,
    handler: (e) => void handled.push(e),
    // The effect is committed atomically with the ack: it is what "processed exactly once" means for a group.
    commitWith: (events) => [['RPUSH', effects, ...events.map((e) => `${e.producer}:${e.seq}`)]],
    onGap: (gap) => void gaps.push(gap),
  });
  await consumer.start();
  cleanups.push(() => bounded(consumer.close(), 10_000, 'closing the consumer'));

  const oldMaster = group.master.port;
  t.deepEqual(await group.currentMaster(), { host: '127.0.0.1', port: oldMaster }, 'the group starts on its master');

  // Publish continuously in the background; the loop stops when told to (or after a hard bound).
  const outcomes: Outcome[] = [];
  const sends: Promise<void>[] = [];
  let stop = false;
  const started = performance.now();
  const publishing = (async () => {
    for (let price = 1; !stop && performance.now() - started < 45_000; price++) {
      const outcome: Outcome = { price };
      outcomes.push(outcome);
      sends.push(
        bus.publisher.publish('market.tick', { symbol: 'BTCUSDT', price, volume: 1 }).then(
          (result) => {
            outcome.result = result;
            outcome.settledAt = performance.now();
          },
          (error: unknown) => {
            outcome.error = error;
            outcome.settledAt = performance.now();
          },
        ),
      );
      await sleep(PUBLISH_EVERY_MS);
    }
  })();
  cleanups.push(async () => {
    stop = true;
    await bounded(publishing, 5_000, 'stopping the publish loop');
  });

  await sleep(KILL_AFTER_MS);
  const beforeKill = outcomes.length;
  const killedAt = performance.now();
  await group.master.kill();
  const newMaster: RedisAddress = await group.waitForFailover(oldMaster, FAILOVER_TIMEOUT_MS);
  const failoverAt = performance.now();

  // The first publish that Redis acknowledged after the kill: it can only be on the new master.
  const firstResumed = (): Outcome | undefined =>
    outcomes.find((o) => o.result?.via === 'redis' && (o.settledAt as number) > killedAt);
  try {
    await waitFor(
      () => firstResumed() !== undefined,
      'a publish acknowledged by Redis after the failover',
      RESUME_TIMEOUT_MS,
      10,
    );
    const resumedAt = firstResumed()?.settledAt as number;
    await sleep(Math.max(0, resumedAt + AFTER_RESUME_MS - performance.now()));
  } finally {
    stop = true;
    await publishing;
  }
  await bounded(Promise.all(sends), 30_000, 'every publish() to settle');
  const total = outcomes.length;
  const resumed = firstResumed() as Outcome;
  const resumeMs = (resumed.settledAt as number) - killedAt;
  const buffered = outcomes.filter((o) => o.result?.via === 'buffer').length;
  t.log(
    `${total} events (${beforeKill} before the kill); master ${oldMaster} → ${newMaster.port}; ` +
      `failover seen after ${Math.round(failoverAt - killedAt)} ms; ` +
      `kill → first publish via redis on the new master: ${Math.round(resumeMs)} ms (event ${resumed.price}); ` +
      `${buffered} publishes went through the disk buffer`,
  );

  const rejected = outcomes.filter((o) => o.error !== undefined);
  t.deepEqual(
    rejected.map((o) => `${o.price}: ${String(o.error)}`),
    [],
    'every publish() resolved',
  );
  t.true(buffered > 0, 'publishes made while there was no master went to the disk buffer');
  t.is(outcomes.at(-1)?.result?.via, 'redis', 'the publisher went back to publishing directly to Redis');

  const expected = Array.from({ length: total }, (_, i) => i + 1);
  const newMasterNode = group.replicas.find((r) => r.port === newMaster.port);
  if (!newMasterNode) throw new Error(`new master ${newMaster.port} is not one of the group's replicas`);
  const admin = newMasterNode.client({ maxRetriesPerRequest: 1, connectTimeout: 2_000 });

  // The first publish that resumed is really in the new master's stream.
  const resumedId = resumed.result?.entryId;
  if (resumedId !== undefined) {
    t.is((await admin.xrange(bus.keys.stream(TOPIC), resumedId, resumedId)).length, 1, 'resumed entry is there');
  }

  await waitFor(() => bus.buffer.backlog(TOPIC) === 0, 'the disk buffer to drain', 20_000, 20);
  await waitFor(async () => (await admin.llen(effects)) >= total, `${total} events committed by the group`, 30_000, 50);
  await sleep(300); // anything extra would show up now

  const entries = await admin.xrange(bus.keys.stream(TOPIC), '-', '+');
  const stored = entries.map(([, fields]) => JSON.parse(fields[fields.indexOf('env') + 1] as string) as Envelope);
  t.is(stored.length, total, "the new master's stream holds every event once");
  t.true(
    stored.every((e) => e.producer === PRODUCER),
    'all entries are from the producer',
  );
  t.deepEqual(
    stored.map((e) => e.seq),
    expected,
    'stream: seqs 1..N in order',
  );
  t.deepEqual(
    stored.map((e) => (e.data as { price: number }).price),
    expected,
    'stream: publish order kept',
  );

  t.deepEqual(
    await admin.lrange(effects, 0, -1),
    expected.map((seq) => `${PRODUCER}:${seq}`),
    'the group committed every event exactly once, seqs 1..N in order',
  );
  t.deepEqual(gaps, [], 'the consumer saw no sequence gap');

  // The handler itself (in memory) runs again for a batch whose commit was lost with the master: only
  // repeats of already handled events are allowed, and dropping them must give 1..N in publish order.
  const firstSeen = new Set<number>();
  const inOrder = handled.filter((e) => !firstSeen.has(e.seq) && firstSeen.add(e.seq));
  const repeats = handled.length - inOrder.length;
  if (repeats > 0) t.log(`the handler ran ${repeats} events a second time (commit lost with the killed master)`);
  t.deepEqual(
    inOrder.map((e) => e.seq),
    expected,
    'handler: seqs 1..N in order',
  );
  t.deepEqual(
    inOrder.map((e) => (e.data as { price: number }).price),
    expected,
    'handler: prices in publish order',
  );
});
