import { type RedisServer, startRedis } from '../test/support/redis-fixture.js';
import {
  type Benchmark,
  type BenchResult,
  collectMeta,
  createBenchContext,
  formatTable,
  progress,
  writeReport,
} from './harness.js';

/**
 * `npm run bench`: starts a private `redis-server`, runs every benchmark in
 * {@link BENCHMARKS} against it in order, prints a table and the JSON report,
 * writes the report to `bench/results/latest.json`, and stops the server
 * (also on error or Ctrl-C). It never touches any other Redis.
 */

/** A benchmark file: its name (for progress and key prefixes) and how to load its `run`. */
interface BenchmarkFile {
  readonly name: string;
  readonly load: () => Promise<{ readonly run: Benchmark }>;
}

/** The benchmarks, in run order. Adding one is adding its line here. */
const BENCHMARKS: readonly BenchmarkFile[] = [
  { name: 'publish-latency', load: () => import('./publish-latency.js') },
  { name: 'publish-throughput', load: () => import('./publish-throughput.js') },
  { name: 'e2e-throughput', load: () => import('./e2e-throughput.js') },
  { name: 'failover', load: () => import('./failover.js') },
  { name: 'disk-buffer', load: () => import('./disk-buffer.js') },
  { name: 'ess-trip', load: () => import('./ess-trip.js') },
  { name: 'csv-replay', load: () => import('./csv-replay.js') },
];

// A container's port mapping would put its proxy into every figure: use a local server unless told otherwise.
process.env.QT_TEST_REDIS ??= 'local';

let server: RedisServer | undefined;

for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  process.once(signal, () => {
    progress(`${signal}: stopping the bench server`);
    void (server?.stop() ?? Promise.resolve()).finally(() => process.exit(code));
  });
}

try {
  server = await startRedis({ name: 'bench' });
  const admin = server.client({ connectionName: 'bench:meta' });
  const meta = await collectMeta(admin);
  admin.disconnect();
  progress(`redis ${meta.redis} on ${server.url}; node ${meta.node}; ${meta.cores} × ${meta.cpu}`);

  const results: BenchResult[] = [];
  // `npm run bench -- disk-buffer failover` runs only the named ones.
  const only = process.argv.slice(2);
  const unknown = only.filter((n) => !BENCHMARKS.some((b) => b.name === n));
  if (unknown.length > 0) {
    throw new Error(`unknown benchmark(s): ${unknown.join(', ')}; known: ${BENCHMARKS.map((b) => b.name).join(', ')}`);
  }
  for (const file of BENCHMARKS.filter((b) => only.length === 0 || only.includes(b.name))) {
    progress(`${file.name} …`);
    const { run } = await file.load();
    const bench = createBenchContext(server, file.name);
    try {
      results.push(...(await run(bench)));
    } finally {
      bench.close();
    }
  }

  const report = { results, meta };
  const path = await writeReport(report);
  console.log(formatTable(results));
  console.log();
  console.log(JSON.stringify(report, null, 2));
  progress(`wrote ${path}`);
} catch (error) {
  console.error('bench failed:', error);
  process.exitCode = 1;
} finally {
  await server?.stop();
}
