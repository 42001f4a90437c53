/**
 * A Redis Sentinel group for the sentinel-failover scenario: a master, two
 * replicas and three sentinels (quorum 2, down after 1 s), all local
 * redis-server processes on free loopback ports, ready once every sentinel
 * sees both replicas and the other sentinels. The master can be SIGKILLed
 * and the failover waited for.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { RedisEndpoint } from './cluster.js';
import { freePort } from './ports.js';
import { until } from './probes.js';
import { type SimRedis, startSimRedis } from './redis-server.js';

const MASTER_NAME = 'qtsim';

/** A running Sentinel group, usable as a platform's Redis. */
export interface SentinelGroup extends RedisEndpoint {
  readonly master: SimRedis;
  /** The master's port as the sentinels report it now. */
  currentMasterPort(): Promise<number | undefined>;
}

function askSentinel(port: number, ...args: string[]): Promise<unknown> {
  const client = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  return client
    .connect()
    .then(() => client.call('SENTINEL', ...args))
    .finally(() => client.disconnect());
}

/** Starts the group and waits until a failover could happen (at most 30 s). */
export async function startSentinelGroup(): Promise<SentinelGroup> {
  const master = await startSimRedis();
  const replicas = await Promise.all(
    [1, 2].map(() => startSimRedis(['--replicaof', '127.0.0.1', String(master.port)])),
  );
  const dir = await mkdtemp(join(tmpdir(), 'qt-sim-sentinel-'));
  const sentinels: { port: number; child: ChildProcess }[] = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const file = join(dir, `sentinel-${i}.conf`);
    const conf = [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `logfile ${join(dir, `sentinel-${i}.log`)}`,
      `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${master.port} 2`,
      `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
      `sentinel failover-timeout ${MASTER_NAME} 5000`,
      `sentinel parallel-syncs ${MASTER_NAME} 1`,
    ];
    await writeFile(file, `${conf.join('\n')}\n`);
    sentinels.push({ port, child: spawn('redis-server', [file, '--sentinel'], { stdio: 'ignore' }) });
  }
  const stop = async () => {
    await Promise.all(
      sentinels.map(async ({ child }) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, 'exit');
        child.kill('SIGKILL');
        await exited;
      }),
    );
    shared?.disconnect();
    await Promise.all([...replicas, master].map((s) => s.stop()));
    await rm(dir, { recursive: true, force: true });
  };
  let shared: Redis | undefined;
  const ready = await until(
    async () => {
      const views = await Promise.all(
        sentinels.map(async ({ port }) => {
          try {
            const seen = (await askSentinel(port, 'REPLICAS', MASTER_NAME)) as unknown[];
            const others = (await askSentinel(port, 'SENTINELS', MASTER_NAME)) as unknown[];
            return seen.length === 2 && others.length === 2;
          } catch {
            return false;
          }
        }),
      );
      return views.every(Boolean);
    },
    30_000,
    200,
  );
  if (ready === undefined) {
    await stop();
    throw new Error('the sentinels did not see the whole group within 30 s');
  }
  const sentinelList = sentinels.map((s) => `127.0.0.1:${s.port}`).join(',');
  return {
    master,
    ports: [master.port, ...replicas.map((r) => r.port), ...sentinels.map((s) => s.port)],
    env: {
      REDIS_URL: master.url,
      REDIS_SENTINELS: sentinelList,
      REDIS_MASTER_NAME: MASTER_NAME,
      REDIS_MIN_REPLICAS_ACK: '1',
    },
    client: () => {
      if (shared === undefined) {
        shared = new Redis({
          sentinels: sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })),
          name: MASTER_NAME,
          maxRetriesPerRequest: 1,
        });
        shared.on('error', () => undefined);
      }
      return shared;
    },
    currentMasterPort: async () => {
      for (const { port } of sentinels) {
        try {
          const [, masterPort] = (await askSentinel(port, 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME)) as string[];
          return Number(masterPort);
        } catch {
          // ask the next one
        }
      }
      return undefined;
    },
    stop,
  };
}
