import { z } from 'zod';

/** Status of one dependency, as `GET /health` reports it (docs/architecture.md §12). */
export const DependencyHealthSchema = z.object({
  status: z.enum(['OK', 'DEGRADED', 'DOWN']),
  latency_ms: z.number().nonnegative().nullable(),
  critical: z.boolean(),
  error: z.string().optional(),
});
export type DependencyHealth = z.infer<typeof DependencyHealthSchema>;

/** The body of `GET /health` on every service (docs/architecture.md §12). */
export const HealthReportSchema = z.object({
  service: z.string(),
  status: z.enum(['OK', 'DEGRADED', 'DOWN']),
  version: z.string(),
  /** The producer id of the process serving it: services of one process share it (and its disk buffer). */
  producer: z.string().optional(),
  /** The process id on its host (the restart orchestrator stops a process that ignores its shutdown). */
  pid: z.number().int().positive().optional(),
  timestamp: z.iso.datetime(),
  uptime_seconds: z.number().nonnegative(),
  dependencies: z.record(z.string(), DependencyHealthSchema),
  metrics: z.record(z.string(), z.number()),
});
export type HealthReport = z.infer<typeof HealthReportSchema>;

/**
 * A service's status from its dependencies: a critical one DOWN makes it
 * DOWN; any one DOWN or DEGRADED (slow counts as degraded) makes it DEGRADED.
 */
export function computeStatus(dependencies: Readonly<Record<string, DependencyHealth>>): HealthReport['status'] {
  const deps = Object.values(dependencies);
  if (deps.some((d) => d.critical && d.status === 'DOWN')) return 'DOWN';
  if (deps.some((d) => d.status !== 'OK')) return 'DEGRADED';
  return 'OK';
}
