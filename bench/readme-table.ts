/**
 * The README's benchmark table, rendered from a bench report
 * (`bench/results/latest.json`): each figure's median with its min and max,
 * the raw-ioredis baseline and the BullMQ peer of the same run with their
 * ratios, and each target checked against the medians, so what the README
 * claims is what the file says. `npm run bench:readme` (bench/readme.ts)
 * writes it between {@link TABLE_START} and {@link TABLE_END};
 * test/bench/readme-table.test.ts fails when the two differ.
 */
import type { BenchReport, ReportedResult } from './report.js';

/** The line before the generated part of the README. */
export const TABLE_START = '<!-- bench table: written by npm run bench:readme from bench/results/latest.json -->';
/** The line after it. */
export const TABLE_END = '<!-- end of bench table -->';

/** A target a figure is checked against: its median value, or its ratio to the baseline or the peer. */
interface Target {
  readonly on: 'value' | 'ratio' | 'peerRatio';
  readonly op: '<' | '≤' | '≥';
  readonly bound: number;
}

/** How a figure reads in the table. */
interface Row {
  readonly label: string;
  /** What the raw baseline does, after its value. */
  readonly baseline: string;
  /** What the peer does, after its value. */
  readonly peer?: string;
  /** docs/architecture.md §15's absolute targets and the ratio targets of the performance work. */
  readonly targets?: readonly Target[];
}

const ms = (bound: number, op: Target['op'] = '<'): Target => ({ on: 'value', op, bound });
const perSecond = (bound: number): Target => ({ on: 'value', op: '≥', bound });
const ratio = (op: Target['op'], bound: number): Target => ({ on: 'ratio', op, bound });

/** The figures of the table, in the report's order; names not listed here show as they are. */
const ROWS: Readonly<Record<string, Row>> = {
  'publish.latency.p50': { label: 'publish latency p50 at 1k/s', baseline: 'serial XADD', peer: '`Queue.add`' },
  'publish.latency.p99': {
    label: 'publish latency p99 at 1k/s',
    baseline: 'serial XADD',
    peer: '`Queue.add`',
    targets: [ms(1), ratio('≤', 1.5)],
  },
  'publish.throughput.batched': {
    label: 'batched publish throughput',
    baseline: 'pipelined XADD',
    peer: '`Queue.addBulk`',
    targets: [perSecond(150_000), ratio('≥', 1)],
  },
  'e2e.throughput': {
    label: 'end to end (publish → group → handler → ack)',
    baseline: 'XADD + XREADGROUP + XACK',
    peer: 'Worker, concurrency 50',
    targets: [perSecond(80_000), ratio('≥', 0.8), { on: 'peerRatio', op: '≥', bound: 5 }],
  },
  'buffer.append.latency.p50': {
    label: 'disk buffer append p50 at 50k/s (`synchronous=FULL`)',
    baseline: 'XADD at the same rate',
  },
  'buffer.append.latency.p99': {
    label: 'disk buffer append p99 at 50k/s (`synchronous=FULL`)',
    baseline: 'XADD at the same rate',
    targets: [ms(5)],
  },
  'buffer.append.throughput': {
    label: 'disk buffer append throughput',
    baseline: 'pipelined XADD',
    targets: [perSecond(50_000)],
  },
  'buffer.replay.throughput': {
    label: 'disk buffer replay',
    baseline: 'pipelined XADD',
    targets: [perSecond(100_000), ratio('≥', 0.8)],
  },
  'ess.trip.latency.p50': {
    label: 'ESS trip (crossing tick → `ess.tripped` durable) p50',
    baseline: 'raw consume-produce',
  },
  'ess.trip.latency.p99': {
    label: 'ESS trip (crossing tick → `ess.tripped` durable) p99',
    baseline: 'raw consume-produce',
    targets: [ms(5), ratio('≤', 3)],
  },
  'failover.resume': {
    label: 'Sentinel failover: master killed → first publish on the new master',
    baseline: "Sentinel's own switch",
    targets: [ms(5_000)],
  },
};

/** Figures reported elsewhere (docs/market-data.md), not in the README table. */
const ELSEWHERE = /^csv-replay:/;

/** `x` in the table's style for `unit`: events/s in thousands, ms below 1 s, seconds above. */
function formatValue(x: number, unit: string): { text: string; unit: string } {
  if (unit === 'events/s') {
    const k = x / 1000;
    return { text: `${k >= 100 ? Math.round(k) : k.toFixed(1)}k`, unit: '/s' };
  }
  if (unit === 'ms' && x >= 1000) return { text: (x / 1000).toFixed(2), unit: ' s' };
  if (unit === 'ms') return { text: x.toFixed(x < 1 ? 3 : x < 10 ? 2 : 1), unit: ' ms' };
  return { text: Number.isInteger(x) ? String(x) : x.toFixed(1), unit: ` ${unit}` };
}

