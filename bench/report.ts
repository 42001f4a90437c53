/**
 * The bench report: the figures of several interleaved rounds folded into
 * one median per figure with its min and max, the machine it ran on, the
 * load during each round, and where the report is written
 * (`bench/results/latest.json` for a full run). The format is
 * {@link BenchReportSchema}, read back by the README renderer.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { type BenchResult, round } from './harness.js';

const SpreadSchema = z.object({ min: z.number(), max: z.number() });
/** A figure as reported: the median of its rounds, with their min and max. */
const FigureSchema = z.object({ name: z.string(), value: z.number(), spread: SpreadSchema });

/** One figure of the report: medians of every round, ratios of the medians. */
export const ReportedResultSchema = z.object({
  name: z.string(),
  /** Median over the rounds. */
  value: z.number(),
  unit: z.string(),
  spread: SpreadSchema,
  /** The value of each round, in round order. */
  runs: z.array(z.number()),
  baseline: FigureSchema,
  /** `value / baseline.value`, 2 decimals. */
  ratio: z.number(),
  /** The same work done by a peer library (BullMQ) in the same rounds; null where none applies. */
  peer: FigureSchema.nullable(),
  /** `value / peer.value`, 2 decimals; null without a peer. */
  peerRatio: z.number().nullable(),
});
export type ReportedResult = z.infer<typeof ReportedResultSchema>;

/** The machine's load averages (1, 5, 15 minutes) when a round started and when it ended. */
const RoundLoadSchema = z.object({
  round: z.number().int().positive(),
  start: z.array(z.number()).length(3),
  end: z.array(z.number()).length(3),
});

/** Where and when a report was measured, so two reports can be compared fairly. */
export const BenchMetaSchema = z.object({
  node: z.string(),
  redis: z.string(),
  cpu: z.string(),
  cores: z.number().int().positive(),
  /** Versions of the peer libraries measured beside the bus, e.g. `{ "bullmq": "6.7.0" }`. */
  peers: z.record(z.string(), z.string()),
  /** When the first round started (ISO time). */
  date: z.string(),
  rounds: z.number().int().positive(),
  /** The benchmarks run, in run order: every one unless the run named some. */
  benchmarks: z.array(z.string()),
  /** A busy machine makes every figure noisier: the load around each round. */
  load: z.array(RoundLoadSchema),
});
export type BenchMeta = z.infer<typeof BenchMetaSchema>;

/** What `bench/results/latest.json` holds. */
export const BenchReportSchema = z.object({ results: z.array(ReportedResultSchema), meta: BenchMetaSchema });
export type BenchReport = z.infer<typeof BenchReportSchema>;

/** The machine's load averages now, 2 decimals. */
export function currentLoad(): number[] {
  return loadavg().map((x) => round(x, 2));
}

/** Reads node, redis and machine details for the report; the load is filled in round by round. */
export async function collectMeta(
  redis: Redis,
  run: { readonly rounds: number; readonly benchmarks: readonly string[] },
): Promise<BenchMeta> {
  const info = await redis.info('server');
  return {
    node: process.version,
    redis: /^redis_version:(.*?)\r?$/m.exec(info)?.[1] ?? 'unknown',
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: availableParallelism(),
    peers: { bullmq: packageVersion('bullmq') },
    date: new Date().toISOString(),
    rounds: run.rounds,
    benchmarks: [...run.benchmarks],
    load: [],
  };
}

/** The installed version of a dependency. */
function packageVersion(name: string): string {
  const manifest = createRequire(import.meta.url)(`${name}/package.json`) as { version?: unknown };
  return String(manifest.version ?? 'unknown');
}

/** Median of `xs` (mean of the middle two for an even count), as precise as the samples. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error('bench: median of no samples');
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const m =
    sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  return xs.every(Number.isInteger) ? Math.round(m) : round(m, 3);
}

function figure(name: string, values: readonly number[]): z.infer<typeof FigureSchema> {
  return { name, value: median(values), spread: { min: Math.min(...values), max: Math.max(...values) } };
}

/**
 * Folds the rounds (each a list of results, the same figures in each) into
 * one result per figure: the medians of value, baseline and peer, their
 * min and max, and the ratios of the medians. Figures keep the order of the
 * first round. Throws when a round lacks a figure or names its baseline or
 * peer differently: medians of different things would be meaningless.
 */
export function aggregateRounds(rounds: readonly (readonly BenchResult[])[]): ReportedResult[] {
  const [first] = rounds;
  if (first === undefined) return [];
  return first.map((model) => {
    const all = rounds.map((results, i) => {
      const r = results.find((x) => x.name === model.name);
      if (r === undefined) throw new Error(`bench: round ${i + 1} has no figure ${model.name}`);
      if (r.unit !== model.unit || r.baseline.name !== model.baseline.name || r.peer?.name !== model.peer?.name) {
        throw new Error(`bench: figure ${model.name} differs between rounds 1 and ${i + 1}`);
      }
      return r;
    });
    const values = all.map((r) => r.value);
    const value = median(values);
    const baseline = figure(
      model.baseline.name,
      all.map((r) => r.baseline.value),
    );
    const peer =
      model.peer &&
      figure(
        model.peer.name,
        all.map((r) => r.peer?.value ?? Number.NaN),
      );
    return {
      name: model.name,
      value,
      unit: model.unit,
      spread: { min: Math.min(...values), max: Math.max(...values) },
      runs: values,
      baseline,
      ratio: round(value / baseline.value, 2),
      peer: peer ?? null,
      peerRatio: peer ? round(value / peer.value, 2) : null,
    };
  });
}

/** The results as an aligned text table, one row per figure: median, min–max, baseline, peer and ratios. */
export function formatTable(results: readonly ReportedResult[]): string {
  const header = ['benchmark', 'median', 'min–max', 'unit', 'baseline', 'median', 'ratio', 'peer', 'median', 'ratio'];
  const rows = results.map((r) => [
    r.name,
    formatNumber(r.value),
    `${formatNumber(r.spread.min)}–${formatNumber(r.spread.max)}`,
    r.unit,
    r.baseline.name,
    formatNumber(r.baseline.value),
    r.ratio.toFixed(2),
    r.peer?.name ?? '–',
    r.peer ? formatNumber(r.peer.value) : '–',
    r.peerRatio === null ? '–' : r.peerRatio.toFixed(2),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] as string).length)));
  // Text columns left-aligned, numbers right-aligned.
  const numeric = new Set([1, 2, 5, 6, 8, 9]);
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

/** `bench/results/<file>` of the package: the same from `bench/` and `dist/bench/`. */
export function resultsPath(file: string): string {
  return join(packageRoot(), 'bench', 'results', file);
}

/** The report of a full run. */
export const LATEST_REPORT = 'latest.json';
/** The report of a run that named some benchmarks: never mistaken for a full run's. */
export const SUBSET_REPORT = 'subset.json';

/** Writes the report as JSON to `bench/results/<file>`; returns the path. */
export async function writeReport(report: BenchReport, file: string): Promise<string> {
  const path = resultsPath(file);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(report, null, 2)}\n`);
  return path;
}

/** Reads and validates a report written by {@link writeReport}. */
export async function readReport(path: string): Promise<BenchReport> {
  const text = await readFile(path, 'utf8');
  const parsed = BenchReportSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error(`${path} is not a bench report: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** The directory of the nearest package.json above this file. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('bench: no package.json above the bench directory');
    dir = parent;
  }
  return dir;
}
