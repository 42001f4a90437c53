/**
 * `npm run bench:profile -- NAME [--top N]`: runs one benchmark of
 * `npm run bench` (one round) under V8's sampling profiler and prints where
 * the main thread spent its time: by area (the project's folders, each
 * dependency, garbage collection, idle) and the top functions by self time.
 * The `.cpuprofile` is kept (its path is printed): open it in Chrome
 * DevTools (Performance → Load profile) or speedscope for a flame graph.
 * docs/performance.md lists what these profiles showed.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The parts of a `.cpuprofile` read here (Chrome DevTools protocol, Profiler.Profile). */
interface CpuProfile {
  readonly nodes: readonly {
    readonly id: number;
    readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  }[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** Self time per key, in microseconds, and the total. */
export interface SelfTimes {
  readonly byKey: Map<string, number>;
  readonly totalUs: number;
}

/** Sums the self time of every sample under `keyOf(callFrame)`. */
export function selfTimes(
  profile: CpuProfile,
  keyOf: (frame: CpuProfile['nodes'][number]['callFrame']) => string,
): SelfTimes {
  const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const byKey = new Map<string, number>();
  let totalUs = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    const frame = frames.get(id);
    if (!frame) return;
    totalUs += us;
    const key = keyOf(frame);
    byKey.set(key, (byKey.get(key) ?? 0) + us);
  });
  return { byKey, totalUs };
}

/** The area a frame belongs to: a dependency's name, the project folder (`src/streams`), or V8's own buckets. */
export function areaOf(frame: { readonly functionName: string; readonly url: string }): string {
  if (frame.url === '') return frame.functionName.startsWith('(') ? frame.functionName : 'native';
  const dep = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(frame.url);
  if (dep) return dep[1] as string;
  const own = /\/((?:src|bench|test|scripts)\/[^/]+)/.exec(frame.url);
  if (own) return (own[1] as string).replace(/\.ts$/, '');
  return frame.url.startsWith('node:') ? 'node' : 'other';
}

function functionOf(frame: {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}): string {
  const where = frame.url
    .replace(/.*node_modules\//, '')
    .replace(/^file:\/\/.*?\/((?:src|bench|test|scripts)\/)/, '$1');
  return `${frame.functionName || '(anonymous)'}${where ? ` ${where}:${frame.lineNumber + 1}` : ''}`;
}

function table(times: SelfTimes, top: number): string {
  return [...times.byKey.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(
      ([key, us]) =>
        `${(us / 1000).toFixed(0).padStart(7)} ms ${((100 * us) / times.totalUs).toFixed(1).padStart(5)} %  ${key}`,
    )
    .join('\n');
}

function usage(message: string): never {
  process.stderr.write(`bench:profile: ${message}\nusage: npm run bench:profile -- NAME [--top N]\n`);
  process.exit(2);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const name = args.find((a) => !a.startsWith('--'));
  const topAt = args.indexOf('--top');
  const top = topAt >= 0 ? Number(args[topAt + 1]) : 25;
  if (!name) usage('name one benchmark (see bench/run.ts)');
  if (!Number.isInteger(top) || top <= 0) usage('--top takes a positive whole number');
  const dir = mkdtempSync(join(tmpdir(), 'qt-bench-profile-'));
  const run = spawnSync(
    process.execPath,
    ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--import=tsx', 'bench/run.ts', name, '--rounds', '1'],
    { stdio: ['ignore', 'ignore', 'inherit'], cwd: fileURLToPath(new URL('..', import.meta.url)) },
  );
  if (run.status !== 0) usage(`the benchmark failed (exit ${run.status})`);
  // The main thread writes the largest profile (the loader thread's is small).
  const [file] = readdirSync(dir)
    .map((f) => join(dir, f))
    .sort((a, b) => statSync(b).size - statSync(a).size);
  if (!file) usage('no profile was written');
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byArea = selfTimes(profile, areaOf);
  console.log(`profile: ${file} (${(byArea.totalUs / 1000).toFixed(0)} ms sampled)\n\nby area\n${table(byArea, top)}`);
  console.log(`\ntop functions by self time\n${table(selfTimes(profile, functionOf), top)}`);
}
