/**
 * `npm run bench:readme [-- --check]`: rewrites the README's benchmark table
 * (between the markers of bench/readme-table.ts) from
 * `bench/results/latest.json`, the report of the last full `npm run bench`.
 * `--check` changes nothing and exits 1 when the README differs from the
 * file. Exit 2 when the report or the markers are missing or malformed.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { renderBenchTable, replaceBenchTable } from './readme-table.js';
import { LATEST_REPORT, packageRoot, readReport, resultsPath } from './report.js';

async function main(check: boolean): Promise<number> {
  const reportPath = resultsPath(LATEST_REPORT);
  const readmePath = join(packageRoot(), 'README.md');
  const report = await readReport(reportPath);
  const readme = await readFile(readmePath, 'utf8');
  const updated = replaceBenchTable(readme, renderBenchTable(report));
  if (updated === readme) {
    console.log(`README.md's benchmark table already matches ${reportPath} (${report.meta.date})`);
    return 0;
  }
  if (check) {
    console.error(`README.md's benchmark table differs from ${reportPath}: run npm run bench:readme`);
    return 1;
  }
  await writeFile(readmePath, updated);
  console.log(`README.md's benchmark table rewritten from ${reportPath} (${report.meta.date})`);
  return 0;
}

const args = process.argv.slice(2);
if (args.some((a) => a !== '--check')) {
  console.error('usage: npm run bench:readme [-- --check]');
  process.exitCode = 2;
} else {
  try {
    process.exitCode = await main(args.includes('--check'));
  } catch (error) {
    console.error(`bench:readme: ${(error as Error).message}`);
    process.exitCode = 2;
  }
}
