/**
 * The alert engine of monitoring-health, as one pure step function: the
 * previous alert state and one input (an evaluation of component checks at
 * a time, or an operator's clear) give the new state and the `health.*`
 * events to publish. No I/O and no clock: time comes in the input
 * (docs/monitoring.md, "The alert model").
 */
import { analyseFailures, DEPENDENCIES } from './dependencies.js';
import type { ProbeResult } from './probes.js';

/** How bad an alert is. */
export type AlertLevel = 'CRITICAL' | 'WARNING';

/** The measured values behind an alert. */
export type AlertDetails = Readonly<Record<string, string | number | boolean | null>>;

/** One condition of one component as evaluated: `level` null means it holds not (healthy). */
export interface AlertCheck {
  readonly component: string;
  /** Stable across evaluations: `down`, `degraded`, `stale_feed:BTCUSDT`. */
  readonly condition: string;
  readonly level: AlertLevel | null;
  readonly message: string;
  readonly title?: string | undefined;
  readonly details?: AlertDetails | undefined;
}

/** An alert, raised once per occurrence of its condition. */
export interface Alert {
  /** `component:condition`: the same for every occurrence of the condition. */
  readonly alert_id: string;
  readonly level: AlertLevel;
  readonly title: string;
  readonly message: string;
  readonly component: string;
  /** When it was raised (ISO). */
  readonly timestamp: string;
  readonly details: AlertDetails;
  /** The component named as the root cause when this alert explains failed dependents; null otherwise. */
  readonly root_cause: string | null;
  /** The failed components that depend on this one (transitively, through failed ones), sorted. */
  readonly blast_radius: readonly string[];
  /** When it stopped calling for attention: an operator's clear or its resolution, the first; null while active. */
  readonly cleared_at: string | null;
  /** The operator who cleared it; null when it resolved by itself. */
  readonly cleared_by: string | null;
  /** When its condition stopped holding (always published as `health.alert_cleared`); null until then. */
  readonly resolved_at: string | null;
}

/** The engine's state: the last known check of each condition, the alerts not yet resolved, the newest resolved ones. */
export interface AlertState {
  readonly checks: Readonly<Record<string, AlertCheck>>;
  /** By alert id; an alert with `cleared_at` set here was cleared by an operator and is suppressed until it resolves. */
  readonly active: Readonly<Record<string, Alert>>;
  /** Resolved alerts, newest first, at most `historyLimit`. */
  readonly history: readonly Alert[];
}

/** What the engine is told. */
export type AlertInput =
  | {
      readonly type: 'evaluation';
      readonly at: string;
      /** The checks made now; a condition not listed keeps its last known check (unknown is not healthy). */
      readonly checks: readonly AlertCheck[];
    }
  | { readonly type: 'operator_clear'; readonly at: string; readonly alertId: string; readonly operator: string };

/** An event to publish, in the shape of the catalog's `health.alert_*` data. */
export type AlertEvent =
  | {
      readonly type: 'health.alert_raised';
      readonly data: {
        readonly alertId: string;
        readonly severity: 'warning' | 'critical';
        readonly source: string;
        readonly message: string;
        readonly title: string;
        readonly raisedAt: string;
        readonly rootCause: string | null;
        readonly blastRadius: readonly string[];
        readonly details: AlertDetails;
      };
    }
  | {
      readonly type: 'health.alert_cleared';
      readonly data: {
        readonly alertId: string;
        readonly reason: 'resolved' | 'escalated';
        readonly clearedAt: string;
        readonly operatorClearedBy?: string;
      };
    };

/** The outcome of one step. */
export interface AlertStep {
  readonly state: AlertState;
  readonly events: readonly AlertEvent[];
  /** Why an operator clear changed nothing. */
  readonly refused?: 'unknown_alert' | 'already_cleared';
}

/** How many resolved alerts the state keeps. */
export const ALERT_HISTORY_LIMIT = 500;

/** Engine settings: the dependency graph and the history bound. */
export interface AlertOptions {
  readonly graph?: Readonly<Record<string, readonly string[]>>;
  readonly historyLimit?: number;
}

/** The state before anything was evaluated. */
export const INITIAL_ALERT_STATE: AlertState = { checks: {}, active: {}, history: [] };

/** The alert id of a condition: `component:condition`. */
export function alertId(check: Pick<AlertCheck, 'component' | 'condition'>): string {
  return `${check.component}:${check.condition}`;
}

/** A probe's verdict as a check: DOWN is CRITICAL, DEGRADED a WARNING, OK healthy. */
export function checkFromProbe(probe: ProbeResult): AlertCheck {
  return {
    component: probe.component,
    condition: probe.condition,
    level: probe.status === 'DOWN' ? 'CRITICAL' : probe.status === 'DEGRADED' ? 'WARNING' : null,
    message: probe.reason,
    details: probe.details,
  };
}

/** The input for an `ess.tripped` event: a CRITICAL `ess:state` check at once, without waiting for the next poll. */
export function essTrippedInput(at: string, trigger: string, reason: string): AlertInput {
  return {
    type: 'evaluation',
    at,
    checks: [
      {
        component: 'ess',
        condition: 'state',
        level: 'CRITICAL',
        title: 'ESS tripped',
        message: `ESS tripped (${trigger}): ${reason}`,
        details: { state: 'tripped', trigger },
      },
    ],
  };
}

