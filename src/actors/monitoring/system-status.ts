/**
 * The system status from what can be observed of it: every service's
 * `GET /health`, the infrastructure, the ESS projection. One pure function
 * applies the system rules of docs/architecture.md §12, so `qt check` and
 * the monitoring service that is to publish `health.*` judge the same
 * observations the same way. No I/O: the caller observes, this decides.
 */

import type { EssState } from '../../events/catalog.js';
import type { HealthReport } from '../../http/health.js';
import type { EssTripCause } from '../risk-safety/ess-projection.js';
import { type AlertCheck, checkFromProbe } from './alerts.js';
import { essProbe, type ProbeResult } from './probes.js';

/** The system's status: OK, DEGRADED or CRITICAL (docs/architecture.md §12). */
export type SystemLevel = 'OK' | 'DEGRADED' | 'CRITICAL';

/** A status as `GET /health` reports it. */
export type HealthLevel = 'OK' | 'DEGRADED' | 'DOWN';

/** Average `/health` latency above which the system is DEGRADED. */
export const LATENCY_DEGRADED_MS = 1_000;
/** Average `/health` latency above which the system is CRITICAL. */
export const LATENCY_CRITICAL_MS = 5_000;

/** One service as observed: DOWN when it did not answer (why in `error`) or answered DOWN. */
export interface ServiceObservation {
  readonly service: string;
  /** A critical service DOWN makes the system CRITICAL (the service table, docs/architecture.md §3). */
  readonly critical: boolean;
  readonly status: HealthLevel;
  /** Why it is not OK: `connect ECONNREFUSED …`, `redis DOWN: …`. */
  readonly error?: string;
  /** How long its `GET /health` took; absent or null when it did not answer. */
  readonly latencyMs?: number | null;
}

/** A piece of infrastructure (redis, exchange, postgres) as observed. */
export interface InfrastructureObservation {
  readonly name: string;
  readonly status: HealthLevel;
  /** Whether DOWN makes the system CRITICAL; absent is true. PostgreSQL is not (the trade store catches up). */
  readonly critical?: boolean;
  readonly error?: string;
  /** How long its probe took; absent or null when it did not answer. Not judged: its status already says slow. */
  readonly latencyMs?: number | null;
}

/** The ESS as observed from its projection: its state and what tripped it, or why it could not be read. */
export type EssObservation =
  | { readonly known: true; readonly state: EssState; readonly trip?: EssTripCause | undefined }
  | { readonly known: false; readonly error: string };

/** Everything {@link systemStatus} judges. */
export interface SystemObservation {
  readonly services: readonly ServiceObservation[];
  readonly infrastructure: readonly InfrastructureObservation[];
  /** Null when the ESS was not observed (Redis unreachable: that is already CRITICAL). */
  readonly ess: EssObservation | null;
  /** The trading probes (src/actors/monitoring/probes.ts): DOWN → CRITICAL, DEGRADED → DEGRADED. `qt check` has none. */
  readonly probes?: readonly ProbeResult[];
}

/** One reason the system is not OK. */
export interface SystemFinding {
  readonly level: Exclude<SystemLevel, 'OK'>;
  /** What it is about: a service name, `redis`, `ess`, `latency`. */
  readonly source: string;
  /** One phrase: `risk-safety DOWN (connect ECONNREFUSED 127.0.0.1:8003)`. */
  readonly message: string;
}

/** The verdict: the status and every finding behind it, CRITICAL ones first. */
export interface SystemStatus {
  readonly status: SystemLevel;
  readonly findings: readonly SystemFinding[];
}

const because = (error: string | undefined) => (error ? ` (${error})` : '');

/** What tripped the ESS, in a few words: `flash_crash`, `manual by alice`. */
export function essTripText(trip: EssTripCause | undefined): string {
  if (!trip) return '';
  return trip.operator === undefined ? trip.trigger : `${trip.trigger} by ${trip.operator}`;
}

/**
 * The system status by the rules of docs/architecture.md §12:
 * - a critical service DOWN, or critical infrastructure DOWN (all but
 *   postgres) → CRITICAL;
 * - a non-critical service or piece of infrastructure DOWN, any service
 *   DEGRADED, or infrastructure DEGRADED → DEGRADED;
 * - the average latency of the services that answered over
 *   {@link LATENCY_CRITICAL_MS} → CRITICAL, over {@link LATENCY_DEGRADED_MS}
 *   → DEGRADED;
 * - the ESS `tripped` or `awaitingReset` (trading halted) → CRITICAL;
 *   `reducing` (reduce-only) → DEGRADED; its projection unreadable →
 *   CRITICAL (execution sends nothing while it cannot read it).
 */
