/**
 * The gateway's settings file, infra/nginx/gateway.json: listen address,
 * upstream host, rate limits, each service's route prefix, limits and
 * timeouts, the kill-switch paths, CORS origins. Parsed once with zod; every
 * value that ends up in nginx.conf is checked here so that a typo cannot
 * inject a directive, and a bad file is a QT_CONFIG_INVALID naming its keys.
 * Ports come from the service table (src/actors/services.ts), not from here.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { SERVICE_NAMES, type ServiceName } from '../../src/actors/services.js';
import { QtError } from '../../src/errors.js';

/** Where the shipped settings file is. */
export const GATEWAY_SETTINGS_PATH = fileURLToPath(new URL('../../infra/nginx/gateway.json', import.meta.url));

/** Where the shipped gateway config (the render of the shipped settings) is. */
export const SHIPPED_NGINX_CONF = fileURLToPath(new URL('../../infra/nginx/nginx.conf', import.meta.url));

/** The rate-limit zones a route can be under. */
export const LIMIT_ZONES = ['general', 'execution', 'trading'] as const;

/** A host name or an IPv4/IPv6 address (letters, digits, dots, dashes, colons, brackets): nothing that could end a directive. */
export const HostSchema = z.string().regex(/^[A-Za-z0-9.:[\]-]{1,253}$/, 'must be a host name or an IP address');
const PortSchema = z.number().int().min(1).max(65_535);
const SecondsSchema = z.number().int().min(1).max(3_600);

const ServiceNameSchema = z.enum(SERVICE_NAMES as [ServiceName, ...ServiceName[]]);

const LimitSchema = z.strictObject({
  /** Requests per second per key. */
  rate: z.number().int().min(1).max(100_000),
  /** Requests above the rate let through at once (`nodelay`) before 429s start. */
  burst: z.number().int().min(0).max(100_000),
});

const RouteSchema = z.strictObject(
  {
    prefix: z.string().regex(/^\/api\/[a-z][a-z0-9-]*\/$/, 'must look like /api/name/'),
    limits: z.array(z.enum(LIMIT_ZONES)).min(1),
    timeouts: z.strictObject({ connect: SecondsSchema, send: SecondsSchema, read: SecondsSchema }),
  },
  { error: (issue) => (issue.input === undefined ? 'missing: every service needs a route' : undefined) },
);

/** The schema of gateway.json. */
export const GatewaySettingsSchema = z.strictObject({
  listen: z.strictObject({ host: HostSchema, port: PortSchema }),
  upstreamHost: HostSchema,
  workerProcesses: z.union([z.literal('auto'), z.number().int().min(1).max(64)]),
  workerConnections: z.number().int().min(64).max(65_536),
  upstreamKeepalive: z.number().int().min(1).max(1_024),
  clientMaxBodySize: z.string().regex(/^\d{1,6}[km]?$/, 'must be an nginx size such as 1m or 512k'),
  limits: z.strictObject({
    general: LimitSchema,
    execution: LimitSchema,
    trading: LimitSchema,
    killSwitch: LimitSchema,
  }),
  retryAfterSeconds: SecondsSchema,
  /** One route per service of the service table, no more, no fewer. */
  routes: z.record(ServiceNameSchema, RouteSchema),
  killSwitch: z.strictObject({
    service: ServiceNameSchema,
    paths: z.array(z.string().regex(/^(\/[a-z0-9-]+)+$/, 'must be a plain path such as /ess/trip')).min(1),
  }),
  cors: z.strictObject({
    origins: z.array(
      z.string().regex(/^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/, 'must be an origin: scheme://host[:port]'),
    ),
    maxAgeSeconds: z.number().int().min(0).max(86_400),
  }),
  hstsMaxAgeSeconds: z.number().int().min(0),
});

/** Parsed gateway.json. */
export type GatewaySettings = z.infer<typeof GatewaySettingsSchema>;

/** One route of {@link GatewaySettings}. */
export type GatewayRoute = z.infer<typeof RouteSchema>;

/**
 * Checks `raw` against the schema, whose service names come from the service
 * table (every service has exactly one route, the kill switch belongs to a
 * known service), and that no two routes share a prefix. Throws
 * QT_CONFIG_INVALID naming each bad key.
 */
export function parseGatewaySettings(raw: unknown, source = 'gateway.json'): GatewaySettings {
  const parsed = GatewaySettingsSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw invalid(source, problems);
  }
  const settings = parsed.data;
  const problems: string[] = [];
  const prefixes = Object.values(settings.routes).map((r) => r.prefix);
  for (const p of new Set(prefixes)) {
    if (prefixes.filter((q) => q === p).length > 1) problems.push(`routes: prefix ${p} used twice`);
  }
  if (problems.length > 0) throw invalid(source, problems);
  return settings;
}

/** Reads and parses a settings file (by default the shipped one). */
export function loadGatewaySettings(path = GATEWAY_SETTINGS_PATH): GatewaySettings {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new QtError('QT_CONFIG_INVALID', `${path}: cannot read it as JSON: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return parseGatewaySettings(raw, path);
}

function invalid(source: string, problems: string[]): QtError {
  return new QtError('QT_CONFIG_INVALID', `${source} is invalid:\n  ${problems.join('\n  ')}`, {
    details: { problems },
  });
}