const RANK: Record<AlertLevel, number> = { WARNING: 1, CRITICAL: 2 };

function raise(check: AlertCheck, at: string, blast: readonly string[]): { alert: Alert; event: AlertEvent } {
  const level = check.level as AlertLevel;
  const alert: Alert = {
    alert_id: alertId(check),
    level,
    title: check.title ?? `${check.component} ${check.condition}`,
    message: blast.length > 0 ? `${check.message}; also failing through it: ${blast.join(', ')}` : check.message,
    component: check.component,
    timestamp: at,
    details: check.details ?? {},
    root_cause: blast.length > 0 ? check.component : null,
    blast_radius: blast,
    cleared_at: null,
    cleared_by: null,
    resolved_at: null,
  };
  const event: AlertEvent = {
    type: 'health.alert_raised',
    data: {
      alertId: alert.alert_id,
      severity: level === 'CRITICAL' ? 'critical' : 'warning',
      source: alert.component,
      message: alert.message,
      title: alert.title,
      raisedAt: at,
      rootCause: alert.root_cause,
      blastRadius: blast,
      details: alert.details,
    },
  };
  return { alert, event };
}

function resolve(alert: Alert, at: string, reason: 'resolved' | 'escalated'): { alert: Alert; event: AlertEvent } {
  const done: Alert = { ...alert, cleared_at: alert.cleared_at ?? at, resolved_at: at };
  return {
    alert: done,
    event: {
      type: 'health.alert_cleared',
      data: {
        alertId: alert.alert_id,
        reason,
        clearedAt: at,
        ...(alert.cleared_by === null ? {} : { operatorClearedBy: alert.cleared_by }),
      },
    },
  };
}

function operatorClear(state: AlertState, input: Extract<AlertInput, { type: 'operator_clear' }>): AlertStep {
  const alert = state.active[input.alertId];
  if (!alert) return { state, events: [], refused: 'unknown_alert' };
  if (alert.cleared_at !== null) return { state, events: [], refused: 'already_cleared' };
  // No event now: the one `health.alert_cleared` of this occurrence is its resolution, which follows whatever the operator did.
  const cleared: Alert = { ...alert, cleared_at: input.at, cleared_by: input.operator };
  return { state: { ...state, active: { ...state.active, [input.alertId]: cleared } }, events: [] };
}

/**
 * One step of the alert engine. For an evaluation:
 * - an active alert whose condition no longer holds resolves: one
 *   `health.alert_cleared` (`resolved`), also when an operator had cleared it;
 * - a failing component whose direct dependencies are all healthy is a root
 *   cause: each of its failing conditions not already active raises one
 *   `health.alert_raised`, naming its blast radius (the failed components
 *   that fail through it); a victim raises nothing of its own;
 * - an active alert is never raised again while it holds (dedup); if a root
 *   cause's condition rises from WARNING to CRITICAL it is cleared
 *   (`escalated`) and raised at CRITICAL, unless an operator cleared it (then
 *   it stays suppressed until it resolves); a widened blast radius is kept
 *   in the state without a new event.
 */
export function stepAlerts(state: AlertState, input: AlertInput, options: AlertOptions = {}): AlertStep {
  if (input.type === 'operator_clear') return operatorClear(state, input);
  const graph = options.graph ?? DEPENDENCIES;
  const limit = options.historyLimit ?? ALERT_HISTORY_LIMIT;

  const checks: Record<string, AlertCheck> = { ...state.checks };
  for (const check of input.checks) checks[alertId(check)] = check;
  const failing = new Set(
    Object.values(checks)
      .filter((c) => c.level !== null)
      .map((c) => c.component),
  );
  const { roots, blastRadius } = analyseFailures(failing, graph);

  const active: Record<string, Alert> = { ...state.active };
  const resolved: Alert[] = [];
  const events: AlertEvent[] = [];

  for (const id of Object.keys(active).sort()) {
    const alert = active[id] as Alert;
    const check = checks[id];
    if (!check || check.level === null) {
      const done = resolve(alert, input.at, 'resolved');
      resolved.push(done.alert);
      events.push(done.event);
      delete active[id];
    } else if (roots.has(check.component) && RANK[check.level] > RANK[alert.level] && alert.cleared_at === null) {
      const done = resolve(alert, input.at, 'escalated');
      resolved.push(done.alert);
      events.push(done.event);
      delete active[id];
    } else if (roots.has(check.component)) {
      const blast = blastRadius.get(check.component) ?? [];
      if (blast.join() !== alert.blast_radius.join())
        active[id] = { ...alert, blast_radius: blast, root_cause: blast.length > 0 ? alert.component : null };
    }
  }

  for (const id of Object.keys(checks).sort()) {
    const check = checks[id] as AlertCheck;
    if (check.level === null || active[id] || !roots.has(check.component)) continue;
    const raised = raise(check, input.at, blastRadius.get(check.component) ?? []);
    active[id] = raised.alert;
    events.push(raised.event);
  }

  const history = [...resolved.reverse(), ...state.history].slice(0, limit);
  return { state: { checks, active, history }, events };
}