function withUnit(x: number, unit: string): string {
  const f = formatValue(x, unit);
  return `${f.text}${f.unit}`;
}

/** A bound as written in a target: round numbers, no padding (`< 1 ms`, `≥ 150k/s`, `≥ 0.8× raw`). */
function boundText(t: Target, unit: string): string {
  if (t.on !== 'value') return `${t.bound.toFixed(1)}× ${t.on === 'ratio' ? 'raw' : 'BullMQ'}`;
  if (unit === 'events/s') return `${t.bound / 1000}k/s`;
  if (unit === 'ms' && t.bound >= 1000) return `${t.bound / 1000} s`;
  return `${t.bound} ${unit}`;
}

function targetText(t: Target, unit: string): string {
  return `${t.op} ${boundText(t, unit)}`;
}

/** Whether the figure's median meets the target (a missing peer meets nothing). */
export function meets(result: ReportedResult, t: Target): boolean {
  const x = t.on === 'value' ? result.value : t.on === 'ratio' ? result.ratio : result.peerRatio;
  if (x === null) return false;
  return t.op === '<' ? x < t.bound : t.op === '≤' ? x <= t.bound : x >= t.bound;
}

function rowOf(r: ReportedResult): string {
  const spec = ROWS[r.name] ?? { label: r.name, baseline: r.baseline.name };
  const value = formatValue(r.value, r.unit);
  const min = formatValue(r.spread.min, r.unit).text;
  const max = formatValue(r.spread.max, r.unit).text;
  const targets = (spec.targets ?? []).map((t) => `${targetText(t, r.unit)} ${meets(r, t) ? '✓' : '✗'}`);
  const cells = [
    spec.label,
    `${value.text}${value.unit} (${min}–${max})`,
    `${withUnit(r.baseline.value, r.unit)} (${spec.baseline})`,
    `${r.ratio.toFixed(2)}×`,
    r.peer ? `${withUnit(r.peer.value, r.unit)} (${spec.peer ?? r.peer.name})` : '–',
    r.peerRatio === null ? '–' : `${r.peerRatio.toFixed(2)}×`,
    targets.length > 0 ? targets.join('; ') : '–',
  ];
  return `| ${cells.join(' | ')} |`;
}

/** The README's part between the markers: a line saying where the figures come from, and the table. */
export function renderBenchTable(report: BenchReport): string {
  const { meta } = report;
  const loads = meta.load.flatMap((l) => [l.start[0] ?? 0, l.end[0] ?? 0]);
  const load = loads.length > 0 ? `, load ${Math.min(...loads)}–${Math.max(...loads)}` : '';
  const rows = report.results.filter((r) => !ELSEWHERE.test(r.name)).map(rowOf);
  return [
    `Medians of ${meta.rounds} interleaved round${meta.rounds === 1 ? '' : 's'} of one \`npm run bench\` on ` +
      `${meta.date.slice(0, 10)} (min–max of the rounds beside each; Redis ${meta.redis}, Node ` +
      `${meta.node.replace(/^v/, '')}, ${meta.cores} × ${meta.cpu}${load}). Ratios are median / median; ` +
      'targets are checked against the medians.',
    '',
    `| figure | median (min–max) | raw ioredis, same run | ratio | BullMQ ${meta.peers.bullmq ?? ''}, same run | ratio | target |`,
    '|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

/** Where the markers are in `readme`; throws unless each is there exactly once, start first. */
function markers(readme: string): { from: number; to: number } {
  const count = (m: string) => readme.split(m).length - 1;
  if (count(TABLE_START) !== 1 || count(TABLE_END) !== 1) {
    throw new Error(`README.md must hold each bench table marker exactly once:\n${TABLE_START}\n${TABLE_END}`);
  }
  const from = readme.indexOf(TABLE_START) + TABLE_START.length;
  const to = readme.indexOf(TABLE_END);
  if (to < from) throw new Error('README.md: the end marker of the bench table comes before its start marker');
  return { from, to };
}

/** The generated part of `readme`, without the blank lines around it. */
export function benchTableOf(readme: string): string {
  const { from, to } = markers(readme);
  return readme.slice(from, to).trim();
}

/** `readme` with the generated part replaced by `table`. */
export function replaceBenchTable(readme: string, table: string): string {
  const { from, to } = markers(readme);
  return `${readme.slice(0, from)}\n\n${table}\n\n${readme.slice(to)}`;
}
