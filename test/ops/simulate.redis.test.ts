/**
 * The short version of every built failure scenario, run through the
 * harness as `npm run simulate --short` would: real redis-server, one real
 * `main` per service. Each must pass every check and write a report in the
 * schema. Serial: each scenario starts six processes.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { runSimulations, SCENARIOS } from '../../scripts/simulate/harness.js';

for (const scenario of SCENARIOS) {
  test.serial(`${scenario.name} (short): every check passes and the report is written`, async (t) => {
    t.timeout(180_000);
    const outDir = await mkdtemp(join(tmpdir(), 'qt-simulate-'));
    t.teardown(() => rm(outDir, { recursive: true, force: true }));
    const { report, files } = await runSimulations({ scenarios: [scenario.name], short: true, outDir, log: t.log });
    const written = JSON.parse(await readFile(files.json, 'utf8')) as typeof report;
    t.is(written.scenarios.length, 1);
    const [result] = written.scenarios;
    t.is(result?.name, scenario.name);
    t.true((result?.checks.length ?? 0) > 0);
    for (const check of result?.checks ?? []) {
      t.deepEqual(Object.keys(check).sort(), ['name', 'passed', 'unit', 'value']);
      t.true(check.passed, `${check.name}: ${check.value} ${check.unit}`);
    }
    t.is(result?.error, undefined);
    t.true(result?.passed);
    t.true((result?.timeline.length ?? 0) > 0, 'the timeline was sampled');
    const html = await readFile(files.html, 'utf8');
    t.regex(html, /<svg[^>]*class="marks"/, 'the page holds the chart');
    t.notRegex(html, /<script|https?:\/\/(?!www\.w3\.org)/, 'no script and no remote resource');
  });
}
