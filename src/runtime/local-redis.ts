import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { QtError } from '../errors.js';
import { type Logger, silentLogger } from '../log.js';

/** True when a Redis answers PING at `url` within `timeoutMs`. */
export async function isRedisReachable(url: string, timeoutMs = 1_000): Promise<boolean> {
  const probe = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

/** How long a local redis-server may take to exit on SIGTERM before it is killed. */
export const STOP_TIMEOUT_MS = 10_000;

/** A redis-server this process started, and how to stop it. */
export interface LocalRedis {
  readonly url: string;
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

/**
 * Starts `redis-server` as a child process for the embedded defaults: data
 * (AOF, fsync every second) under `dataDir/redis`, bound to loopback. Used
 * only when no Redis is reachable and none was configured explicitly.
 */
export async function startLocalRedis(options: { dataDir: string; port: number; log?: Logger }): Promise<LocalRedis> {
  const log = options.log ?? silentLogger;
  const dir = resolve(options.dataDir, 'redis');
  await mkdir(dir, { recursive: true });
  const args = [
    '--port',
    String(options.port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--appendonly',
    'yes',
    '--appendfsync',
    'everysec',
    '--save',
    '',
    '--daemonize',
    'no',
    '--logfile',
    resolve(dir, 'redis.log'),
  ];
  let child: ChildProcess;
  try {
    // Its own process group: a Ctrl-C at the terminal signals the whole
    // foreground group, and redis-server must not die before main has
    // stopped its actors and drained to it; main stops it last (SIGTERM).
    child = spawn('redis-server', args, { stdio: 'ignore', detached: true });
    await Promise.race([once(child, 'spawn'), once(child, 'error').then(([err]) => Promise.reject(err))]);
  } catch (err) {
    const message = `could not start redis-server (is it installed and on PATH?): ${(err as Error).message}`;
    throw new QtError('QT_LOCAL_REDIS_FAILED', message, { cause: err });
  }
  const url = `redis://127.0.0.1:${options.port}`;
  const deadline = Date.now() + 10_000;
  while (!(await isRedisReachable(url, 500))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      const message = `redis-server did not come up on ${url}; see ${resolve(dir, 'redis.log')}`;
      throw new QtError('QT_LOCAL_REDIS_FAILED', message, { details: { url } });
    }
    await sleep(100);
  }
  // `redisPid`, not `pid`: every log line already has the process's own pid.
  log.info({ url, redisPid: child.pid, dir }, 'started a local redis-server');
  let stopping: Promise<void> | undefined;
  return {
    url,
    pid: child.pid,
    stop: () => {
      stopping ??= (async () => {
        if (child.exitCode !== null) return;
        const exited = once(child, 'exit');
        child.kill('SIGTERM'); // redis-server flushes its AOF and exits on SIGTERM
        // The SIGKILL timer is cancelled once it exits: a pending timer would hold the process for its full 10 s.
        const giveUp = new AbortController();
        await Promise.race([
          exited,
          sleep(STOP_TIMEOUT_MS, undefined, { signal: giveUp.signal }).then(
            () => child.kill('SIGKILL'),
            () => undefined,
          ),
        ]);
        giveUp.abort();
      })();
      return stopping;
    },
  };
}
