import { readFileSync } from 'node:fs';
import test from 'ava';
import { compare } from '../../bench/harness.js';
import { benchTableOf, renderBenchTable, replaceBenchTable, TABLE_END, TABLE_START } from '../../bench/readme-table.js';
import { aggregateRounds, type BenchReport, BenchReportSchema } from '../../bench/report.js';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const LATEST = readFileSync(new URL('../../bench/results/latest.json', import.meta.url), 'utf8');

function reportOf(results: BenchReport['results']): BenchReport {
  return {
    results,
    meta: {
      node: 'v20.20.2',
      redis: '7.0.15',
      cpu: 'AMD EPYC',
      cores: 2,
      peers: { bullmq: '6.7.0' },
      date: '2026-12-01T13:34:41.618Z',
      rounds: 3,
      benchmarks: ['e2e-throughput'],
      load: [{ round: 1, start: [0.5, 0.4, 0.3], end: [1.25, 0.5, 0.3] }],
    },
  };
}

const e2e = (value: number, peer: number) =>
  compare('e2e.throughput', 'events/s', value, { name: 'raw', value: 100_000 }, { name: 'bullmq', value: peer });

test("the README's benchmark table is what npm run bench:readme renders from the committed latest.json", (t) => {
  const report = BenchReportSchema.parse(JSON.parse(LATEST));
  t.is(benchTableOf(README), renderBenchTable(report), 'run npm run bench:readme after npm run bench');
});

test('targets are checked against the medians: a figure below its target shows ✗, at or above it ✓', (t) => {
  const below = renderBenchTable(reportOf(aggregateRounds([[e2e(90_000, 20_000)]])));
  t.regex(below, /\| end to end[^\n]*\| 90\.0k\/s \(90\.0k–90\.0k\) \|/);
  t.regex(below, /≥ 80k\/s ✓; ≥ 0\.8× raw ✓; ≥ 5\.0× BullMQ ✗/);
  const above = renderBenchTable(reportOf(aggregateRounds([[e2e(90_000, 18_000)]])));
  t.regex(above, /≥ 5\.0× BullMQ ✓/);
  t.regex(above, /Medians of 3 interleaved rounds of one `npm run bench` on 2026-12-01/);
  t.regex(above, /load 0\.5–1\.25/);
});

test('figures reported elsewhere stay out of the table; unknown ones show under their own name', (t) => {
  const table = renderBenchTable(
    reportOf(
      aggregateRounds([
        [
          compare('csv-replay: main peak RSS (VmHWM)', 'MB', 80, { name: 'synthetic', value: 70 }),
          compare('new.figure', 'ms', 0.5, { name: 'raw.thing', value: 0.25 }),
        ],
      ]),
    ),
  );
  t.notRegex(table, /csv-replay/);
  t.regex(
    table,
    /\| new\.figure \| 0\.500 ms \(0\.500–0\.500\) \| 0\.250 ms \(raw\.thing\) \| 2\.00× \| – \| – \| – \|/,
  );
});

test('the table is replaced between the markers only, and missing or repeated markers are refused', (t) => {
  const readme = `# x\n\nbefore\n${TABLE_START}\nold table\n${TABLE_END}\nafter\n`;
  const updated = replaceBenchTable(readme, 'new table');
  t.is(updated, `# x\n\nbefore\n${TABLE_START}\n\nnew table\n\n${TABLE_END}\nafter\n`);
  t.is(benchTableOf(updated), 'new table');
  t.is(replaceBenchTable(updated, 'new table'), updated, 'rewriting the same table changes nothing');
  t.throws(() => benchTableOf('no markers'), { message: /exactly once/ });
  t.throws(() => benchTableOf(`${readme}${TABLE_START}`), { message: /exactly once/ });
  t.throws(() => benchTableOf(`${TABLE_END}\n${TABLE_START}`), { message: /before its start/ });
});
