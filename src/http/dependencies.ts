import type { EventBus } from '../streams/event-bus.js';
import type { DependencyHealth } from './health.js';

/** Latency above which Redis counts as slow (docs/architecture.md §12). */
export const REDIS_SLOW_MS = 100;

/**
 * The dependencies every service shares: Redis (critical; DOWN when it does
 * not answer, DEGRADED when slow or when the circuit breaker is not closed)
 * and the disk buffer (DEGRADED while it holds events not yet in Redis).
 */
export async function busDependencies(bus: EventBus): Promise<Record<string, DependencyHealth>> {
  const redis = await bus.link.healthCheck();
  const rows = bus.buffer.stats().rows;
  return {
    redis: {
      status:
        redis.status === 'DOWN'
          ? 'DOWN'
          : (redis.latencyMs ?? 0) > REDIS_SLOW_MS || redis.breaker !== 'closed'
            ? 'DEGRADED'
            : 'OK',
      latency_ms: redis.latencyMs ?? null,
      critical: true,
      ...(redis.error ? { error: redis.error } : {}),
    },
    disk_buffer: {
      status: rows > 0 ? 'DEGRADED' : 'OK',
      latency_ms: null,
      critical: false,
      ...(rows > 0 ? { error: `${rows} events waiting for Redis` } : {}),
    },
  };
}
