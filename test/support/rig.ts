import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { createKeys, type Keys } from '../../src/streams/keys.js';
import { uniquePrefix } from './bus.js';
import { type RedisServer, type StartRedisOptions, startRedis } from './redis-fixture.js';

/** What a test that runs `main` against its own Redis needs; removed on teardown. */
export interface RedisRig {
  readonly server: RedisServer;
  /** A fresh QT_DATA_DIR. */
  readonly dataDir: string;
  /** A key prefix no other test uses. */
  readonly prefix: string;
  readonly keys: Keys;
  /** REDIS_URL, QT_DATA_DIR and QT_KEY_PREFIX for `main` or `qt`. */
  readonly env: { REDIS_URL: string; QT_DATA_DIR: string; QT_KEY_PREFIX: string };
}

/** Starts a redis-server, makes a data dir and a unique prefix for one test; the teardown stops and removes them. */
export async function redisRig(t: ExecutionContext, label: string, options: StartRedisOptions = {}): Promise<RedisRig> {
  const server = await startRedis({ name: label, ...options });
  const dataDir = await mkdtemp(join(tmpdir(), `qt-${label}-`));
  t.teardown(async () => {
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
  });
  const prefix = uniquePrefix(label);
  return {
    server,
    dataDir,
    prefix,
    keys: createKeys(prefix),
    env: { REDIS_URL: server.url, QT_DATA_DIR: dataDir, QT_KEY_PREFIX: prefix },
  };
}