export function systemStatus(observation: SystemObservation): SystemStatus {
  const findings: SystemFinding[] = [];
  const add = (level: SystemFinding['level'], source: string, message: string) =>
    findings.push({ level, source, message });

  for (const s of observation.services) {
    if (s.status === 'DOWN')
      add(s.critical ? 'CRITICAL' : 'DEGRADED', s.service, `${s.service} DOWN${because(s.error)}`);
    else if (s.status === 'DEGRADED') add('DEGRADED', s.service, `${s.service} DEGRADED${because(s.error)}`);
  }
  for (const i of observation.infrastructure) {
    if (i.status === 'DOWN')
      add(i.critical === false ? 'DEGRADED' : 'CRITICAL', i.name, `${i.name} DOWN${because(i.error)}`);
    else if (i.status === 'DEGRADED') add('DEGRADED', i.name, `${i.name} DEGRADED${because(i.error)}`);
  }

  const { average } = serviceLatency(observation.services);
  if (average !== null) {
    const text = `average /health latency ${Math.round(average)} ms`;
    if (average > LATENCY_CRITICAL_MS) add('CRITICAL', 'latency', `${text} (over ${LATENCY_CRITICAL_MS} ms)`);
    else if (average > LATENCY_DEGRADED_MS) add('DEGRADED', 'latency', `${text} (over ${LATENCY_DEGRADED_MS} ms)`);
  }

  for (const p of observation.probes ?? []) {
    if (p.status === 'DOWN') add('CRITICAL', p.component, p.reason);
    else if (p.status === 'DEGRADED') add('DEGRADED', p.component, p.reason);
  }

  const ess = observation.ess;
  if (ess && !ess.known) add('CRITICAL', 'ess', `ESS state unknown (${ess.error})`);
  else if (ess?.known) {
    const cause = essTripText(ess.trip);
    if (ess.state === 'tripped' || ess.state === 'awaitingReset')
      add('CRITICAL', 'ess', `ESS ${ess.state}${because(cause)}`);
    else if (ess.state === 'reducing') add('DEGRADED', 'ess', `ESS reducing${because(cause)}`);
  }

  // Stable sort: CRITICAL findings first, each group in the order observed.
  const ordered = [
    ...findings.filter((f) => f.level === 'CRITICAL'),
    ...findings.filter((f) => f.level !== 'CRITICAL'),
  ];
  const status: SystemLevel = ordered.length === 0 ? 'OK' : (ordered[0] as SystemFinding).level;
  return { status, findings: ordered };
}

/**
 * The verdict as one line for cron and monitoring:
 * `CRITICAL: risk-safety DOWN (connect ECONNREFUSED 127.0.0.1:8003); ESS tripped (flash_crash)`,
 * or for a healthy system what was looked at: `OK: 7 services OK, redis OK, ESS armed`.
 */
export function statusLine(observation: SystemObservation, verdict: SystemStatus): string {
  if (verdict.status !== 'OK') return `${verdict.status}: ${verdict.findings.map((f) => f.message).join('; ')}`;
  const parts = [`${observation.services.length} service${observation.services.length === 1 ? '' : 's'} OK`];
  for (const i of observation.infrastructure) parts.push(`${i.name} OK`);
  if (observation.ess?.known) parts.push(`ESS ${observation.ess.state}`);
  return `OK: ${parts.join(', ')}`;
}

/** The average and the largest `/health` latency of the services that answered; null when none did. */
export function serviceLatency(services: readonly ServiceObservation[]): {
  readonly average: number | null;
  readonly max: number | null;
} {
  const latencies = services
    .map((s) => s.latencyMs)
    .filter((ms): ms is number => typeof ms === 'number' && Number.isFinite(ms));
  if (latencies.length === 0) return { average: null, max: null };
  return { average: latencies.reduce((a, b) => a + b, 0) / latencies.length, max: Math.max(...latencies) };
}

/** How many are OK, DEGRADED and DOWN. */
export interface LevelCounts {
  readonly ok: number;
  readonly degraded: number;
  readonly down: number;
}

