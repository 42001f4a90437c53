/**
 * The Prometheus series of monitoring-health (docs/monitoring.md,
 * "Metrics"): each service's and each infrastructure component's status as
 * 0 OK, 1 DEGRADED, 2 DOWN; the system's as 0 OK, 1 DEGRADED, 2 CRITICAL;
 * the active alerts by level; alerts raised and cleared; cycles run.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { perRegistry } from '../../metrics.js';
import type { Alert } from './alerts.js';
import type { HealthLevel, SystemLevel } from './system-status.js';

/** A component status as a number. */
export const HEALTH_CODE: Record<HealthLevel, number> = { OK: 0, DEGRADED: 1, DOWN: 2 };
/** The system status as a number (`system_status_code`). */
export const SYSTEM_CODE: Record<SystemLevel, number> = { OK: 0, DEGRADED: 1, CRITICAL: 2 };

/** The series, once per registry. */
export const monitorMetrics = perRegistry((registry: Registry) => {
  const registers = [registry];
  return {
    service: new Gauge({
      name: 'service_health_status',
      help: 'Each service as monitoring-health last saw it: 0 OK, 1 DEGRADED, 2 DOWN',
      labelNames: ['service'],
      registers,
    }),
    infrastructure: new Gauge({
      name: 'infrastructure_health_status',
      help: 'Redis, the exchange (and Postgres) as last probed: 0 OK, 1 DEGRADED, 2 DOWN',
      labelNames: ['component'],
      registers,
    }),
    system: new Gauge({
      name: 'system_status_code',
      help: 'The system status: 0 OK, 1 DEGRADED, 2 CRITICAL',
      registers,
    }),
    active: new Gauge({
      name: 'health_alerts_active',
      help: 'Alerts not yet resolved, by level',
      labelNames: ['level'],
      registers,
    }),
    raised: new Counter({
      name: 'health_alerts_raised_total',
      help: 'Alerts raised (health.alert_raised), by level',
      labelNames: ['level'],
      registers,
    }),
    cleared: new Counter({
      name: 'health_alerts_cleared_total',
      help: 'Alerts cleared (health.alert_cleared), by reason',
      labelNames: ['reason'],
      registers,
    }),
    cycles: new Counter({
      name: 'health_cycles_total',
      help: 'Collection cycles run by monitoring-health',
      registers,
    }),
    cycleDuration: new Gauge({
      name: 'health_cycle_duration_seconds',
      help: 'How long the last collection cycle took, in seconds',
      registers,
    }),
  };
});

/** Sets the active-alert gauges from the active alerts. */
export function countActive(metrics: ReturnType<typeof monitorMetrics>, active: readonly Alert[]): void {
  metrics.active.set({ level: 'CRITICAL' }, active.filter((a) => a.level === 'CRITICAL').length);
  metrics.active.set({ level: 'WARNING' }, active.filter((a) => a.level === 'WARNING').length);
}
