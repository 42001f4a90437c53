import {
  BrokenCircuitError,
  type CircuitBreakerPolicy,
  CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  handleWhen,
} from 'cockatiel';
import type { Redis } from 'ioredis';
import { Counter, Gauge, Registry } from 'prom-client';
import { isQtError } from '../errors.js';
import { type Logger, silentLogger } from '../log.js';
import { perRegistry } from '../metrics.js';

/** Consecutive failures that open the circuit (docs/architecture.md §7.3). */
export const DEFAULT_BREAKER_THRESHOLD = 3;
/** How long the circuit stays open before one trial call (docs/architecture.md §7.3). */
export const DEFAULT_HALF_OPEN_AFTER_MS = 60_000;

/** What `healthCheck()` reports about Redis (docs/architecture.md §7.6, §12). */
export interface RedisHealth {
  readonly status: 'OK' | 'DEGRADED' | 'DOWN';
  readonly latencyMs: number | undefined;
  readonly version: string | undefined;
  readonly uptimeSeconds: number | undefined;
  readonly connectedClients: number | undefined;
  readonly usedMemoryBytes: number | undefined;
  readonly role: string | undefined;
  readonly breaker: 'closed' | 'open' | 'half-open';
  readonly error?: string;
}

/** Settings of {@link RedisLink}. */
export interface RedisLinkOptions {
  readonly breakerThreshold?: number;
  readonly halfOpenAfterMs?: number;
  /** Latency above this makes healthCheck() DEGRADED (docs/architecture.md §12: 100 ms for Redis). */
  readonly slowMs?: number;
  readonly log?: Logger;
  readonly registry?: Registry;
}

const STATE_VALUE: Record<CircuitState, number> = {
  [CircuitState.Closed]: 0,
  [CircuitState.HalfOpen]: 1,
  [CircuitState.Open]: 2,
  [CircuitState.Isolated]: 2,
};

const linkMetrics = perRegistry((registry) => {
  return {
    reconnects: new Counter({
      name: 'redis_reconnects_total',
      help: 'Redis reconnect attempts',
      registers: [registry],
    }),
    breaker: new Gauge({
      name: 'redis_circuit_breaker_state',
      help: 'Redis circuit breaker: 0 closed, 1 half-open, 2 open',
      registers: [registry],
    }),
  };
});

/**
 * A Redis command connection with a circuit breaker in front of it. Calls go
 * through `execute()`: after `breakerThreshold` consecutive failures the
 * circuit opens and calls fail at once with `BrokenCircuitError` (the
 * publisher then writes to the disk buffer without waiting on Redis); after
 * `halfOpenAfterMs` one trial call is let through. Coded `QtError`s (a
 * refused batch, say) are answers from Redis, not failures, and do not count.
 */
export class RedisLink {
  readonly redis: Redis;
  readonly #breaker: CircuitBreakerPolicy;
  readonly #slowMs: number;
  readonly #halfOpenAfterMs: number;
  readonly #log: Logger;
  readonly #listeners = new Set<() => void>();
  #openedAt = 0;
  #trialTimer: NodeJS.Timeout | undefined;

