/**
 * docs/architecture.md §5, §7, §15: the Sentinel-managed master is SIGKILLed in the middle
 * of a steady stream of publishes, Sentinel promotes a replica, and publishing
 * goes on throughout. With REDIS_MIN_REPLICAS_ACK=1 every acknowledged publish
 * is on a replica, so none may be lost: every publish() resolves, the consumer
 * group gets every event once, in publish order, the new master's stream holds
 * them all, and the publisher goes back to publishing directly to Redis.
 *
 * Real processes only: 1 master, 2 replicas, 3 sentinels (quorum 2).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { pino } from 'pino';
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
/**
 * Bound on publishing being back to direct appends after the failover. Generous: should the sentinels
 * fail over twice, the stale master is only demoted after their next INFO round (10 s) and its replica
 * then needs a delayed (5 s) full sync before `WAIT 1` succeeds again.
 */
const RESUME_TIMEOUT_MS = 30_000;
/** Publishing counts as recovered once this many publishes in a row went directly to Redis. */
const STABLE = 250;

/** One publish() call: what it resolved with, or why it rejected, and when it settled. */
interface Outcome {
  readonly price: number;
  result?: Published;
  error?: unknown;
  settledAt?: number;
}

/** `1-3, 7, 9-12`: a sorted list of numbers as ranges, for messages. */
function describeRanges(sorted: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && (sorted[j + 1] as number) === (sorted[j] as number) + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(', ');
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
  // The bus's and consumer's log (warnings and up), shown when the test fails.
  const logLines: string[] = [];
  const log = pino(
    { level: 'warn', timestamp: pino.stdTimeFunctions.isoTime },
    { write: (l) => void logLines.push(l) },
  );
  t.teardown(async () => {
    // Clients first (bounded: they may be talking to nodes that are gone), then every process.
    for (const cleanup of cleanups.reverse()) await cleanup().catch((err) => t.log(`clean-up: ${String(err)}`));
    if (!t.passed) {
      t.log(`runtime log (last 40 of ${logLines.length} lines):\n${logLines.slice(-40).join('')}`);
      for (const node of [group.master, ...group.replicas, ...group.sentinels]) {
        const text = await readFile(join(node.dir, 'redis.log'), 'utf8').catch(() => '(no log)');
        t.log(`--- ${node.name} :${node.port} (tail) ---\n${text.trimEnd().split('\n').slice(-25).join('\n')}`);
      }
    }
    await group.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  // startSentinelGroup() resolves once the replicas are *connected*, but they may still wait for their
  // first (diskless, delayed) sync: until they are online, WAIT 1 cannot succeed and a kill could
  // promote a replica that holds nothing. The test is about a failover of a healthy group.
  const masterAdmin = group.master.client({ connectTimeout: 2_000 });
  const replicasOnline = async () => {
    const info = await masterAdmin.info('replication');
    return (info.match(/^slave\d+:.*state=online/gm) ?? []).length === group.replicas.length;
  };
  await waitFor(replicasOnline, 'both replicas in sync with the master', 20_000, 50).finally(() =>
    masterAdmin.disconnect(),
  );

  const config = loadConfig({
    REDIS_SENTINELS: group.sentinelAddrs.map((s) => `${s.host}:${s.port}`).join(','),
    REDIS_MASTER_NAME: group.masterName,
    REDIS_MIN_REPLICAS_ACK: '1',
    REDIS_BREAKER_HALF_OPEN_MS: '300',
    REDIS_COMMAND_TIMEOUT_MS: '1000',
    REDIS_WAIT_TIMEOUT_MS: '250',
    QT_DATA_DIR: dataDir,
    QT_KEY_PREFIX: uniquePrefix('failover'),
  });
  const bus: EventBus = await openEventBus(config, { producer: PRODUCER, source: 'test', log });
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
    log,
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
  // Publishes made from here on cannot reach the old master (it has exited): one that Redis acknowledges
  // went to the new master. (A publish in flight at the kill may still have been answered by the old one.)
  const afterKill = outcomes.length;
  const newMaster: RedisAddress = await group.waitForFailover(oldMaster, FAILOVER_TIMEOUT_MS);
  const failoverAt = performance.now();

  const firstResumed = (): Outcome | undefined => outcomes.find((o, i) => i >= afterKill && o.result?.via === 'redis');
  // How many of the latest settled publishes in a row went directly to Redis.
  const directStreak = (): number => {
    let n = 0;
    for (let i = outcomes.length - 1; i >= 0; i--) {
      const o = outcomes[i] as Outcome;
      if (o.settledAt === undefined && n === 0) continue;
      if (o.result?.via !== 'redis') break;
      n++;
    }
    return n;
  };
  // Keep publishing until the publisher is back to direct appends for good (bounded), then stop.
  const resumeDeadline = performance.now() + RESUME_TIMEOUT_MS;
  let recovered = false;
  try {
    while (performance.now() < resumeDeadline) {
      const resumedAt = firstResumed()?.settledAt;
      if (resumedAt !== undefined && performance.now() - resumedAt >= AFTER_RESUME_MS && directStreak() >= STABLE) {
        recovered = true;
        break;
      }
      await sleep(20);
    }
  } finally {
    stop = true;
    await publishing;
  }
  await bounded(Promise.all(sends), 10_000, 'every publish() to settle');
  const total = outcomes.length;
  const resumed = firstResumed();
  const resumedIndex = resumed ? outcomes.indexOf(resumed) : total;
  const relapsed = outcomes.slice(resumedIndex).filter((o) => o.result?.via === 'buffer').length;
  const buffered = outcomes.filter((o) => o.result?.via === 'buffer').length;
  t.log(
    `${total} events (${beforeKill} before the kill); master ${oldMaster} → ${newMaster.port}; ` +
      `failover seen after ${Math.round(failoverAt - killedAt)} ms; ` +
      (resumed
        ? `kill → first publish via redis on the new master: ${Math.round((resumed.settledAt as number) - killedAt)} ms (event ${resumed.price}); `
        : 'no publish reached the new master; ') +
      `${buffered} publishes went through the disk buffer (${relapsed} of them after that first direct one)`,
  );
  if (!resumed) throw new Error(`no publish reached Redis within ${RESUME_TIMEOUT_MS} ms of the failover`);

  const rejected = outcomes.filter((o) => o.error !== undefined);
  t.deepEqual(
    rejected.map((o) => `${o.price}: ${String(o.error)}`),
    [],
    'every publish() resolved',
  );
  t.true(buffered > 0, 'publishes made while there was no master went to the disk buffer');
  t.true(recovered, `the publisher went back to publishing directly to Redis (last ${directStreak()} in a row direct)`);

  const expected = Array.from({ length: total }, (_, i) => i + 1);
  // Read back from the master the sentinels agree on now: on a loaded machine a short down-after can make
  // them fail over a second time (the first promoted replica looked down for a moment), and the stale
  // master is then turned into a replica and resynced. Every acknowledged event must still be there.
  const finalMaster = await group.waitForFailover(oldMaster, FAILOVER_TIMEOUT_MS);
  if (finalMaster.port !== newMaster.port) {
    t.log(`the sentinels failed over a second time: the master is now ${finalMaster.port}, not ${newMaster.port}`);
  }
  const finalMasterNode = group.replicas.find((r) => r.port === finalMaster.port);
  if (!finalMasterNode) throw new Error(`master ${finalMaster.port} is not one of the group's replicas`);
  const admin = finalMasterNode.client({ maxRetriesPerRequest: 1, connectTimeout: 2_000 });

  await waitFor(() => bus.buffer.backlog(TOPIC) === 0, 'the disk buffer to drain', 15_000, 20);
  // The first publish that resumed (acknowledged by the new master and a replica) is in the stream.
  const resumedId = resumed.result?.entryId;
  if (resumedId !== undefined) {
    t.is((await admin.xrange(bus.keys.stream(TOPIC), resumedId, resumedId)).length, 1, 'resumed entry is there');
  }

  const entries = await admin.xrange(bus.keys.stream(TOPIC), '-', '+');
  const stored = entries.map(([, fields]) => JSON.parse(fields[fields.indexOf('env') + 1] as string) as Envelope);
  const storedSeqs = new Set(stored.map((e) => e.seq));
  const missing = expected.filter((seq) => !storedSeqs.has(seq));
  if (missing.length > 0) t.log(`missing from the stream: ${missing.length} seqs, ${describeRanges(missing)}`);
  t.is(stored.length, total, "the master's stream holds every event once");
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

  // The consumer may have backed off during the failover (up to 5 s between attempts): give it time.
  await waitFor(async () => (await admin.llen(effects)) >= total, `${total} events committed by the group`, 20_000, 50);
  await sleep(300); // anything extra would show up now
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
