/**
 * A production-like platform for one simulation: a redis-server of its own,
 * and one `main --actors=SERVICE` process per service, all on one
 * `QT_HTTP_PORT_OFFSET` (so monitoring-health finds the others), sharing a
 * data dir and key prefix, with an admin token. Processes can be SIGKILLed
 * and started again; {@link Cluster.stop} ends everything it started.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { SERVICES, type ServiceName } from '../../src/actors/services.js';
import { createKeys, type Keys } from '../../src/streams/keys.js';
import { freeServiceOffset } from './ports.js';
import { type SimRedis, startSimRedis } from './redis-server.js';

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
/** The admin token every process of a simulation is given. */
export const SIM_ADMIN_TOKEN = 'simulation-admin-token-0123456789';
const START_TIMEOUT_MS = 90_000;

/** One running `main`. */
export interface SimProcess {
  readonly service: ServiceName;
  readonly child: ChildProcess;
  out(): string;
}

/** The Redis a platform runs on, as the simulator sees it. */
export interface RedisEndpoint {
  /** Ports the services' port offset must avoid. */
  readonly ports: readonly number[];
  /** The environment that points `main` at it (`REDIS_URL`, or Sentinel settings). */
  readonly env: Record<string, string>;
  /** The simulator's own client (to the current master). */
  client(): Redis;
  stop(): Promise<void>;
}

/** What a scenario asks of its platform. */
export interface ClusterOptions {
  readonly services: readonly ServiceName[];
  /** The Redis to run on; default: a standalone redis-server of its own ({@link Cluster.redis} then controls it). */
  readonly redis?: RedisEndpoint;
  /** Environment on top of the defaults (feed speed, ESS cooldown, ...). */
  readonly env?: Record<string, string>;
}

/** A running platform. */
export interface Cluster {
  readonly redis: RedisEndpoint;
  /** The standalone redis-server started for the platform (to kill and restart); undefined when given one. */
  readonly standalone: SimRedis | undefined;
  readonly keys: Keys;
  readonly env: Record<string, string>;
  readonly dataDir: string;
  /** `http://127.0.0.1:PORT` of a service. */
  url(service: ServiceName): string;
  /** The current process of a service. */
  process(service: ServiceName): SimProcess;
  /** SIGKILLs a service's process and waits for it to be gone. */
  kill(service: ServiceName): Promise<void>;
  /** Starts a service's process again (after a kill) and waits for "runtime started". */
  start(service: ServiceName): Promise<void>;
  /** SIGTERM to every process (SIGKILL after 15 s), then Redis, then the data dir. */
  stop(): Promise<void>;
}

/** Starts Redis and every requested service, each in its own `main`, and waits until all report started. */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const standalone = options.redis === undefined ? await startSimRedis() : undefined;
  const redis: RedisEndpoint = options.redis ?? standaloneEndpoint(standalone as SimRedis);
  const dataDir = await mkdtemp(join(tmpdir(), 'qt-sim-'));
  const offset = await freeServiceOffset(redis.ports);
  const prefix = `sim${Date.now().toString(36)}`;
  const env: Record<string, string> = {
    ...redis.env,
    QT_LOCAL_REDIS: 'never',
    QT_DATA_DIR: dataDir,
    QT_KEY_PREFIX: prefix,
    QT_ADMIN_TOKEN: SIM_ADMIN_TOKEN,
    QT_HTTP_PORT_OFFSET: String(offset),
    QT_LOG_PRETTY: 'false',
    QT_SUMMARY_INTERVAL_MS: '0',
    QT_HEALTH_INTERVAL_MS: '1000',
    ...options.env,
  };
  const running = new Map<ServiceName, SimProcess>();
  const start = async (service: ServiceName) => {
    const child = spawn(process.execPath, ['--import=tsx', MAIN, `--actors=${service}`], {
      env: { ...process.env, ...env, QT_PRODUCER_ID: `sim-${service}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const collect = (d: Buffer) => {
      out = (out + String(d)).slice(-200_000);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    running.set(service, { service, child, out: () => out });
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!out.includes('runtime started')) {
      if (child.exitCode !== null)
        throw new Error(`${service} exited ${child.exitCode} at start:\n${out.slice(-3000)}`);
      if (Date.now() > deadline) throw new Error(`${service} did not start within ${START_TIMEOUT_MS} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const end = async (service: ServiceName, signal: NodeJS.Signals) => {
    const proc = running.get(service);
    if (!proc || proc.child.exitCode !== null || proc.child.signalCode !== null) return;
    const exited = once(proc.child, 'exit');
    proc.child.kill(signal);
    const timer = setTimeout(() => proc.child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  };
  const stop = async () => {
    await Promise.all([...running.keys()].map((s) => end(s, 'SIGTERM')));
    await redis.stop();
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    await Promise.all(options.services.map(start));
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    redis,
    standalone,
    keys: createKeys(prefix),
    env,
    dataDir,
    url: (service) => `http://127.0.0.1:${SERVICES[service].port + offset}`,
    process: (service) => {
      const proc = running.get(service);
      if (!proc) throw new Error(`${service} was not started`);
      return proc;
    },
    kill: (service) => end(service, 'SIGKILL'),
    start,
    stop,
  };
}

/** A standalone server as a {@link RedisEndpoint}. */
function standaloneEndpoint(server: SimRedis): RedisEndpoint {
  return {
    ports: [server.port],
    env: { REDIS_URL: server.url },
    client: () => server.client(),
    stop: () => server.stop(),
  };
}