/** The counts monitoring-health's API and snapshot report beside the status. */
export interface SystemCounts {
  readonly services: LevelCounts;
  readonly infrastructure: LevelCounts;
  /** CRITICAL findings: each one alone makes the system CRITICAL. */
  readonly critical_failures: number;
  readonly average_latency_ms: number | null;
  readonly max_latency_ms: number | null;
}

/** The verdict with its counts. */
export interface SystemHealth extends SystemStatus {
  readonly counts: SystemCounts;
}

function countLevels(items: readonly { readonly status: HealthLevel }[]): LevelCounts {
  return {
    ok: items.filter((i) => i.status === 'OK').length,
    degraded: items.filter((i) => i.status === 'DEGRADED').length,
    down: items.filter((i) => i.status === 'DOWN').length,
  };
}

/** {@link systemStatus} and the counts behind it: what monitoring-health publishes and serves. */
export function systemHealth(observation: SystemObservation): SystemHealth {
  const verdict = systemStatus(observation);
  const latency = serviceLatency(observation.services);
  return {
    ...verdict,
    counts: {
      services: countLevels(observation.services),
      infrastructure: countLevels(observation.infrastructure),
      critical_failures: verdict.findings.filter((f) => f.level === 'CRITICAL').length,
      average_latency_ms: latency.average,
      max_latency_ms: latency.max,
    },
  };
}

/** A service's `GET /health` as polled: its report and how long it took, or why it did not answer. */
export type ServiceAnswer =
  | { readonly reached: true; readonly report: HealthReport; readonly latencyMs: number }
  | { readonly reached: false; readonly error: string };

/** A polled service as {@link systemStatus} observes it; not OK names its troubled dependencies. */
export function observeService(service: string, critical: boolean, answer: ServiceAnswer): ServiceObservation {
  if (!answer.reached) return { service, critical, status: 'DOWN', error: answer.error, latencyMs: null };
  const trouble = Object.entries(answer.report.dependencies)
    .filter(([, d]) => d.status !== 'OK')
    .map(([name, d]) => `${name} ${d.status}${d.error ? `: ${d.error}` : ''}`);
  return {
    service,
    critical,
    status: answer.report.status,
    ...(trouble.length > 0 ? { error: trouble.join('; ') } : {}),
    latencyMs: answer.latencyMs,
  };
}

const healthCheck = (component: string, status: HealthLevel, critical: boolean, error?: string): AlertCheck => ({
  component,
  condition: 'health',
  level: status === 'OK' ? null : status === 'DOWN' && critical ? 'CRITICAL' : 'WARNING',
  title: `${component} ${status}`,
  message: `${component} ${status}${because(error)}`,
});

/**
 * The alert engine's checks for one observation (src/actors/monitoring/alerts.ts):
 * each service's and each infrastructure component's `health` (a critical
 * service or critical infrastructure DOWN is CRITICAL, any other trouble a
 * WARNING), the average latency (`services:latency`), the probes, and the
 * ESS (`ess:state`; unknown is CRITICAL). Every check is listed, healthy
 * ones too, so that resolved conditions clear.
 */
export function alertChecks(observation: SystemObservation): AlertCheck[] {
  const checks = [
    ...observation.services.map((s) => healthCheck(s.service, s.status, s.critical, s.error)),
    ...observation.infrastructure.map((i) => healthCheck(i.name, i.status, i.critical !== false, i.error)),
  ];
  const { average } = serviceLatency(observation.services);
  if (average !== null) {
    const level = average > LATENCY_CRITICAL_MS ? 'CRITICAL' : average > LATENCY_DEGRADED_MS ? 'WARNING' : null;
    checks.push({
      component: 'services',
      condition: 'latency',
      level,
      title: 'Slow /health answers',
      message: `average /health latency ${Math.round(average)} ms`,
      details: { average_latency_ms: average },
    });
  }
  checks.push(...(observation.probes ?? []).map(checkFromProbe));
  const ess = observation.ess;
  if (ess && !ess.known)
    checks.push({
      component: 'ess',
      condition: 'state',
      level: 'CRITICAL',
      message: `ESS state unknown (${ess.error})`,
    });
  else if (ess?.known) checks.push(checkFromProbe(essProbe({ state: ess.state, trigger: ess.trip?.trigger })));
  return checks;
}
