/**
 * A year of 1-minute candles (issue 13: 525,600 rows must start replaying
 * within 2 s, and `main` stay under 300 MB). Writes a Binance kline file of
 * that size (µs times, as Binance's 2025 spot files) to a temp dir, then
 * measures, as figures, never as assertions:
 *
 * - parse: reading and parsing it in this process (`loadCsvSeries`), against
 *   the baseline of only reading the file and splitting it into lines;
 * - first tick: from spawning a real `main --actors=marketdata` replaying it
 *   to the first `market.tick` in Redis, against the same `main` on the
 *   synthetic feed (so start-up itself is the baseline);
 * - peak RSS: `main`'s VmHWM from /proc (Linux) once a second of replay has
 *   been published, against the synthetic `main`'s.
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCsvSeries } from '../src/actors/marketdata/csv-source.js';
import { freePortOffset, spawnMain } from '../test/support/main-process.js';
import { type BenchContext, type BenchResult, compare, now, progress, round, waitUntil } from './harness.js';

/** A year of one-minute candles. */
const ROWS = 525_600;
const MIN_US = 60_000_000;
/** Replay speed of the spawned main: an hour of candles a second. */
const SPEED = 3_600;

/** Writes `ROWS` Binance kline rows (a seeded random walk) to `path`. */
async function writeYear(path: string): Promise<void> {
  const out = createWriteStream(path);
  let price = 60_000;
  let seed = 7;
  const rand = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed / 2_147_483_648;
  };
  const start = Date.UTC(2025, 0, 1) * 1000;
  let chunk: string[] = [];
  for (let i = 0; i < ROWS; i++) {
    const open = price;
    price *= 1 + (rand() - 0.5) * 0.002;
    const high = Math.max(open, price) * (1 + rand() * 0.0005);
    const low = Math.min(open, price) * (1 - rand() * 0.0005);
    const volume = rand() * 50;
    const at = start + i * MIN_US;
    chunk.push(
      `${at},${open.toFixed(2)},${high.toFixed(2)},${low.toFixed(2)},${price.toFixed(2)},${volume.toFixed(5)},` +
        `${at + MIN_US - 1},${(volume * price).toFixed(5)},${i % 997},${(volume / 2).toFixed(5)},0,0\n`,
    );
    if (chunk.length === 10_000 || i === ROWS - 1) {
      if (!out.write(chunk.join(''))) await once(out, 'drain');
      chunk = [];
    }
  }
  out.end();
  await once(out, 'finish');
}

/** Peak and current resident set of a process, in MB (Linux /proc). */
async function memoryOf(pid: number): Promise<{ peakMb: number; rssMb: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { peakMb: round(kb('VmHWM') / 1024, 1), rssMb: round(kb('VmRSS') / 1024, 1) };
}

/** Spawns main on `env` and measures the time to its first market.tick and its memory a second later. */
async function startToFirstTick(bench: BenchContext, side: string, env: Record<string, string>, dataDir: string) {
  await bench.flush();
  const redis = await bench.connect(`${side}-reader`);
  const keys = bench.keys(side);
  const { host, port } = redis.options;
  const spawnedAt = now();
  const run = spawnMain(['--actors=marketdata'], {
    REDIS_URL: `redis://${host}:${port}`,
    QT_KEY_PREFIX: keys.prefix,
    QT_DATA_DIR: join(dataDir, side),
    QT_PRODUCER_ID: `bench-${side}`,
    QT_HTTP_PORT_OFFSET: String(await freePortOffset([port ?? 0])),
    QT_SUMMARY_INTERVAL_MS: '0',
    ...env,
  });
  try {
    await waitUntil(
      async () => (await redis.xlen(keys.stream('market'))) > 0 || run.child.exitCode !== null,
      `${side} first tick`,
      60_000,
    );
    if (run.child.exitCode !== null) throw new Error(`main (${side}) exited ${run.child.exitCode}:\n${run.out()}`);
    const firstTickMs = now() - spawnedAt;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const memory = await memoryOf(run.child.pid ?? 0);
    const ticks = await redis.xlen(keys.stream('market'));
    progress(
      `${side}: first tick after ${round(firstTickMs, 0)} ms, ${ticks} entries a second later, ${memory.peakMb} MB peak`,
    );
    return { firstTickMs, ...memory };
  } finally {
    run.child.kill('SIGTERM');
    await run.exit;
  }
}

export async function run(bench: BenchContext): Promise<BenchResult[]> {
  const dir = await mkdtemp(join(tmpdir(), 'qt-bench-csv-'));
  try {
    const file = join(dir, 'BTCUSDT-1m-2025.csv');
    await writeYear(file);
    progress(`wrote ${ROWS} rows to ${file}`);

    let started = now();
    const lines = (await readFile(file, 'utf8')).split('\n').length;
    const readMs = now() - started;
    started = now();
    const [series] = await loadCsvSeries({ csvPath: file, csvFiles: undefined, csvSymbol: undefined });
    const parseMs = now() - started;
    if (series?.length !== ROWS || lines !== ROWS + 1)
      throw new Error(`parsed ${series?.length} candles, ${lines} lines`);

    const synthetic = await startToFirstTick(bench, 'synthetic', {}, dir);
    const csv = await startToFirstTick(bench, 'csv', { QT_FEED_CSV: file, QT_FEED_CSV_SPEED: String(SPEED) }, dir);
    return [
      compare('csv-replay: parse a year of 1m candles', 'ms', round(parseMs, 0), {
        name: 'read the file and split its lines',
        value: round(readMs, 0),
      }),
      compare('csv-replay: main spawn to first tick', 'ms', round(csv.firstTickMs, 0), {
        name: 'main on the synthetic feed',
        value: round(synthetic.firstTickMs, 0),
      }),
      compare('csv-replay: main peak RSS (VmHWM)', 'MB', csv.peakMb, {
        name: 'main on the synthetic feed',
        value: synthetic.peakMb,
      }),
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
