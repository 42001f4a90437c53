/**
 * infra/grafana/ against the real program: the four dashboards are JSON of
 * a recent Grafana schema, not editable, every panel on the provisioned
 * Prometheus datasource (by uid) with PromQL targets; the provisioning files
 * declare that datasource and load the dashboards with UI updates refused;
 * and every metric a panel names (parsed with Prometheus's PromQL grammar)
 * has samples on the live `/metrics` of real `main` processes (all services
 * on the paper venue, execution on the fake Binance), so no panel is
 * silently empty.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import test from 'ava';
import { parse } from 'yaml';
import { scrapeUntil, startBinanceMain, startPaperMain } from '../support/live-metrics.js';
import { metricNames } from '../support/promql-names.js';

const GRAFANA = resolve(import.meta.dirname, '../../infra/grafana');
const DATASOURCE_UID = 'qt-prometheus';

interface Target {
  refId: string;
  expr: string;
  datasource: { type: string; uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource: { type: string; uid: string };
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  editable: boolean;
  panels: Panel[];
}

const FILES = readdirSync(join(GRAFANA, 'dashboards')).filter((f) => f.endsWith('.json'));
const DASHBOARDS = FILES.map((f) => ({
  file: f,
  board: JSON.parse(readFileSync(join(GRAFANA, 'dashboards', f), 'utf8')) as Dashboard,
}));
/** Every panel, rows' panels included. */
const panelsOf = (panels: readonly Panel[]): Panel[] => panels.flatMap((p) => [p, ...panelsOf(p.panels ?? [])]);

test('four dashboards: a recent schema, not editable, every panel on the Prometheus datasource by uid with PromQL', (t) => {
  t.deepEqual(FILES.sort(), ['event-bus.json', 'infrastructure.json', 'service-health.json', 'trading.json']);
  t.is(new Set(DASHBOARDS.map((d) => d.board.uid)).size, FILES.length, 'uids are unique');
  for (const { file, board } of DASHBOARDS) {
    t.true(board.schemaVersion >= 39, `${file}: schemaVersion ${board.schemaVersion}`);
    t.false(board.editable, `${file}: not editable`);
    const panels = panelsOf(board.panels).filter((p) => p.type !== 'row');
    t.true(panels.length >= 8, `${file}: ${panels.length} panels`);
    t.is(new Set(panels.map((p) => p.id)).size, panels.length, `${file}: panel ids unique`);
    for (const p of panels) {
      const where = `${file} "${p.title}"`;
      t.deepEqual(p.datasource, { type: 'prometheus', uid: DATASOURCE_UID }, where);
      t.true((p.targets ?? []).length > 0, `${where}: has targets`);
      for (const target of p.targets ?? []) {
        t.deepEqual(target.datasource, { type: 'prometheus', uid: DATASOURCE_UID }, `${where} ${target.refId}`);
        t.notThrows(() => metricNames(target.expr), `${where} ${target.refId}: ${target.expr}`);
        t.true(metricNames(target.expr).length > 0, `${where} ${target.refId} names a metric`);
      }
    }
  }
});

test('the provisioning files declare the datasource the panels use and load the dashboards read-only', (t) => {
  const ds = parse(readFileSync(join(GRAFANA, 'provisioning/datasources/prometheus.yml'), 'utf8')) as {
    apiVersion: number;
    datasources: { uid: string; type: string; url: string; editable: boolean }[];
  };
  t.is(ds.apiVersion, 1);
  t.like(ds.datasources, [{ uid: DATASOURCE_UID, type: 'prometheus', editable: false }]);
  t.regex(ds.datasources[0]?.url ?? '', /^http:\/\/127\.0\.0\.1:9090$/);
  const dash = parse(readFileSync(join(GRAFANA, 'provisioning/dashboards/dashboards.yml'), 'utf8')) as {
    apiVersion: number;
    providers: { type: string; allowUiUpdates: boolean; options: { path: string } }[];
  };
  t.is(dash.apiVersion, 1);
  t.like(dash.providers, [{ type: 'file', allowUiUpdates: false }]);
  t.truthy(dash.providers[0]?.options.path);
});

test('every metric a panel names is exported by the running services', async (t) => {
  const uses = new Map<string, string[]>();
  for (const { file, board } of DASHBOARDS) {
    for (const p of panelsOf(board.panels)) {
      for (const target of p.targets ?? []) {
        for (const name of metricNames(target.expr))
          uses.set(name, [...(uses.get(name) ?? []), `${file} "${p.title}"`]);
      }
    }
  }
  // `up` is Prometheus's own, of each scrape.
  const wanted = new Set([...uses.keys()].filter((n) => n !== 'up'));
  const [paper, binance] = [await startPaperMain(t), await startBinanceMain(t)];
  const { names } = await scrapeUntil([paper, binance], wanted, 90_000);
  const missing = [...wanted].filter((n) => !names.has(n)).map((n) => `${n} (${uses.get(n)?.join(', ')})`);
  t.deepEqual(missing, [], 'panels naming metrics no service exports');
  t.true(wanted.size >= 40, `${wanted.size} metrics named by the dashboards`);
});
