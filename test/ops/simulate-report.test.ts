/**
 * The simulation harness's parts that need no platform: the seq audit
 * (lost, duplicated, reordered), scenario selection, the report files and
 * the command line's answers to a usage mistake.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { auditSeqs } from '../../scripts/simulate/audit.js';
import { NOT_BUILT, SCENARIOS, selectScenarios } from '../../scripts/simulate/harness.js';
import { writeReport } from '../../scripts/simulate/report.js';

const RUN = fileURLToPath(new URL('../../scripts/simulate/run.ts', import.meta.url));

test('the seq audit counts lost, duplicated and reordered events', (t) => {
  t.deepEqual(auditSeqs([1, 2, 3, 4]), { lost: 0, duplicated: 0, reordered: 0 });
  t.deepEqual(auditSeqs([1, 2, 4, 5]), { lost: 1, duplicated: 0, reordered: 0 });
  t.deepEqual(auditSeqs([2, 3]), { lost: 1, duplicated: 0, reordered: 0 }, 'seq 1 missing is a loss');
  t.deepEqual(auditSeqs([1, 2, 2, 3]), { lost: 0, duplicated: 1, reordered: 0 });
  t.deepEqual(auditSeqs([1, 3, 2, 4]), { lost: 0, duplicated: 0, reordered: 1 });
});

test('scenarios are selected by name; an unknown or unbuilt one is refused naming the built ones', (t) => {
  t.deepEqual(
    selectScenarios([]).map((s) => s.name),
    SCENARIOS.map((s) => s.name),
  );
  t.deepEqual(
    selectScenarios(['ess-trigger', 'flash-crash']).map((s) => s.name),
    ['ess-trigger', 'flash-crash'],
  );
  t.throws(() => selectScenarios(['nope']), { message: /nope is not a scenario; built: flash-crash/ });
  const unbuilt = NOT_BUILT[0];
  if (unbuilt) t.throws(() => selectScenarios([unbuilt]), { message: /is not built yet/ });
});

test('the report: JSON in the schema and an HTML page with a chart per scenario', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'qt-sim-report-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const check = { name: 'time to trip', passed: false, value: 1.5, unit: 's' };
  const timeline = [0, 500, 1000].map((t) => ({ t, series: 'price BTCUSDT', value: 65_000 - t }));
  const scenario = { name: 'x', passed: false, short: true, durationMs: 1000, checks: [check], timeline, marks: [] };
  const files = await writeReport(dir, {
    startedAt: new Date().toISOString(),
    short: true,
    passed: false,
    scenarios: [scenario],
  });
  const json = JSON.parse(await readFile(files.json, 'utf8'));
  t.like(json, { passed: false, scenarios: [{ name: 'x', passed: false, checks: [check] }] });
  const html = await readFile(files.html, 'utf8');
  t.regex(html, /FAIL<\/td><td>time to trip<\/td><td class="num">1\.500<\/td>/);
  t.regex(html, /<svg[^>]*class="marks"/);
});

test('npm run simulate: an unknown scenario or option exits 2 with a clear message', (t) => {
  const unknown = spawnSync(process.execPath, ['--import=tsx', RUN, 'bogus'], { encoding: 'utf8' });
  t.is(unknown.status, 2);
  t.regex(unknown.stderr, /scenario bogus is not a scenario; built: /);
  t.notRegex(unknown.stderr, /at .*\.ts:\d+/, 'no stack trace');
  const option = spawnSync(process.execPath, ['--import=tsx', RUN, '--fast'], { encoding: 'utf8' });
  t.is(option.status, 2);
  t.regex(option.stderr, /unknown option --fast/);
});
