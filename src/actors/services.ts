/**
 * The services of the platform and the actors they host: each service's HTTP
 * port, the topics each actor consumes and each service produces. One process
 * can host any subset; each service keeps its own port either way, so the
 * gateway config is the same (docs/architecture.md §3).
 *
 * Consumed topics are declared once, per actor, in {@link ACTOR_TOPICS}: the
 * actor specs read their `topics` from it, and a service's `consumes` is the
 * union of its actors' topics, so the two cannot drift. This file imports
 * nothing from the actor folders; they import it.
 */

/**
 * The topics each actor consumes, by actor name (its consumer group). An
 * actor's spec takes its `topics` from here; monitoring-health's consumer
 * reads its own.
 */
export const ACTOR_TOPICS = {
  'ai-engine': ['market'],
  // `ess`: the operators' recorded trip requests (ess.trip_requested); the ESS's own outputs there are ignored.
  ess: ['market', 'portfolio', 'health', 'ess'],
  pretrade: ['signal', 'portfolio', 'order', 'model', 'ess', 'risk'],
  execution: ['order', 'ess', 'market'],
  portfolio: ['order', 'market'],
  'rl-training': ['signal', 'market'],
  // `ess`: an `ess.tripped` raises its CRITICAL alert at once; the rest of health is polled, not consumed.
  'monitoring-health': ['ess'],
} as const satisfies Record<string, readonly string[]>;

/** An actor name, a key of {@link ACTOR_TOPICS}. */
export type ActorName = keyof typeof ACTOR_TOPICS;

/** What the runtime knows about a service before starting it. */
export interface ServiceSpec {
  readonly port: number;
  /** The actors the service hosts; marketdata's feed is not an actor, so it hosts none. */
  readonly actors: readonly ActorName[];
  /** The union of its actors' topics, in the order they first appear. */
  readonly consumes: readonly string[];
  readonly produces: readonly string[];
  /** A critical service down makes the whole system CRITICAL (docs/architecture.md §3, §12). */
  readonly critical: boolean;
}

/** The topics a set of actors consumes: the union of theirs, in first-seen order. */
export function topicsOf(actors: readonly ActorName[]): readonly string[] {
  return [...new Set(actors.flatMap((actor) => ACTOR_TOPICS[actor]))];
}

/** A service entry with its `consumes` derived from its actors. */
function service(declared: Omit<ServiceSpec, 'consumes'>): ServiceSpec {
  return { ...declared, consumes: topicsOf(declared.actors) };
}

/** Every service: port, hosted actors, consumed topics (from its actors), produced topics. In start-up order. */
export const SERVICES = {
  marketdata: service({ port: 8006, actors: [], produces: ['market'], critical: true }),
  'ai-engine': service({ port: 8001, actors: ['ai-engine'], produces: ['signal'], critical: false }),
  'risk-safety': service({
    port: 8003,
    actors: ['ess', 'pretrade'],
    produces: ['order', 'ess', 'risk'],
    critical: true,
  }),
  execution: service({ port: 8002, actors: ['execution'], produces: ['order'], critical: true }),
  'portfolio-intelligence': service({ port: 8004, actors: ['portfolio'], produces: ['portfolio'], critical: true }),
  'rl-training': service({ port: 8005, actors: ['rl-training'], produces: ['model'], critical: false }),
  'monitoring-health': service({ port: 8080, actors: ['monitoring-health'], produces: ['health'], critical: false }),
} as const satisfies Record<string, ServiceSpec>;

/** A service name. */
export type ServiceName = keyof typeof SERVICES;

/** Every service name, in start-up (dependency) order. */
export const SERVICE_NAMES = Object.keys(SERVICES) as ServiceName[];

/** Result of parsing an `--actors` value. */
export type ActorSelection = { ok: true; services: ServiceName[] } | { ok: false; unknown: string[] };

/** Parses `all` or a comma-separated list of service names. */
export function parseActors(value: string): ActorSelection {
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.length === 0) return { ok: false, unknown: [value] };
  if (names.length === 1 && names[0] === 'all') return { ok: true, services: [...SERVICE_NAMES] };
  const unknown = names.filter((n) => !Object.hasOwn(SERVICES, n));
  if (unknown.length > 0) return { ok: false, unknown };
  // Keep dependency order whatever order the operator typed.
  return { ok: true, services: SERVICE_NAMES.filter((n) => names.includes(n)) };
}
