import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { loadConfig } from '../src/config/load.js';
import { type EventBus, openEventBus } from '../src/streams/event-bus.js';
import type { Published } from '../src/streams/publisher.js';
import { type RedisAddress, type SentinelGroup, startSentinelGroup } from '../test/support/redis-fixture.js';
import {
  type BenchContext,
  type BenchResult,
  compare,
  now,
  progress,
  round,
  waitUntil,
  withDeadline,
} from './harness.js';
import { BENCH_PRODUCER, BENCH_SOURCE, TICK, TICK_TOPIC, TICK_TYPE } from './workload.js';

/** One publish every PUBLISH_EVERY_MS while the master dies: a steady trickle, as a live feed would send. */
const PUBLISH_EVERY_MS = 2;
/** Publishing runs this long on the healthy master before the kill. */
const WARMUP_MS = 1_000;
/** Sentinel settings of the group: a short down-after, so the figure is about the bus, not the detection. */
const DOWN_AFTER_MS = 1_000;
const FAILOVER_TIMEOUT_MS = 3_000;
/** How often each sentinel is asked for the master while the baseline clock runs. */
const SENTINEL_POLL_MS = 5;
/** Bounds: no wait in this benchmark is open-ended. */
const READY_TIMEOUT_MS = 20_000;
const FAILOVER_DEADLINE_MS = 20_000;
const RESUME_DEADLINE_MS = 30_000;

/**
 * Sentinel failover (docs/architecture.md §15: publishes resume < 5 s after the master
 * dies, 0 lost).
 *
 * Starts its own Sentinel group (1 master, 2 replicas, 3 sentinels, quorum 2,
 * down-after 1 s, all local on free ports; never 6379/26379 and never the
 * runner's bench server), waits until both replicas are in sync, and opens the
 * event bus against it (REDIS_MIN_REPLICAS_ACK=1, breaker half-open 300 ms,
 * command timeout 1 s, its own disk buffer). One `market.tick` is published
 * every 2 ms; after 1 s the master is SIGKILLed and publishing goes on.
 *
 * `failover.resume`: from the SIGKILL to the first publish that resolves
 * `via: 'redis'` among those made after the master had exited, i.e. the first
 * event acknowledged by the new master (and a replica, through WAIT).
 *
 * Baseline `raw.sentinel.failover`, same run: from the SIGKILL until any
 * sentinel's `SENTINEL get-master-addr-by-name` names another node (each
 * sentinel polled every 5 ms on a connection opened before the kill). The
 * ratio is what the bus adds on top of Sentinel itself: client reconnect
 * backoff, breaker, drain of the events buffered meanwhile.
 *
 * One failover, one sample: the figure moves by up to a reconnect backoff step
 * (ioredis retries at ~1 s, then ~2 s more) between runs. Afterwards the
 * stream on the new master is checked to hold every published event.
 */
