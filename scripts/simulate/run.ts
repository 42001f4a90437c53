/**
 * `npm run simulate [SCENARIO...] [--short]`: runs the failure scenarios
 * (all built ones when none is named), writes simulations/report.json and
 * simulations/report.html, and exits 0 when every check passed, 1 when one
 * failed, 2 on a usage error (an unknown scenario, an unknown flag).
 */
import { NOT_BUILT, runSimulations, SCENARIOS, selectScenarios } from './harness.js';

const args = process.argv.slice(2);
const flags = args.filter((a) => a.startsWith('-'));
const names = args.filter((a) => !a.startsWith('-'));
const unknownFlag = flags.find((f) => f !== '--short' && f !== '--help');
if (flags.includes('--help') || unknownFlag !== undefined) {
  if (unknownFlag) process.stderr.write(`unknown option ${unknownFlag}\n`);
  process.stderr.write(
    `usage: npm run simulate [SCENARIO...] [--short]\nbuilt: ${SCENARIOS.map((s) => s.name).join(', ')}\n${
      NOT_BUILT.length > 0 ? `not built yet: ${NOT_BUILT.join(', ')}\n` : ''
    }`,
  );
  process.exit(unknownFlag ? 2 : 0);
}
try {
  selectScenarios(names);
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(2);
}
const { report, files } = await runSimulations({
  scenarios: names,
  short: flags.includes('--short'),
  log: (line) => process.stdout.write(`${line}\n`),
});
process.stdout.write(
  `report: ${files.json}, ${files.html}\n${report.passed ? 'all checks passed' : 'SOME CHECKS FAILED'}\n`,
);
process.exit(report.passed ? 0 : 1);