  constructor(redis: Redis, options: RedisLinkOptions = {}) {
    this.redis = redis;
    this.#slowMs = options.slowMs ?? 100;
    this.#log = options.log ?? silentLogger;
    const metrics = linkMetrics(options.registry ?? new Registry());
    this.#halfOpenAfterMs = options.halfOpenAfterMs ?? DEFAULT_HALF_OPEN_AFTER_MS;
    this.#breaker = circuitBreaker(
      handleWhen((err) => !isQtError(err) && !isNotConnectedError(err)),
      {
        halfOpenAfter: this.#halfOpenAfterMs,
        breaker: new ConsecutiveBreaker(options.breakerThreshold ?? DEFAULT_BREAKER_THRESHOLD),
      },
    );
    this.#breaker.onStateChange((state) => {
      metrics.breaker.set(STATE_VALUE[state]);
      this.#log.warn({ state: CircuitState[state] }, 'redis circuit breaker changed state');
      clearTimeout(this.#trialTimer);
      if (state === CircuitState.Open) {
        // cockatiel half-opens lazily, inside the next execute(). Callers
        // that skip Redis while the circuit is open would never make that
        // call, so wake them when a trial is due.
        this.#openedAt = Date.now();
        this.#trialTimer = setTimeout(() => this.#notify(), this.#halfOpenAfterMs);
        this.#trialTimer.unref();
      } else {
        this.#notify();
      }
    });
    redis.on('reconnecting', () => metrics.reconnects.inc());
    redis.on('ready', () => this.#notify());
  }

  /**
   * True while the circuit is open and no trial call is due yet: a call now
   * would fail at once. Once `halfOpenAfterMs` has passed this is false, so
   * the next caller makes the trial call.
   */
  get circuitOpen(): boolean {
    const s = this.#breaker.state;
    if (s === CircuitState.Isolated) return true;
    return s === CircuitState.Open && Date.now() - this.#openedAt < this.#halfOpenAfterMs;
  }

  /** True when the connection is up; while it is not, callers go to the buffer without trying. */
  get ready(): boolean {
    return this.redis.status === 'ready';
  }

  /** Resolves once the connection is ready, or after `timeoutMs` (false then). */
  async waitUntilReady(timeoutMs: number): Promise<boolean> {
    if (this.ready) return true;
    return new Promise<boolean>((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.redis.off('ready', onReady);
        resolve(ok);
      };
      const onReady = () => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.redis.on('ready', onReady);
    });
  }

  /** The breaker state as a word, for health output. */
  get breakerState(): RedisHealth['breaker'] {
    const s = this.#breaker.state;
    return s === CircuitState.Closed ? 'closed' : s === CircuitState.HalfOpen ? 'half-open' : 'open';
  }

  /** Runs a Redis call through the circuit breaker. */
  execute<T>(fn: () => Promise<T>): Promise<T> {
    return this.#breaker.execute(fn);
  }

  /**
   * Calls `listener` whenever Redis may have become usable again (the
   * connection is ready, the circuit half-opens or closes). Returns an
   * unsubscribe function.
   */
  onAvailable(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #notify(): void {
    for (const l of this.#listeners) l();
  }

  /** Latency, version, uptime, clients, memory, role and breaker state (never throws). */
  async healthCheck(): Promise<RedisHealth> {
    const breaker = this.breakerState;
    const started = performance.now();
    try {
      await this.redis.ping();
      const latencyMs = performance.now() - started;
      const info = parseInfo(await this.redis.info());
      const role = (await this.redis.role()) as unknown[];
      return {
        status: breaker !== 'closed' || latencyMs > this.#slowMs ? 'DEGRADED' : 'OK',
        latencyMs: Math.round(latencyMs * 1000) / 1000,
        version: info.redis_version,
        uptimeSeconds: numberOrUndefined(info.uptime_in_seconds),
        connectedClients: numberOrUndefined(info.connected_clients),
        usedMemoryBytes: numberOrUndefined(info.used_memory),
        role: typeof role[0] === 'string' ? role[0] : info.role,
        breaker,
      };
    } catch (err) {
      return {
        status: 'DOWN',
        latencyMs: undefined,
        version: undefined,
        uptimeSeconds: undefined,
        connectedClients: undefined,
        usedMemoryBytes: undefined,
        role: undefined,
        breaker,
        error: err instanceof BrokenCircuitError ? 'circuit open' : (err as Error).message,
      };
    }
  }
}

/**
 * A command refused before it was sent because the connection is not up
 * (offline queue disabled). Not a Redis failure: connection status already
 * says Redis is unreachable, and counting these would open the circuit while
 * a healthy Redis is merely still connecting.
 */
export function isNotConnectedError(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith("Stream isn't writeable");
}

function numberOrUndefined(v: string | undefined): number | undefined {
  return v === undefined || v === '' || Number.isNaN(Number(v)) ? undefined : Number(v);
}

/** Parses the text of INFO into `field → value`. */
export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}
