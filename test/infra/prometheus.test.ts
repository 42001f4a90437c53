/**
 * infra/prometheus/ against promtool and the real program: `promtool check
 * config` on prometheus.yml (one job per service, on the services table's
 * port, labelled with its service), `check rules` and `test rules`; every
 * alert has a unit test that makes it fire, summary and description
 * annotations and a runbook_url naming a heading of docs/operations.md; every
 * metric an alert names is exported by a real `main`; and `promtool check
 * metrics` on each service's live `/metrics` (a `main --actors=all` on the
 * paper venue and a `main --actors=execution` on the fake Binance). Skipped,
 * saying so, only when promtool is not installed.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import test from 'ava';
import { parse } from 'yaml';
import { SERVICE_NAMES, SERVICES } from '../../src/actors/services.js';
import { scrapeUntil, startBinanceMain, startPaperMain } from '../support/live-metrics.js';
import { markdownAnchors, metricNames } from '../support/promql-names.js';

const ROOT = resolve(import.meta.dirname, '../..');
const PROM = join(ROOT, 'infra/prometheus');
const PROMTOOL = spawnSync('promtool', ['--version']).status === 0 ? 'promtool' : undefined;
const run = PROMTOOL === undefined ? test.skip : test;
if (PROMTOOL === undefined) test.skip('prometheus tests: skipped, promtool is not installed', () => {});

const yamlIn = (dir: string) =>
  readdirSync(join(PROM, dir))
    .filter((f) => f.endsWith('.yml'))
    .map((f) => join(PROM, dir, f));
const RULE_FILES = yamlIn('rules');
const TEST_FILES = yamlIn('tests');

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  annotations?: Record<string, string>;
}
const RULES: Rule[] = RULE_FILES.flatMap((f) =>
  (parse(readFileSync(f, 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules),
);
const ALERTS = RULES.filter((r) => r.alert !== undefined);

/**
 * Lint findings of `promtool check metrics` that are not ours to fix here:
 * prom-client's default Node gauges end in `_total`.
 */
const KNOWN_LINT = [
  /^nodejs_active_(handles|requests|resources)_total non-counter metrics should not have "_total" suffix$/,
];

function promtool(args: string[], input?: string) {
  const r = spawnSync(PROMTOOL as string, args, { cwd: ROOT, encoding: 'utf8', input });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

run('promtool check config, check rules and test rules pass on the shipped files', (t) => {
  for (const [args, what] of [
    [['check', 'config', join(PROM, 'prometheus.yml')], 'check config'],
    [['check', 'rules', ...RULE_FILES], 'check rules'],
    [['test', 'rules', ...TEST_FILES], 'test rules'],
  ] as const) {
    const r = promtool([...args]);
    t.is(r.status, 0, `${what}:\n${r.out}`);
  }
  t.true(ALERTS.length >= 11, `${ALERTS.length} alerts`);
});

test('prometheus.yml scrapes every service on its port, with its service label', (t) => {
  const config = parse(readFileSync(join(PROM, 'prometheus.yml'), 'utf8')) as {
    rule_files: string[];
    scrape_configs: {
      job_name: string;
      honor_labels?: boolean;
      static_configs: { targets: string[]; labels?: Record<string, string> }[];
    }[];
  };
  t.deepEqual(config.rule_files, ['rules/*.yml']);
  for (const name of SERVICE_NAMES) {
    const job = config.scrape_configs.find((j) => j.job_name === name);
    t.truthy(job, `a job for ${name}`);
    t.true(job?.honor_labels, `${name}: series keep their own service label`);
    t.deepEqual(job?.static_configs, [{ targets: [`127.0.0.1:${SERVICES[name].port}`], labels: { service: name } }]);
  }
});

test('every alert has a firing unit test, a summary, a description and a runbook_url into docs/operations.md', (t) => {
  const tested = new Set<string>();
  for (const f of TEST_FILES) {
    const doc = parse(readFileSync(f, 'utf8')) as {
      tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
    };
    for (const unit of doc.tests)
      for (const a of unit.alert_rule_test ?? []) if ((a.exp_alerts ?? []).length > 0) tested.add(a.alertname);
  }
  const anchors = markdownAnchors(readFileSync(join(ROOT, 'docs/operations.md'), 'utf8'));
  for (const rule of ALERTS) {
    const name = rule.alert as string;
    t.true(tested.has(name), `${name} has no promtool test in which it fires (infra/prometheus/tests/)`);
    t.truthy(rule.annotations?.summary, `${name}: summary`);
    t.truthy(rule.annotations?.description, `${name}: description`);
    const m = /^docs\/operations\.md#(.+)$/.exec(rule.annotations?.runbook_url ?? '');
    t.truthy(m, `${name}: runbook_url into docs/operations.md, got ${rule.annotations?.runbook_url}`);
    t.true(anchors.has(m?.[1] ?? ''), `${name}: docs/operations.md has no heading #${m?.[1]}`);
  }
  for (const name of tested)
    t.truthy(
      ALERTS.find((a) => a.alert === name),
      `tests name an unknown alert ${name}`,
    );
});

run('the live /metrics of every service passes promtool check metrics, and exports what the alerts name', async (t) => {
  const [paper, binance] = [await startPaperMain(t), await startBinanceMain(t)];
  const wanted = new Set(RULES.flatMap((r) => metricNames(r.expr)).filter((n) => n !== 'up'));
  const { expositions, names } = await scrapeUntil([paper, binance], wanted);
  t.deepEqual(
    [...wanted].filter((n) => !names.has(n)),
    [],
    'metrics the alert rules use that no service exports',
  );
  t.is(expositions.size, SERVICE_NAMES.length + 1);
  for (const [where, text] of expositions) {
    const r = promtool(['check', 'metrics'], text);
    const findings = r.out
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    t.true(r.status === 0 || r.status === 3, `${where}: promtool check metrics exit ${r.status}:\n${r.out}`);
    t.deepEqual(
      findings.filter((f) => !KNOWN_LINT.some((k) => k.test(f))),
      [],
      `${where}: lint findings`,
    );
    t.regex(text, /producer="/, `${where}: series name their process`);
  }
});
