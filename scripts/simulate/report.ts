/**
 * Writes a simulation run's report: `report.json` in the schema
 * `{"scenarios":[{"name","passed","checks":[{"name","passed","value","unit"}]}]}`
 * (plus the run's time and each scenario's duration and timeline), and
 * `report.html`, a self-contained page (inline SVG charts, no script, no
 * network) with each scenario's checks and timeline chart.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { timelineSvg } from './chart.js';
import type { ScenarioResult } from './record.js';

/** The report as written to `report.json`. */
export interface SimulationReport {
  readonly startedAt: string;
  readonly short: boolean;
  readonly passed: boolean;
  readonly scenarios: readonly ScenarioResult[];
}

const escapeHtml = (text: string) =>
  text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c);

const figure = (value: number) => (Number.isInteger(value) ? String(value) : value.toFixed(3));

async function scenarioHtml(s: ScenarioResult): Promise<string> {
  const rows = s.checks
    .map(
      (c) =>
        `<tr class="${c.passed ? 'pass' : 'fail'}"><td>${c.passed ? 'PASS' : 'FAIL'}</td><td>${escapeHtml(c.name)}</td>` +
        `<td class="num">${figure(c.value)}</td><td>${escapeHtml(c.unit)}</td></tr>`,
    )
    .join('\n');
  const error = s.error ? `<p class="fail">stopped early: ${escapeHtml(s.error)}</p>` : '';
  const chart = s.timeline.length > 0 ? await timelineSvg(s.timeline, s.marks) : '<p>no timeline samples</p>';
  return `<section><h2 class="${s.passed ? 'pass' : 'fail'}">${escapeHtml(s.name)}: ${s.passed ? 'PASSED' : 'FAILED'}</h2>
<p>${s.short ? 'short' : 'full'} version, ${(s.durationMs / 1000).toFixed(1)} s</p>${error}
<table><tr><th></th><th>check</th><th>value</th><th>unit</th></tr>
${rows}</table>
<div class="chart">${chart}</div></section>`;
}

/** The HTML page of a report. */
export async function reportHtml(report: SimulationReport): Promise<string> {
  const sections = await Promise.all(report.scenarios.map(scenarioHtml));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Quantum Trader failure simulations</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;max-width:900px}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}.pass{color:#1a7f37}.fail{color:#d1242f}
</style></head><body>
<h1>Failure simulations: ${report.passed ? '<span class="pass">all checks passed</span>' : '<span class="fail">some checks failed</span>'}</h1>
<p>Run started ${escapeHtml(report.startedAt)}, ${report.short ? 'short' : 'full'} versions.</p>
${sections.join('\n')}
</body></html>
`;
}

/** Writes `report.json` and `report.html` into `dir` (created); the paths written. */
export async function writeReport(dir: string, report: SimulationReport): Promise<{ json: string; html: string }> {
  await mkdir(dir, { recursive: true });
  const json = join(dir, 'report.json');
  const html = join(dir, 'report.html');
  await writeFile(json, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(html, await reportHtml(report));
  return { json, html };
}
