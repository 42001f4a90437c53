/**
 * `npm run bench [-- NAME...] [--rounds N]`: starts a private `redis-server`,
 * runs the benchmarks of {@link BENCHMARKS} against it in interleaved rounds
 * (every benchmark once, then again, N times, default 3, so a load spike
 * spoils each figure at most once), and reports each figure's median with
 * its min and max (bench/report.ts). Prints the table and the JSON report,
 * writes it to `bench/results/latest.json` (a run naming some benchmarks
 * writes `bench/results/subset.json` instead, so the full run's file stays
 * whole), and stops the server, also on error or Ctrl-C. It never touches
 * any other Redis. `npm run bench:readme` puts latest.json into the README.
 */
import { parseArgs } from 'node:util';
import { type RedisServer, startRedis } from '../test/support/redis-fixture.js';
import { type Benchmark, type BenchResult, createBenchContext, progress } from './harness.js';
import {
  aggregateRounds,
  collectMeta,
  currentLoad,
  formatTable,
  LATEST_REPORT,
  SUBSET_REPORT,
  writeReport,
} from './report.js';

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

const DEFAULT_ROUNDS = 3;
const MAX_ROUNDS = 20;
const USAGE = `usage: npm run bench [-- NAME... ] [--rounds N]   (N: 1..${MAX_ROUNDS}, default ${DEFAULT_ROUNDS})
benchmarks: ${BENCHMARKS.map((b) => b.name).join(', ')}`;

/** A mistake on the command line: printed with the usage, exit 2, no stack trace. */
class UsageError extends Error {}

const OPTIONS = { rounds: { type: 'string' }, help: { type: 'boolean' } } as const;

function parseOrUsage(argv: readonly string[]) {
  try {
    return parseArgs({ args: [...argv], allowPositionals: true, options: OPTIONS });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** The benchmarks to run and how many rounds, from the command line. */
function parseCommandLine(argv: readonly string[]): { files: BenchmarkFile[]; rounds: number; subset: boolean } {
  const parsed = parseOrUsage(argv);
  if (parsed.values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const text = parsed.values.rounds ?? String(DEFAULT_ROUNDS);
  const rounds = Number(text);
  if (!/^\d+$/.test(text) || rounds < 1 || rounds > MAX_ROUNDS) {
    throw new UsageError(`--rounds must be a whole number from 1 to ${MAX_ROUNDS}, got ${JSON.stringify(text)}`);
  }
  const only = parsed.positionals;
  const unknown = only.filter((n) => !BENCHMARKS.some((b) => b.name === n));
  if (unknown.length > 0) throw new UsageError(`unknown benchmark(s): ${unknown.join(', ')}`);
  const files = BENCHMARKS.filter((b) => only.length === 0 || only.includes(b.name));
  return { files, rounds, subset: files.length < BENCHMARKS.length };
}

async function runRound(server: RedisServer, files: readonly BenchmarkFile[]): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  for (const file of files) {
    progress(`${file.name} …`);
    const { run } = await file.load();
    const bench = createBenchContext(server, file.name);
    try {
      results.push(...(await run(bench)));
    } finally {
      bench.close();
    }
  }
  return results;
}

async function main(): Promise<void> {
  const { files, rounds, subset } = parseCommandLine(process.argv.slice(2));
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
    const meta = await collectMeta(admin, { rounds, benchmarks: files.map((f) => f.name) });
    admin.disconnect();
    progress(`redis ${meta.redis} on ${server.url}; node ${meta.node}; ${meta.cores} × ${meta.cpu}`);

    const perRound: BenchResult[][] = [];
    for (let round = 1; round <= rounds; round++) {
      const start = currentLoad();
      progress(`round ${round} of ${rounds}, load ${start.join(' ')}`);
      perRound.push(await runRound(server, files));
      meta.load.push({ round, start, end: currentLoad() });
    }

    const report = { results: aggregateRounds(perRound), meta };
    const path = await writeReport(report, subset ? SUBSET_REPORT : LATEST_REPORT);
    console.log(formatTable(report.results));
    console.log();
    console.log(JSON.stringify(report, null, 2));
    progress(
      `medians of ${rounds} round(s); load per round ${meta.load.map((l) => `${l.start[0]}→${l.end[0]}`).join(', ')}`,
    );
    progress(`wrote ${path}${subset ? '' : '; npm run bench:readme puts it into the README'}`);
  } finally {
    await server?.stop();
  }
}

try {
  await main();
} catch (error) {
  if (error instanceof UsageError) {
    console.error(`bench: ${error.message}\n${USAGE}`);
    process.exitCode = 2;
  } else {
    console.error('bench failed:', error);
    process.exitCode = 1;
  }
}
