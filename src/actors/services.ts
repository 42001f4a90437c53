/**
 * The services of the platform (DESIGN §2): each one's HTTP port and the
 * topics it consumes and produces. One process can host any subset; each
 * service keeps its own port either way, so the gateway config is the same.
 */
export const SERVICES = {
  marketdata: { port: 8006, consumes: [], produces: ['market'], critical: true },
  'ai-engine': { port: 8001, consumes: ['market'], produces: ['signal'], critical: false },
  'risk-safety': {
    port: 8003,
    consumes: ['signal', 'portfolio', 'market', 'health', 'order', 'model'],
    produces: ['order', 'ess', 'risk'],
    critical: true,
  },
  execution: { port: 8002, consumes: ['order', 'ess', 'market'], produces: ['order'], critical: true },
  'portfolio-intelligence': { port: 8004, consumes: ['order', 'market'], produces: ['portfolio'], critical: true },
  'rl-training': { port: 8005, consumes: ['signal', 'market'], produces: ['model'], critical: false },
  'monitoring-health': { port: 8080, consumes: ['ess', 'health'], produces: ['health'], critical: false },
} as const satisfies Record<string, ServiceSpec>;

/** What the runtime knows about a service before starting it. */
export interface ServiceSpec {
  readonly port: number;
  readonly consumes: readonly string[];
  readonly produces: readonly string[];
  /** A critical service down makes the system CRITICAL (DESIGN §9). */
  readonly critical: boolean;
}

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
