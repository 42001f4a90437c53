/**
 * A redis-server child for one simulation: a free loopback port, its own
 * temp dir, AOF with `appendfsync always` (a SIGKILL loses nothing written),
 * SIGKILL and restart on the same port.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';

/** A redis-server this simulation owns. */
export interface SimRedis {
  readonly port: number;
  readonly url: string;
  /** Pid of the running server; undefined while killed. */
  pid(): number | undefined;
  /** SIGKILL, resolved once the process is gone. */
  kill(): Promise<void>;
  /** Starts it again on the same port and dir; resolves once it answers PING. */
  restart(): Promise<void>;
  /** The simulator's own client (one, shared; it reconnects after a restart); closed by {@link SimRedis.stop}. */
  client(): Redis;
  stop(): Promise<void>;
}

/** Starts redis-server on a free loopback port (with `extraArgs` last) and waits until it answers PING. */
export async function startSimRedis(extraArgs: readonly string[] = []): Promise<SimRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'qt-sim-redis-'));
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes'];
  args.push('--appendfsync', 'always', '--logfile', join(dir, 'redis.log'), ...extraArgs);
  let child: ChildProcess | undefined;
  let shared: Redis | undefined;
  const start = async () => {
    child = spawn('redis-server', args, { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    for (;;) {
      const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        if ((await probe.ping()) === 'PONG') return;
      } catch {
        if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not answer PING within 10 s`);
        await sleep(50);
      } finally {
        probe.disconnect();
      }
    }
  };
  const kill = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = once(running, 'exit');
    running.kill('SIGKILL');
    await exited;
  };
  await start();
  return {
    port,
    url,
    pid: () => child?.pid,
    kill,
    restart: start,
    client: () => {
      if (shared === undefined) {
        shared = new Redis(url, { maxRetriesPerRequest: 1, retryStrategy: () => 200 });
        shared.on('error', () => undefined);
      }
      return shared;
    },
    stop: async () => {
      shared?.disconnect();
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
