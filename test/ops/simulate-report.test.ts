/**
 * The simulation harness's parts that need no platform: the seq audit
 * (lost, duplicated, reordered), the venue audits of binance-down (requests
 * inside a ban, orders without an outcome), process-crash's state
 * comparison, scenario selection, the report files and the command line's
 * answers to a usage mistake.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import type { FakeRequest } from '../../scripts/fake-binance/server.js';
import { auditSeqs } from '../../scripts/simulate/audit.js';
import { NOT_BUILT, SCENARIOS, selectScenarios } from '../../scripts/simulate/harness.js';
import { differences, stateChange } from '../../scripts/simulate/platform-state.js';
import { writeReport } from '../../scripts/simulate/report.js';
import { byCaller, ordersWithoutOutcome, requestsInside } from '../../scripts/simulate/venue-audit.js';
import type { Envelope } from '../../src/events/envelope.js';

const RUN = fileURLToPath(new URL('../../scripts/simulate/run.ts', import.meta.url));

test('the seq audit counts lost, duplicated and reordered events', (t) => {
  t.deepEqual(auditSeqs([1, 2, 3, 4]), { lost: 0, duplicated: 0, reordered: 0 });
  t.deepEqual(auditSeqs([1, 2, 4, 5]), { lost: 1, duplicated: 0, reordered: 0 });
  t.deepEqual(auditSeqs([2, 3]), { lost: 1, duplicated: 0, reordered: 0 }, 'seq 1 missing is a loss');
  t.deepEqual(auditSeqs([1, 2, 2, 3]), { lost: 0, duplicated: 1, reordered: 0 });
  t.deepEqual(auditSeqs([1, 3, 2, 4]), { lost: 0, duplicated: 0, reordered: 1 });
});

test('requests inside a ban: those sent and received inside it; one signed before it and still on the wire is not', (t) => {
  const at = (time: number, path: string, timestamp?: number): FakeRequest => ({
    method: 'GET',
    path,
    params: timestamp === undefined ? {} : { timestamp: String(timestamp) },
    time,
    apiKey: undefined,
  });
  const opener = at(1_000, '/api/v3/ping');
  const requests = [
    at(900, '/api/v3/order', 890), // before the ban
    opener, // its answer opened the ban
    at(1_005, '/api/v3/order', 995), // signed before the ban, arrived just after: in flight
    at(1_010, '/api/v3/order', 1_008), // sent during the ban
    at(2_000, '/api/v3/klines'), // unsigned, during the ban
    at(3_000, '/api/v3/time'), // the ban is over
  ];
  const inside = requestsInside({ requests }, { from: 1_000, until: 3_000 }, opener);
  t.deepEqual(
    inside.map((r) => r.time),
    [1_010, 2_000],
  );
  t.deepEqual(byCaller(inside), { execution: 1, marketdata: 1, 'monitoring-health': 0 });
});

test('orders without an outcome: approved and neither filled, failed nor cancelled', (t) => {
  const event = (type: string, orderId: string) => ({ type, data: { orderId } }) as unknown as Envelope;
  const audit = ordersWithoutOutcome([
    event('order.approved', 'a'),
    event('order.approved', 'b'),
    event('order.approved', 'c'),
    event('order.approved', 'd'),
    event('order.placed', 'a'),
    event('order.filled', 'a'),
    event('order.failed', 'b'),
    event('order.cancelled', 'c'),
    event('order.placed', 'd'),
  ]);
  t.deepEqual(audit, { approved: 4, filled: 1, failed: 1, cancelled: 1, open: ['d'] });
});

test('state change: quantities and balances by how much they moved, average prices where they ended; rounding is not a difference', (t) => {
  const state = (figures: Record<string, number>) => ({ figures, workingOrders: 0, venueOpenOrders: 0, ess: 'armed' });
  const s0 = state({ 'balance USDT free': 100_000 });
  const s1 = state({
    'balance USDT free': 99_000,
    'balance BTC free': 0.01532105,
    'execution BTCUSDT quantity': 0.01532105,
    'execution BTCUSDT average price': 65_000,
  });
  const one = stateChange(s0, s1);
  t.deepEqual(one, {
    'balance USDT free': -1_000,
    'balance BTC free': 0.01532105,
    'execution BTCUSDT quantity': 0.01532105,
    'execution BTCUSDT average price': 65_000,
  });
  const s2 = state({
    'balance USDT free': 98_000,
    'balance BTC free': 0.03064211, // the venue's 8 decimals
    'execution BTCUSDT quantity': 0.0306421,
    'execution BTCUSDT average price': 65_000,
  });
  t.deepEqual(differences(stateChange(s1, s2), one), []);
  const feeLost = state({ ...s2.figures, 'execution BTCUSDT quantity': 0.01532105 + 0.01533639 });
  t.deepEqual(
    differences(stateChange(s1, feeLost), one).map((d) => d.name),
    ['execution BTCUSDT quantity'],
  );
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
