import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { createKeys, type Keys } from '../src/streams/keys.js';
import type { RedisServer } from '../test/support/redis-fixture.js';

/**
 * One figure of a benchmark next to the raw-ioredis baseline measured in the
 * same run against the same server. `ratio` is `value / baseline.value`: above
 * 1 means slower for a latency and faster for a throughput.
 */
export interface BenchResult {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly baseline: { readonly name: string; readonly value: number };
  readonly ratio: number;
}

/** What `bench/results/latest.json` holds. */
export interface BenchReport {
  readonly results: readonly BenchResult[];
  readonly meta: BenchMeta;
}

/** Where and when a report was measured, so two reports can be compared fairly. */
export interface BenchMeta {
  readonly node: string;
  readonly redis: string;
  readonly cpu: string;
  readonly cores: number;
  /** 1-minute load average when the run started: a busy machine makes every figure noisier. */
  readonly loadavg1m: number;
  readonly date: string;
}

/** What a benchmark gets from the runner: its own connections and keys on the bench server. */
export interface BenchContext {
  /** Name of the benchmark (its file name without extension). */
  readonly name: string;
  /**
   * Opens a new connection for one role (publisher, consumer, ...), named
   * `bench:<role>` in CLIENT LIST, and resolves once it answers PING so that
   * connecting never lands inside a timing. The runner closes it afterwards.
   */
  connect(role: string): Promise<Redis>;
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
  const connect = async (role: string): Promise<Redis> => {
    const redis = server.client({ connectionName: `bench:${role}` });
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

/** Builds a result; the ratio is rounded to 2 decimals as the report format requires. */
export function compare(
  name: string,
  unit: string,
  value: number,
  baseline: { readonly name: string; readonly value: number },
): BenchResult {
  return { name, value, unit, baseline, ratio: round(value / baseline.value, 2) };
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

/** Reads node, redis and machine details for the report. */
export async function collectMeta(redis: Redis): Promise<BenchMeta> {
  const info = await redis.info('server');
  return {
    node: process.version,
    redis: /^redis_version:(.*?)\r?$/m.exec(info)?.[1] ?? 'unknown',
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: availableParallelism(),
    loadavg1m: round(loadavg()[0] ?? 0, 2),
    date: new Date().toISOString(),
  };
}

/** The results as an aligned text table, one row per figure. */
export function formatTable(results: readonly BenchResult[]): string {
  const header = ['benchmark', 'value', 'unit', 'baseline', 'baseline value', 'ratio'];
  const rows = results.map((r) => [
    r.name,
    formatNumber(r.value),
    r.unit,
    r.baseline.name,
    formatNumber(r.baseline.value),
    r.ratio.toFixed(2),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] as string).length)));
  // Text columns left-aligned, numbers right-aligned.
  const numeric = new Set([1, 4, 5]);
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (numeric.has(i) ? c.padStart(widths[i] as number) : c.padEnd(widths[i] as number)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function formatNumber(x: number): string {
  return Number.isInteger(x) ? x.toLocaleString('en-US') : x.toFixed(3);
}

/** Writes the report as JSON to `bench/results/latest.json` of the package; returns the path. */
export async function writeReport(report: BenchReport): Promise<string> {
  const file = join(packageRoot(), 'bench', 'results', 'latest.json');
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
  return file;
}

/** The directory of the nearest package.json above this file: the same from `bench/` and `dist/bench/`. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('bench: no package.json above the bench directory');
    dir = parent;
  }
  return dir;
}
