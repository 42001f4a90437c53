/**
 * The shipped Sentinel set (infra/redis/: master.conf, replica.conf, sentinel.conf, rendered by
 * render.sh) run as real redis-server processes on free loopback ports (test/support/sentinel-files.ts
 * rewrites ports, dirs and the password, nothing else). Checks the files' settings as the sentinels report
 * them (quorum 2, down after 5 s, failover timeout 10 s), password auth on the data nodes, and a failover:
 * the master SIGKILLed while the runtime's event bus publishes (REDIS_SENTINELS, the password in
 * REDIS_URL, REDIS_MIN_REPLICAS_ACK=1) → a replica promoted within down-after + failover timeout, the
 * bus publishing to the new master, every event there once and in order.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/load.js';
import type { Envelope } from '../../src/events/envelope.js';
import { type EventBus, openEventBus } from '../../src/streams/event-bus.js';
import type { Published } from '../../src/streams/publisher.js';
import { uniquePrefix, waitFor } from '../support/bus.js';
import { type ShippedSentinelGroup, startShippedSentinelGroup } from '../support/sentinel-files.js';

/** What infra/redis/sentinel.conf says; the sentinels must report the same. */
const SHIPPED = { quorum: 2, downAfterMs: 5_000, failoverTimeoutMs: 10_000 };
const PRODUCER = 'sentinel-files-producer';
const PUBLISH_EVERY_MS = 5;
/** Publishing goes on this long after the first publish that reached the new master. */
const AFTER_RESUME_MS = 1_000;

interface Outcome {
  readonly price: number;
  result?: Published;
  error?: unknown;
}

/** A SENTINEL reply (flat [k, v, k, v...]) as a record. */
function fields(reply: unknown): Record<string, string> {
  const list = reply as string[];
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < list.length; i += 2) out[list[i] as string] = list[i + 1] as string;
  return out;
}

let group: ShippedSentinelGroup;
const dataDirs: string[] = [];

test.before(async () => {
  group = await startShippedSentinelGroup();
});

test.after.always(async () => {
  await group?.stop();
  for (const dir of dataDirs) await rm(dir, { recursive: true, force: true });
});

test.serial('the sentinels run the shipped settings: quorum 2, down after 5 s, failover timeout 10 s', async (t) => {
  t.is(group.masterName, 'qtmaster');
  for (const sentinel of group.sentinels) {
    const admin = sentinel.client();
    try {
      const master = fields(await admin.call('SENTINEL', 'MASTER', group.masterName));
      t.like(master, {
        port: String(group.master.port),
        quorum: String(SHIPPED.quorum),
        'down-after-milliseconds': String(SHIPPED.downAfterMs),
        'failover-timeout': String(SHIPPED.failoverTimeoutMs),
        'num-slaves': '2',
        'num-other-sentinels': '2',
      });
      t.regex(String(await admin.call('SENTINEL', 'CKQUORUM', group.masterName)), /^OK 3 usable Sentinels/);
    } finally {
      admin.disconnect();
    }
  }
});

test.serial('the data nodes require the password; the replicas authenticate to the master with it', async (t) => {
  for (const node of [group.master, ...group.replicas]) {
    const anonymous = new Redis({
      host: node.host,
      port: node.port,
      lazyConnect: true,
      enableReadyCheck: false,
      retryStrategy: () => null,
    });
    anonymous.on('error', () => undefined);
    try {
      await anonymous.connect();
      await t.throwsAsync(anonymous.ping(), { message: /NOAUTH/ }, `${node.name}: no password`);
      await t.throwsAsync(anonymous.call('AUTH', 'not-the-password'), { message: /WRONGPASS/ }, `${node.name}: wrong`);
      t.is(await anonymous.call('AUTH', group.password), 'OK');
      t.is(await anonymous.ping(), 'PONG');
    } finally {
      anonymous.disconnect();
    }
  }
  const admin = group.master.client();
  try {
    await waitFor(
      async () => ((await admin.info('replication')).match(/^slave\d+:.*state=online/gm) ?? []).length === 2,
      'both replicas online (authenticated with masterauth)',
      20_000,
      50,
    );
    t.pass();
  } finally {
    admin.disconnect();
  }
});

