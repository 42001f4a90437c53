import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { DiskBuffer } from '../buffer/disk-buffer.js';
import type { Config } from '../config/load.js';
import { type Logger, silentLogger } from '../log.js';
import { createRedis } from './connection.js';
import { Drainer } from './drainer.js';
import { createKeys, type Keys } from './keys.js';
import { RedisPublisher } from './publisher.js';
import { RedisLink } from './redis-link.js';

/** The publishing side of one producer process, wired together. */
export interface EventBus {
  readonly keys: Keys;
  readonly redis: Redis;
  readonly link: RedisLink;
  readonly buffer: DiskBuffer;
  readonly publisher: RedisPublisher;
  readonly drainer: Drainer;
  /** Stops publishing (queued publishes finish), the drainer, the buffer and Redis, in that order. Idempotent. */
  close(): Promise<void>;
}

/** How long `openEventBus` waits for a first connection before carrying on with the buffer. */
export const DEFAULT_CONNECT_WAIT_MS = 3_000;

/** Where a producer's disk buffer lives: one file per producer id. */
export function bufferPath(config: Config, producer: string): string {
  return join(config.dataDir, 'buffer', `${producer}.sqlite`);
}

/**
 * Opens the disk buffer (which fails at once if the file is locked by
 * another process or corrupt), connects to Redis without waiting for it (an
 * unreachable Redis means publishes are buffered), and starts the drainer.
 */
export async function openEventBus(
  config: Config,
  options: {
    producer: string;
    source: string;
    log?: Logger;
    registry?: Registry;
    redis?: Redis;
    /** How long to wait for Redis before returning; default {@link DEFAULT_CONNECT_WAIT_MS}. */
    connectWaitMs?: number;
    /** The clock of the envelopes' `time`; default the wall clock (a replay at max speed passes its event clock). */
    now?: () => Date;
  },
): Promise<EventBus> {
  const log = options.log ?? silentLogger;
  const buffer = DiskBuffer.open({
    path: bufferPath(config, options.producer),
    synchronous: config.buffer.synchronous,
    maxRows: config.buffer.maxRows,
    maxBytes: config.buffer.maxBytes,
    whenFull: config.buffer.whenFull,
    blockTimeoutMs: config.buffer.blockTimeoutMs,
    log,
    ...(options.registry ? { registry: options.registry } : {}),
  });
  const redis = options.redis ?? createRedis(config);
  redis.on('error', (err) => log.debug({ err: err.message }, 'redis connection error'));
  if (redis.status === 'wait') {
    redis.connect().catch((err) => log.warn({ err: err.message }, 'redis not reachable yet; publishes are buffered'));
  }
  const keys = createKeys(config.keyPrefix);
  const link = new RedisLink(redis, {
    halfOpenAfterMs: config.redis.breakerHalfOpenMs,
    log,
    ...(options.registry ? { registry: options.registry } : {}),
  });
  const publisher = new RedisPublisher({
    redis,
    link,
    keys,
    producer: options.producer,
    source: options.source,
    buffer,
    batchSize: config.publisher.batchSize,
    appendTimeoutMs: config.publisher.appendTimeoutMs,
    minReplicasAck: config.redis.minReplicasAck,
    waitTimeoutMs: config.redis.waitTimeoutMs,
    log,
    ...(options.registry ? { registry: options.registry } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
  const drainer = new Drainer({
    buffer,
    lanes: publisher,
    appender: publisher.appender,
    link,
    log,
    ...(options.registry ? { registry: options.registry } : {}),
  });
  drainer.start();
  // A healthy Redis should take the first publishes directly; an unreachable
  // one must not hold up start-up (publishes are buffered meanwhile).
  await link.waitUntilReady(options.connectWaitMs ?? DEFAULT_CONNECT_WAIT_MS);
  let closing: Promise<void> | undefined;
  return {
    keys,
    redis,
    link,
    buffer,
    publisher,
    drainer,
    close: () => {
      closing ??= (async () => {
        await publisher.close();
        await drainer.close();
        await buffer.close();
        await redis.quit().catch(() => redis.disconnect());
      })();
      return closing;
    },
  };
}
