import { readFileSync } from 'node:fs';
import { Redis, type RedisOptions } from 'ioredis';
import { type Backoff, backoffDelay } from '../backoff.js';
import type { Config } from '../config/load.js';

/** The reconnect policy: 1 s, 2, 4, 8, 16, then 30 s, each with ±20 % jitter (docs/resilience.md). */
export const RECONNECT_BACKOFF: Backoff = { baseMs: 1_000, maxMs: 30_000, jitter: { spread: 0.2 } };

/** The delay before reconnect number `attempt`, from {@link RECONNECT_BACKOFF}; `random` is injectable for tests. */
export function reconnectDelayMs(attempt: number, random: () => number = Math.random): number {
  return backoffDelay(RECONNECT_BACKOFF, attempt, random);
}

/**
 * ioredis options for the runtime's connections. The offline queue is off so
 * a command made while disconnected fails at once instead of waiting in
 * memory (the disk buffer, not RAM, holds publishes during an outage: see
 * docs/resilience.md); commands time out instead of hanging on a dead socket.
 */
export function redisOptions(config: Config, overrides: RedisOptions = {}): RedisOptions {
  const base: RedisOptions = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: config.redis.commandTimeoutMs,
    connectTimeout: 5_000,
    retryStrategy: (attempt) => reconnectDelayMs(attempt),
    lazyConnect: true,
    // After a failover the old master turns replica and answers writes with
    // READONLY: reconnect (re-resolving the master through Sentinel).
    reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 1 : false),
  };
  const url = new URL(config.redis.url);
  // rediss:// means TLS; a private CA is trusted through REDIS_TLS_CA_FILE.
  const tls =
    url.protocol === 'rediss:'
      ? { tls: config.redis.tlsCaFile ? { ca: readFileSync(config.redis.tlsCaFile) } : {} }
      : {};
  if (config.redis.mode === 'sentinel') {
    return {
      ...base,
      sentinels: config.redis.sentinels.map((s) => ({ ...s })),
      name: config.redis.masterName,
      ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
      ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
      ...(url.protocol === 'rediss:' ? { ...tls, enableTLSForSentinelMode: true } : {}),
      ...overrides,
    };
  }
  return { ...base, ...tls, ...overrides };
}

/** Creates (without connecting) a client for the configured Redis. */
export function createRedis(config: Config, overrides: RedisOptions = {}): Redis {
  const options = redisOptions(config, overrides);
  return config.redis.mode === 'sentinel' ? new Redis(options) : new Redis(config.redis.url, options);
}
