/**
 * The alert engine (src/actors/monitoring/alerts.ts): raise once, dedup,
 * auto-clear, an operator clear whose resolution is still published, one
 * root-cause alert with its blast radius, a dependent failing alone, the ESS
 * trip at once, escalation, the bounded history.
 */
import test from 'ava';
import {
  type AlertCheck,
  type AlertInput,
  type AlertState,
  essTrippedInput,
  INITIAL_ALERT_STATE,
  stepAlerts,
} from '../../../src/actors/monitoring/alerts.js';
import { EVENT_CATALOG } from '../../../src/events/catalog.js';

const T = (s: number) => new Date(Date.UTC(2025, 0, 1, 0, 0, s)).toISOString();
const down = (component: string, level: 'CRITICAL' | 'WARNING' = 'CRITICAL'): AlertCheck => ({
  component,
  condition: 'health',
  level,
  message: `${component} DOWN`,
});
const ok = (component: string): AlertCheck => ({
  component,
  condition: 'health',
  level: null,
  message: `${component} OK`,
});
const evaluation = (s: number, checks: AlertCheck[]): AlertInput => ({ type: 'evaluation', at: T(s), checks });

/** Runs inputs from a state; the final state and every event, with the step it came from. */
function run(inputs: AlertInput[], from: AlertState = INITIAL_ALERT_STATE) {
  let state = from;
  const events: { step: number; type: string; alertId: string; data: Record<string, unknown> }[] = [];
  inputs.forEach((input, step) => {
    const out = stepAlerts(state, input);
    state = out.state;
    for (const e of out.events) events.push({ step, type: e.type, alertId: e.data.alertId, data: e.data });
  });
  return { state, events };
}

test('a failing condition raises one alert, with the catalog shape; while it holds it is not raised again', (t) => {
  const { state, events } = run([
    evaluation(0, [down('execution')]),
    evaluation(5, [down('execution')]),
    evaluation(10, [down('execution')]),
  ]);
  t.deepEqual(
    events.map((e) => [e.step, e.type, e.alertId]),
    [[0, 'health.alert_raised', 'execution:health']],
  );
  const raised = events[0]?.data;
  t.like(raised, {
    severity: 'critical',
    source: 'execution',
    message: 'execution DOWN',
    raisedAt: T(0),
    blastRadius: [],
    rootCause: null,
  });
  t.true(EVENT_CATALOG['health.alert_raised'].safeParse(raised).success);
  t.like(state.active['execution:health'], {
    level: 'CRITICAL',
    component: 'execution',
    timestamp: T(0),
    cleared_at: null,
  });
});

test('an alert resolves by itself when its condition clears, and the same id is raised on the next occurrence', (t) => {
  const { state, events } = run([
    evaluation(0, [down('ai-engine', 'WARNING')]),
    evaluation(5, [ok('ai-engine')]),
    evaluation(10, [ok('ai-engine')]),
    evaluation(15, [down('ai-engine', 'WARNING')]),
  ]);
  t.deepEqual(
    events.map((e) => [e.step, e.type, e.alertId]),
    [
      [0, 'health.alert_raised', 'ai-engine:health'],
      [1, 'health.alert_cleared', 'ai-engine:health'],
      [3, 'health.alert_raised', 'ai-engine:health'],
    ],
  );
  t.deepEqual(events[1]?.data, { alertId: 'ai-engine:health', reason: 'resolved', clearedAt: T(5) });
  t.true(EVENT_CATALOG['health.alert_cleared'].safeParse(events[1]?.data).success);
  t.like(state.history[0], { alert_id: 'ai-engine:health', resolved_at: T(5), cleared_at: T(5), cleared_by: null });
});

test('a condition not listed in an evaluation keeps its last known check: unknown is not healthy', (t) => {
  const { state, events } = run([evaluation(0, [down('execution')]), evaluation(5, [ok('redis')])]);
  t.is(events.length, 1);
  t.truthy(state.active['execution:health']);
});

test('an operator clear suppresses the alert until it resolves; the resolution is still published, naming the operator', (t) => {
  const { state, events } = run([
    evaluation(0, [down('execution')]),
    { type: 'operator_clear', at: T(2), alertId: 'execution:health', operator: 'alice' },
    evaluation(5, [down('execution')]),
    evaluation(10, [ok('execution')]),
    evaluation(15, [down('execution')]),
  ]);
  t.deepEqual(
    events.map((e) => [e.step, e.type]),
    [
      [0, 'health.alert_raised'],
      [3, 'health.alert_cleared'],
      [4, 'health.alert_raised'],
    ],
  );
  t.deepEqual(events[1]?.data, {
    alertId: 'execution:health',
    reason: 'resolved',
    clearedAt: T(10),
    operatorClearedBy: 'alice',
  });
  t.like(state.history[0], { cleared_at: T(2), cleared_by: 'alice', resolved_at: T(10) });
});

test('an operator clear of an unknown or already cleared alert is refused and changes nothing', (t) => {
  const first = stepAlerts(INITIAL_ALERT_STATE, evaluation(0, [down('execution')])).state;
  const unknown = stepAlerts(first, { type: 'operator_clear', at: T(1), alertId: 'nope:health', operator: 'a' });
  t.is(unknown.refused, 'unknown_alert');
  t.is(unknown.state, first);
  const cleared = stepAlerts(first, {
    type: 'operator_clear',
    at: T(1),
    alertId: 'execution:health',
    operator: 'a',
  }).state;
  const again = stepAlerts(cleared, { type: 'operator_clear', at: T(2), alertId: 'execution:health', operator: 'b' });
  t.is(again.refused, 'already_cleared');
  t.is(again.state.active['execution:health']?.cleared_by, 'a');
});

