/**
 * Benchmarks, their context and the measuring helpers they share. The runner
 * (bench/run.ts) runs them; bench/report.ts turns the rounds into the report.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis, RedisOptions } from 'ioredis';
import { createKeys, type Keys } from '../src/streams/keys.js';
import type { RedisServer } from '../test/support/redis-fixture.js';

/** A figure measured on a named side of the same run: the raw-ioredis baseline or a peer such as BullMQ. */
export interface Figure {
  readonly name: string;
  readonly value: number;
}

/**
 * One figure of a benchmark in one round, next to the raw-ioredis baseline
 * measured in the same run against the same server, and, where one applies,
 * the same work done by a peer library (BullMQ). `ratio` is
 * `value / baseline.value` and `peerRatio` is `value / peer.value`: above 1
 * means slower for a latency and faster for a throughput.
 */
export interface BenchResult {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly baseline: Figure;
  readonly ratio: number;
  readonly peer?: Figure;
  readonly peerRatio?: number;
}

/** What a benchmark gets from the runner: its own connections and keys on the bench server. */
export interface BenchContext {
  /** Name of the benchmark (its file name without extension). */
  readonly name: string;
  /**
   * Opens a new connection for one role (publisher, consumer, ...), named
   * `bench:<role>` in CLIENT LIST, and resolves once it answers PING so that
   * connecting never lands inside a timing. The runner closes it afterwards.
   * `options` go to ioredis (BullMQ needs `maxRetriesPerRequest: null`).
   */
  connect(role: string, options?: RedisOptions): Promise<Redis>;
  /** `FLUSHALL SYNC` on the bench server, so the next measurement starts on an empty keyspace. */
  flush(): Promise<void>;
  /** Keys under a prefix owned by this benchmark and `side` (e.g. `bus`, `raw`). */
  keys(side: string): Keys;
}

/** A benchmark: runs against the context and returns its figures, each with a baseline. */
export type Benchmark = (bench: BenchContext) => Promise<BenchResult[]>;

/** A benchmark's own context plus the runner's clean-up. */
export interface OwnedBenchContext extends BenchContext {
  /** Disconnects every connection the benchmark opened. */
  close(): void;
}

/** Builds the context of one benchmark on `server` (a server started by the runner, never the machine's). */
export function createBenchContext(server: RedisServer, name: string): OwnedBenchContext {
  const connections = new Set<Redis>();
  const connect = async (role: string, options: RedisOptions = {}): Promise<Redis> => {
    const redis = server.client({ ...options, connectionName: `bench:${role}` });
    connections.add(redis);
    await redis.ping();
    return redis;
  };
  return {
    name,
    connect,
    flush: async () => {
      const admin = await connect('admin');
      try {
        await admin.flushall('SYNC');
      } finally {
        connections.delete(admin);
        admin.disconnect();
      }
    },
    keys: (side) => createKeys(`bench.${name}.${side}`),
    close: () => {
      for (const redis of connections) redis.disconnect();
      connections.clear();
    },
  };
}

/** Builds a result; the ratios are rounded to 2 decimals as the report format requires. */
export function compare(name: string, unit: string, value: number, baseline: Figure, peer?: Figure): BenchResult {
  const result = { name, value, unit, baseline, ratio: round(value / baseline.value, 2) };
  return peer === undefined ? result : { ...result, peer, peerRatio: round(value / peer.value, 2) };
}

/** `x` rounded to `digits` decimals. */
export function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Nearest-rank percentile (`p` in 0..100) of samples sorted ascending; exact, no bucketing. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) throw new Error('percentile of no samples');
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

/** Events per second for `count` events in `ms` milliseconds, rounded to a whole event. */
export function perSecond(count: number, ms: number): number {
  return Math.round((count * 1000) / ms);
}

/** Milliseconds on a monotonic clock with sub-millisecond resolution. */
export function now(): number {
  return performance.now();
}

/** Resolves with `promise`, or rejects once `ms` have passed: no benchmark waits unboundedly. */
export async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`bench: timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `condition` every `everyMs` until it holds; rejects after `timeoutMs`. */
export async function waitUntil(
  condition: () => Promise<boolean>,
  what: string,
  timeoutMs: number,
  everyMs = 2,
): Promise<void> {
  const deadline = now() + timeoutMs;
  while (!(await condition())) {
    if (now() > deadline) throw new Error(`bench: timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Prints progress on stderr, keeping stdout for the table and the JSON. */
export function progress(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}
