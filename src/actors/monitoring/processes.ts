/**
 * Services that die together: several services hosted by one `main` stop
 * answering at once when that process dies. monitoring-health remembers
 * which process (producer id, from each health report) hosts each service;
 * when every service of a process that hosts two or more is unreachable, the
 * process itself is the root cause: one `process:FIRST:down` alert naming
 * the services it took down, instead of one per service (docs/monitoring.md,
 * "The dependency graph"). Pure bookkeeping over what was polled.
 */
import type { AlertCheck } from './alerts.js';
import { DEPENDENCIES } from './dependencies.js';
import type { PolledService } from './poll-services.js';

/** The component name of the process that hosts `firstService` (its first service in table order). */
export function processComponent(firstService: string): string {
  return `process:${firstService}`;
}

/** The checks and the dependency graph of one cycle. */
export interface ProcessView {
  /** A `down` check per process hosting two or more services: failing when none of them answers. */
  readonly checks: readonly AlertCheck[];
  /** DEPENDENCIES with each such service also depending on its process. */
  readonly graph: Readonly<Record<string, readonly string[]>>;
}

/** Remembers the process of each service across cycles; see the file comment. */
export class ProcessMap {
  readonly #processOf = new Map<string, string>();

  /** Notes what answered and makes this cycle's process checks and graph. */
  view(polled: readonly PolledService[]): ProcessView {
    for (const p of polled) if (p.report) this.#processOf.set(p.report.service, p.report.producer ?? p.report.service);
    const members = new Map<string, PolledService[]>();
    for (const p of polled) {
      const producer = this.#processOf.get(p.observation.service);
      if (producer === undefined) continue;
      members.set(producer, [...(members.get(producer) ?? []), p]);
    }
    const checks: AlertCheck[] = [];
    const graph: Record<string, readonly string[]> = { ...DEPENDENCIES };
    for (const [producer, services] of members) {
      if (services.length < 2) continue;
      const names = services.map((s) => s.observation.service);
      const component = processComponent(names[0] as string);
      for (const name of names) graph[name] = [...(graph[name] ?? []), component];
      const silent = services.every((s) => s.report === null);
      const why = services[0]?.observation.error;
      checks.push({
        component,
        condition: 'down',
        level: silent ? (services.some((s) => s.observation.critical) ? 'CRITICAL' : 'WARNING') : null,
        title: `process ${producer} down`,
        message: `the process ${producer} hosting ${names.join(', ')} does not answer${why ? ` (${why})` : ''}`,
        details: { producer, services: names.join(',') },
      });
    }
    return { checks, graph };
  }
}