test('Redis down with every service failing through it is one root-cause alert naming the blast radius', (t) => {
  const { events, state } = run([
    evaluation(0, [down('redis'), down('marketdata'), down('ai-engine', 'WARNING'), down('execution'), ok('exchange')]),
  ]);
  t.deepEqual(
    events.map((e) => e.alertId),
    ['redis:health'],
  );
  t.like(events[0]?.data, { rootCause: 'redis', blastRadius: ['ai-engine', 'execution', 'marketdata'] });
  t.regex(String(events[0]?.data.message), /also failing through it: ai-engine, execution, marketdata/);
  t.deepEqual(Object.keys(state.active), ['redis:health']);
});

test('the blast radius follows failing dependents only: a victim behind a healthy dependency is its own root', (t) => {
  // exchange down takes marketdata with it; execution fails while risk-safety (its dependency) is healthy.
  const { events } = run([
    evaluation(0, [
      down('exchange'),
      down('marketdata'),
      ok('ai-engine'),
      ok('risk-safety'),
      down('execution'),
      ok('redis'),
    ]),
  ]);
  t.deepEqual(
    events.map((e) => [e.alertId, e.data.blastRadius]),
    [
      ['exchange:health', ['marketdata']],
      ['execution:health', []],
    ],
  );
});

test('a dependent failing while its dependency is healthy gets its own alert; a later root failure widens nothing it raised', (t) => {
  const { events, state } = run([
    evaluation(0, [ok('redis'), ok('marketdata'), down('ai-engine', 'WARNING')]),
    evaluation(5, [ok('redis'), down('marketdata'), down('ai-engine', 'WARNING')]),
    evaluation(10, [ok('redis'), ok('marketdata'), ok('ai-engine')]),
  ]);
  t.deepEqual(
    events.map((e) => [e.step, e.type, e.alertId]),
    [
      [0, 'health.alert_raised', 'ai-engine:health'],
      [1, 'health.alert_raised', 'marketdata:health'],
      [2, 'health.alert_cleared', 'ai-engine:health'],
      [2, 'health.alert_cleared', 'marketdata:health'],
    ],
  );
  t.deepEqual(events[1]?.data.blastRadius, ['ai-engine']);
  t.deepEqual(state.active, {});
});

test('when the root cause recovers, a victim still failing raises its own alert', (t) => {
  const { events } = run([
    evaluation(0, [down('redis'), down('execution')]),
    evaluation(5, [ok('redis'), down('execution')]),
  ]);
  t.deepEqual(
    events.map((e) => [e.step, e.type, e.alertId]),
    [
      [0, 'health.alert_raised', 'redis:health'],
      [1, 'health.alert_cleared', 'redis:health'],
      [1, 'health.alert_raised', 'execution:health'],
    ],
  );
});

test('a widening blast radius is kept in the state without a second raise', (t) => {
  const { events, state } = run([
    evaluation(0, [down('marketdata'), ok('ai-engine')]),
    evaluation(5, [down('marketdata'), down('ai-engine', 'WARNING')]),
  ]);
  t.is(events.length, 1);
  t.like(state.active['marketdata:health'], { blast_radius: ['ai-engine'], root_cause: 'marketdata' });
});

test('ess.tripped raises a CRITICAL alert at once, alone, without a full evaluation', (t) => {
  const before = stepAlerts(INITIAL_ALERT_STATE, evaluation(0, [ok('redis'), ok('execution')])).state;
  const out = stepAlerts(before, essTrippedInput(T(1), 'flash_crash', 'BTCUSDT -16% in 60 s'));
  t.deepEqual(
    out.events.map((e) => [e.type, e.data.alertId]),
    [['health.alert_raised', 'ess:state']],
  );
  t.like(out.events[0]?.data, { severity: 'critical', title: 'ESS tripped', raisedAt: T(1) });
  // The next poll, still tripped, does not raise it again.
  const next = stepAlerts(
    out.state,
    evaluation(5, [{ component: 'ess', condition: 'state', level: 'CRITICAL', message: 'ESS tripped' }]),
  );
  t.deepEqual(next.events, []);
});

test('a WARNING that turns CRITICAL is cleared as escalated and raised at CRITICAL; CRITICAL back to WARNING is not re-raised', (t) => {
  const { events } = run([
    evaluation(0, [down('marketdata', 'WARNING')]),
    evaluation(5, [down('marketdata', 'CRITICAL')]),
    evaluation(10, [down('marketdata', 'WARNING')]),
  ]);
  t.deepEqual(
    events.map((e) => [e.step, e.type, e.data.reason ?? e.data.severity]),
    [
      [0, 'health.alert_raised', 'warning'],
      [1, 'health.alert_cleared', 'escalated'],
      [1, 'health.alert_raised', 'critical'],
    ],
  );
});

test('the history keeps the newest resolved alerts only', (t) => {
  let state = INITIAL_ALERT_STATE;
  for (let i = 0; i < 10; i++) {
    state = stepAlerts(state, evaluation(2 * i, [down(`c${i}`)]), { historyLimit: 3 }).state;
    state = stepAlerts(state, evaluation(2 * i + 1, [ok(`c${i}`)]), { historyLimit: 3 }).state;
  }
  t.deepEqual(
    state.history.map((a) => a.component),
    ['c9', 'c8', 'c7'],
  );
});