test.serial('master SIGKILLed: a replica promoted in time, the event bus publishes to it, nothing lost', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'qt-sentinel-files-'));
  dataDirs.push(dataDir);
  const logLines: string[] = [];
  const log = pino({ level: 'warn' }, { write: (l) => void logLines.push(l) });
  const config = loadConfig({
    REDIS_SENTINELS: group.sentinelAddrs.map((s) => `${s.host}:${s.port}`).join(','),
    REDIS_MASTER_NAME: group.masterName,
    // In Sentinel mode REDIS_URL carries the data nodes' credentials only.
    REDIS_URL: `redis://:${group.password}@qtmaster`,
    REDIS_MIN_REPLICAS_ACK: '1',
    REDIS_BREAKER_HALF_OPEN_MS: '300',
    REDIS_COMMAND_TIMEOUT_MS: '1000',
    REDIS_WAIT_TIMEOUT_MS: '250',
    QT_DATA_DIR: dataDir,
    QT_KEY_PREFIX: uniquePrefix('sentinelfiles'),
  });
  const bus: EventBus = await openEventBus(config, { producer: PRODUCER, source: 'test', log });
  let stop = false;
  const outcomes: Outcome[] = [];
  const sends: Promise<void>[] = [];
  t.teardown(async () => {
    stop = true;
    await bus.close().catch(() => undefined);
    if (!t.passed) t.log(`runtime log (last 30):\n${logLines.slice(-30).join('')}`);
    if (!t.passed) {
      for (const node of [group.master, ...group.replicas, ...group.sentinels]) {
        const text = await readFile(join(node.dir, 'redis.log'), 'utf8').catch(() => '(no log)');
        t.log(`--- ${node.name} :${node.port} ---\n${text.trimEnd().split('\n').slice(-15).join('\n')}`);
      }
    }
  });

  const oldMaster = group.master.port;
  const publishing = (async () => {
    const started = performance.now();
    for (let price = 1; !stop && performance.now() - started < 60_000; price++) {
      const outcome: Outcome = { price };
      outcomes.push(outcome);
      sends.push(
        bus.publisher.publish('market.tick', { symbol: 'BTCUSDT', price, volume: 1 }).then(
          (result) => {
            outcome.result = result;
          },
          (error: unknown) => {
            outcome.error = error;
          },
        ),
      );
      await sleep(PUBLISH_EVERY_MS);
    }
  })();

  await waitFor(() => outcomes.some((o) => o.result?.via === 'redis'), 'a first publish on the master', 10_000, 20);
  await sleep(1_000);
  const killedAt = performance.now();
  await group.master.kill();
  const afterKill = outcomes.length;
  const newMaster = await group.waitForFailover(oldMaster, 30_000);
  const promotedMs = Math.round(performance.now() - killedAt);
  // The sentinels need down-after to agree the master is gone, then the failover has its timeout.
  t.true(
    promotedMs <= SHIPPED.downAfterMs + SHIPPED.failoverTimeoutMs,
    `replica promoted ${promotedMs} ms after the kill`,
  );

  let firstResumedIndex = -1;
  await waitFor(
    () => {
      firstResumedIndex = outcomes.findIndex((o, i) => i >= afterKill && o.result?.via === 'redis');
      return firstResumedIndex >= 0;
    },
    'a publish acknowledged by the new master',
    30_000,
    20,
  );
  await sleep(AFTER_RESUME_MS);
  stop = true;
  await publishing;
  await Promise.all(sends);
  const total = outcomes.length;
  t.deepEqual(
    outcomes.filter((o) => o.error !== undefined).map((o) => `${o.price}: ${String(o.error)}`),
    [],
    'every publish() resolved',
  );
  const buffered = outcomes.filter((o) => o.result?.via === 'buffer').length;
  t.log(
    `${total} events; master ${oldMaster} → ${newMaster.port} promoted ${promotedMs} ms after the kill; ` +
      `${buffered} went through the disk buffer`,
  );

  await waitFor(() => bus.buffer.backlog('market') === 0, 'the disk buffer to drain', 20_000, 20);
  const final = await group.waitForFailover(oldMaster, 15_000);
  const node = group.replicas.find((r) => r.port === final.port);
  if (!node) throw new Error(`master ${final.port} is not one of the group's replicas`);
  const admin = node.client();
  try {
    const entries = await admin.xrange(bus.keys.stream('market'), '-', '+');
    const stored = entries.map(([, f]) => JSON.parse(f[f.indexOf('env') + 1] as string) as Envelope);
    const expected = Array.from({ length: total }, (_, i) => i + 1);
    t.deepEqual(
      stored.map((e) => e.seq),
      expected,
      "the new master's stream holds seqs 1..N once, in order",
    );
    t.deepEqual(
      stored.map((e) => (e.data as { price: number }).price),
      expected,
      'publish order kept',
    );
  } finally {
    admin.disconnect();
  }
});