export async function run(bench: BenchContext): Promise<BenchResult[]> {
  const dataDir = await mkdtemp(join(tmpdir(), 'qt-bench-failover-'));
  let group: SentinelGroup | undefined;
  const watchers: Redis[] = [];
  try {
    group = await startSentinelGroup({
      masterName: 'qtbench',
      downAfterMs: DOWN_AFTER_MS,
      failoverTimeoutMs: FAILOVER_TIMEOUT_MS,
    });
    await replicasInSync(group);
    return await measure(bench, group, dataDir, watchers);
  } finally {
    for (const w of watchers) w.disconnect();
    await group?.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function measure(
  bench: BenchContext,
  group: SentinelGroup,
  dataDir: string,
  watchers: Redis[],
): Promise<BenchResult[]> {
  const config = loadConfig({
    REDIS_SENTINELS: group.sentinelAddrs.map((s) => `${s.host}:${s.port}`).join(','),
    REDIS_MASTER_NAME: group.masterName,
    REDIS_MIN_REPLICAS_ACK: '1',
    REDIS_BREAKER_HALF_OPEN_MS: '300',
    REDIS_COMMAND_TIMEOUT_MS: '1000',
    REDIS_WAIT_TIMEOUT_MS: '250',
    QT_DATA_DIR: dataDir,
    QT_KEY_PREFIX: bench.keys('bus').prefix,
  });
  const bus = await openEventBus(config, { producer: BENCH_PRODUCER, source: BENCH_SOURCE });
  // Per publish, in call order: where it went and when it settled.
  const settled: { via: Published['via'] | 'error' | 'pending'; at: number }[] = [];
  const sends: Promise<void>[] = [];
  let stop = false;
  let stopWatching = false;
  const publishing = (async () => {
    while (!stop) {
      const slot = settled.length;
      settled.push({ via: 'pending', at: Number.NaN });
      sends.push(
        bus.publisher.publish(TICK_TYPE, TICK).then(
          (r) => {
            settled[slot] = { via: r.via, at: now() };
          },
          () => {
            settled[slot] = { via: 'error', at: now() };
          },
        ),
      );
      await sleep(PUBLISH_EVERY_MS);
    }
  })();

  try {
    // The bus connects in the background: measure from a healthy, direct-publishing state.
    await waitUntil(
      async () => settled.some((s) => s.via === 'redis'),
      'publishes to reach the master',
      READY_TIMEOUT_MS,
      10,
    );
    await sleep(WARMUP_MS);

    const oldMaster = group.master.port;
    for (const s of group.sentinels) watchers.push(s.client({ connectionName: 'bench:sentinel-watch' }));
    await Promise.all(watchers.map((w) => w.ping()));
    let sentinelSwitchedAt: number | undefined;
    const killedAt = now();
    const watching = (async () => {
      while (!stopWatching && sentinelSwitchedAt === undefined && now() - killedAt < FAILOVER_DEADLINE_MS) {
        const replies = await Promise.all(
          watchers.map((w) => w.call('SENTINEL', 'get-master-addr-by-name', group.masterName).catch(() => null)),
        );
        if (replies.some((r) => Array.isArray(r) && Number(r[1]) !== oldMaster)) sentinelSwitchedAt = now();
        else await sleep(SENTINEL_POLL_MS);
      }
    })();
    await group.master.kill();
    const firstAfterKill = settled.length; // made once the old master had exited: only a new master can ack them
    await withDeadline(watching, FAILOVER_DEADLINE_MS + 1_000, 'sentinel to report a new master');
    if (sentinelSwitchedAt === undefined) throw new Error('bench: sentinels never reported a new master');
    const sentinelMs = sentinelSwitchedAt - killedAt;
    progress(`sentinel reported a new master ${Math.round(sentinelMs)} ms after the kill`);

    const resumed = () => settled.slice(firstAfterKill).find((s) => s.via === 'redis');
    await waitUntil(
      async () => resumed() !== undefined,
      'a publish acknowledged by the new master',
      RESUME_DEADLINE_MS,
      5,
    );
    const resumeMs = (resumed()?.at as number) - killedAt;
    progress(`first publish via redis ${Math.round(resumeMs)} ms after the kill`);

    stop = true;
    await publishing;
    await withDeadline(Promise.all(sends), 10_000, 'every publish() to settle');
    await checkNothingLost(group, oldMaster, bus, settled);
    await withDeadline(bus.close(), 10_000, 'closing the event bus');

    return [
      compare('failover.resume', 'ms', round(resumeMs, 1), {
        name: 'raw.sentinel.failover',
        value: round(sentinelMs, 1),
      }),
    ];
  } finally {
    stop = true;
    stopWatching = true;
    await publishing;
    await withDeadline(bus.close(), 10_000, 'closing the event bus').catch(() => bus.redis.disconnect());
  }
}

/** Replicas that are merely connected may still wait for a delayed first sync; WAIT 1 needs them online. */
async function replicasInSync(group: SentinelGroup): Promise<void> {
  const admin = group.master.client({ connectionName: 'bench:admin' });
  try {
    await waitUntil(
      async () =>
        ((await admin.info('replication')).match(/^slave\d+:.*state=online/gm) ?? []).length === group.replicas.length,
      'replicas in sync with the master',
      READY_TIMEOUT_MS,
      50,
    );
  } finally {
    admin.disconnect();
  }
}

/** Waits for the disk buffer to drain, then reports whether the new master's stream holds every publish. */
async function checkNothingLost(
  group: SentinelGroup,
  oldMaster: number,
  bus: EventBus,
  settled: readonly { via: string }[],
): Promise<void> {
  await waitUntil(async () => bus.buffer.backlog(TICK_TOPIC) === 0, 'the disk buffer to drain', 30_000, 20);
  const master: RedisAddress = await group.waitForFailover(oldMaster, FAILOVER_DEADLINE_MS);
  const node = group.replicas.find((r) => r.port === master.port);
  if (!node) throw new Error(`bench: master ${master.port} is not one of the group's replicas`);
  const admin = node.client({ connectionName: 'bench:admin' });
  try {
    const stored = await admin.xlen(bus.keys.stream(TICK_TOPIC));
    const published = settled.filter((s) => s.via === 'redis' || s.via === 'buffer').length;
    const failed = settled.length - published;
    const buffered = settled.filter((s) => s.via === 'buffer').length;
    progress(
      `${settled.length} published (${buffered} through the disk buffer, ${failed} rejected); ` +
        `the new master's stream holds ${stored}` +
        (stored === settled.length && failed === 0 ? ': none lost' : ': MISMATCH'),
    );
  } finally {
    admin.disconnect();
  }
}
