/**
 * What each component needs to work: the dependency graph monitoring-health
 * uses to name one root cause instead of alerting for every victim
 * (docs/monitoring.md, "The dependency graph").
 */

/**
 * The direct dependencies of each component. The trading chain runs
 * exchange → marketdata → ai-engine → risk-safety → execution; Redis is
 * under every service (the bus); portfolio-intelligence and rl-training
 * need Redis and marketdata's prices; the ESS state is read from Redis;
 * execution records its fills in PostgreSQL when that is its trade store
 * (unconfigured, postgres never fails). A component missing here depends on
 * nothing (`services` latency).
 */
export const DEPENDENCIES: Readonly<Record<string, readonly string[]>> = {
  redis: [],
  exchange: [],
  postgres: [],
  marketdata: ['exchange', 'redis'],
  'ai-engine': ['marketdata', 'redis'],
  'risk-safety': ['ai-engine', 'redis'],
  execution: ['risk-safety', 'redis', 'postgres'],
  'portfolio-intelligence': ['redis', 'marketdata'],
  'rl-training': ['redis', 'marketdata'],
  'monitoring-health': ['redis'],
  // The ESS state is read from Redis: unreadable with Redis down is Redis's failure, not a second root.
  ess: ['redis'],
};

/** The direct dependencies of a component (none when it is not in the graph). */
export function dependenciesOf(component: string, graph = DEPENDENCIES): readonly string[] {
  return Object.hasOwn(graph, component) ? (graph[component] as readonly string[]) : [];
}

/** Root causes and the failures they explain. */
export interface FailureAnalysis {
  /** Failing components none of whose direct dependencies fail: each gets its own alerts. */
  readonly roots: ReadonlySet<string>;
  /** Per root, the failing components that fail through it (reached over failing dependents), sorted. */
  readonly blastRadius: ReadonlyMap<string, readonly string[]>;
}

/**
 * Splits the failing components into root causes and victims: a failing
 * component with a failing direct dependency is a victim (its failure is
 * explained from below); one whose dependencies are all healthy is a root,
 * even if a dependency of a dependency fails, since the healthy one between
 * them shows the failure did not come through it.
 */
export function analyseFailures(failing: ReadonlySet<string>, graph = DEPENDENCIES): FailureAnalysis {
  const roots = new Set([...failing].filter((c) => !dependenciesOf(c, graph).some((d) => failing.has(d))));
  const dependents = new Map<string, string[]>();
  for (const c of failing)
    for (const d of dependenciesOf(c, graph)) if (failing.has(d)) dependents.set(d, [...(dependents.get(d) ?? []), c]);
  const blastRadius = new Map<string, readonly string[]>();
  for (const root of roots) {
    const seen = new Set<string>();
    const queue = [...(dependents.get(root) ?? [])];
    while (queue.length > 0) {
      const next = queue.shift() as string;
      if (seen.has(next)) continue;
      seen.add(next);
      queue.push(...(dependents.get(next) ?? []));
    }
    blastRadius.set(root, [...seen].sort());
  }
  return { roots, blastRadius };
}
