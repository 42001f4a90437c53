/**
 * `qt health` (docs/cli.md): every service's `GET /health`
 * (docs/architecture.md §12) in parallel, each with a timeout: its status,
 * version, uptime and each dependency's status, latency and error. A
 * service that does not answer is DOWN with why (connection refused,
 * timeout). `qt check` judges the same probes (src/cli/check.ts).
 */
import { type Command, InvalidArgumentError } from 'commander';
import { z } from 'zod';
import { SERVICE_NAMES, SERVICES, type ServiceName } from '../actors/services.js';
import { DependencyHealthSchema, HealthReportSchema } from '../http/health.js';
import type { CliContext } from './context.js';
import { durationOption } from './duration.js';
import { CliError, EXIT } from './exit-codes.js';
import { answerText, checkedUrl, type ServiceEndpoint, sendRequest } from './http-client.js';
import { type Column, formatDuration, printJson, renderTable } from './output.js';

/** How long each `GET /health` may take by default. */
export const DEFAULT_HEALTH_TIMEOUT_MS = 3_000;

/** One service's health as `qt` saw it. */
export const ServiceHealthSchema = z.object({
  service: z.string(),
  /** A critical service DOWN makes the system CRITICAL (docs/architecture.md §3). */
  critical: z.boolean(),
  url: z.string(),
  /** False when nothing answered (refused, timeout, no such host). */
  reached: z.boolean(),
  httpStatus: z.number().int().nullable(),
  status: z.enum(['OK', 'DEGRADED', 'DOWN']),
  version: z.string().nullable(),
  uptimeSeconds: z.number().nullable(),
  /** How long the `GET /health` took, answered or not. */
  latencyMs: z.number(),
  /** Why it is not OK: what did not answer, or the dependencies that are not OK. */
  error: z.string().nullable(),
  dependencies: z.record(z.string(), DependencyHealthSchema),
});
export type ServiceHealth = z.infer<typeof ServiceHealthSchema>;

/** `qt health --json`: one object per service, in start-up order. */
export const HealthOutputSchema = z.array(ServiceHealthSchema);
export type HealthOutput = z.infer<typeof HealthOutputSchema>;

/** What `qt health` and `qt check` take: which services, how long to wait, where. */
export interface HealthOptions {
  readonly services?: ServiceName[];
  readonly timeout?: number;
  readonly url?: string;
}

/** Parses `--services a,b`: names of the service table, exit 2 naming any other. */
export function servicesOption(value: string): ServiceName[] {
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !Object.hasOwn(SERVICES, n));
  if (names.length === 0 || unknown.length > 0) {
    throw new InvalidArgumentError(
      `unknown service${unknown.length === 1 ? '' : 's'} ${unknown.join(', ') || '(none given)'} (services: ${SERVICE_NAMES.join(', ')})`,
    );
  }
  return SERVICE_NAMES.filter((n) => names.includes(n));
}

/**
 * Where each service's API is: as `main` listens, or `--url`. With more than
 * one service the URL must say where each is: `{service}` (a gateway,
 * `http://gw/{service}`) or `{port}` (another host, `http://10.0.0.5:{port}`,
 * the port `main` listens on, QT_HTTP_PORT_OFFSET included).
 */
export function healthEndpoints(
  ctx: CliContext,
  services: readonly ServiceName[],
  url: string | undefined,
): ServiceEndpoint[] {
  if (url === undefined) {
    return services.map((service) => ({ service, baseUrl: ctx.serviceUrl(SERVICES[service].port) }));
  }
  const templated = url.includes('{service}') || url.includes('{port}');
  if (!templated && services.length > 1) {
    throw new CliError(
      EXIT.USAGE,
      `--url ${url} names one place for ${services.length} services: put {service} or {port} in it, or choose one with --services`,
    );
  }
  return services.map((service) => {
    const port = String(SERVICES[service].port + ctx.config.http.portOffset);
    return { service, baseUrl: checkedUrl(url.replaceAll('{service}', service).replaceAll('{port}', port)) };
  });
}

/** The dependencies that are not OK, in a few words: `redis DOWN: connect ECONNREFUSED 127.0.0.1:6390`. */
function dependencyTrouble(dependencies: ServiceHealth['dependencies']): string | null {
  const bad = Object.entries(dependencies)
    .filter(([, d]) => d.status !== 'OK')
    .map(([name, d]) => `${name} ${d.status}${d.error ? `: ${d.error}` : ''}`);
  return bad.length > 0 ? bad.join(', ') : null;
}

/** One service's `GET /health`, never throwing: DOWN with why when it does not answer or answers something else. */
export async function probeHealth(endpoint: ServiceEndpoint, timeoutMs: number): Promise<ServiceHealth> {
  const answer = await sendRequest(endpoint, { path: '/health', timeoutMs });
  const base = {
    service: endpoint.service,
    critical: SERVICES[endpoint.service].critical,
    url: endpoint.baseUrl,
    latencyMs: answer.latencyMs,
  };
  const down = (error: string, httpStatus: number | null) => ({
    ...base,
    reached: httpStatus !== null,
    httpStatus,
    status: 'DOWN' as const,
    version: null,
    uptimeSeconds: null,
    error,
    dependencies: {},
  });
  if (!answer.reached) return down(answer.error, null);
  // A DOWN service still answers its report, with 503.
  const report = HealthReportSchema.safeParse(answer.body);
  if (!report.success)
    return down(`answered ${answerText(answer.status, answer.body)}, not a health report`, answer.status);
  if (report.data.service !== endpoint.service) {
    return down(`answered as ${report.data.service}: is the URL right?`, answer.status);
  }
  const { status, version, uptime_seconds, dependencies } = report.data;
  return {
    ...base,
    reached: true,
    httpStatus: answer.status,
    status,
    version,
    uptimeSeconds: uptime_seconds,
    error: status === 'OK' ? null : dependencyTrouble(dependencies),
    dependencies,
  };
}

/** Every chosen service's health, probed in parallel (default: every service of the table). */
export function probeAll(ctx: CliContext, options: HealthOptions): Promise<HealthOutput> {
  const endpoints = healthEndpoints(ctx, options.services ?? SERVICE_NAMES, options.url);
  return Promise.all(endpoints.map((e) => probeHealth(e, options.timeout ?? DEFAULT_HEALTH_TIMEOUT_MS)));
}

/** A dependency's latency: whole milliseconds, one decimal below 10 ms. */
function latencyText(ms: number): string {
  return ms < 10 ? `${ms.toFixed(1)}ms` : `${Math.round(ms)}ms`;
}

function dependenciesText(dependencies: ServiceHealth['dependencies']): string {
  return Object.entries(dependencies)
    .map(([name, d]) => `${name} ${d.status}${d.latency_ms === null ? '' : ` ${latencyText(d.latency_ms)}`}`)
    .join(', ');
}

const COLUMNS: Column<ServiceHealth>[] = [
  { header: 'SERVICE', value: (s) => s.service },
  { header: 'STATUS', value: (s) => s.status },
  { header: 'VERSION', value: (s) => s.version },
  { header: 'UPTIME', value: (s) => (s.uptimeSeconds === null ? null : formatDuration(s.uptimeSeconds * 1_000)) },
  { header: 'LATENCY', value: (s) => `${s.latencyMs}ms`, right: true },
  // One column for both keeps the table within a terminal: what is wrong when something is, else every dependency.
  {
    header: 'DEPENDENCIES / ERROR',
    value: (s) => (s.error === null ? dependenciesText(s.dependencies) : s.error),
    flexible: true,
  },
];

/** Adds the options `qt health` and `qt check` share. */
export function withHealthOptions(command: Command): Command {
  return command
    .option('--services <list>', 'services to ask, separated by commas (default: every service)', servicesOption)
    .option(
      '--timeout <duration>',
      `how long each GET /health may take (default ${DEFAULT_HEALTH_TIMEOUT_MS / 1000}s)`,
      durationOption,
    )
    .option('--url <url>', 'where the services are: a URL with {service} or {port} in it (one service: any URL)');
}

/** `qt health`: a table of every service's health; exit 4 when none answered. */
export function registerHealth(program: Command, context: () => CliContext): void {
  withHealthOptions(
    program.command('health').description('every service: status, version, uptime, dependencies (GET /health)'),
  ).action(async (options: HealthOptions) => {
    const ctx = context();
    const health = await probeAll(ctx, options);
    if (ctx.output.json) printJson(ctx.output, HealthOutputSchema, health);
    else ctx.output.out(renderTable(ctx.output, COLUMNS, health).trimEnd());
    if (!health.some((s) => s.reached)) {
      throw new CliError(
        EXIT.SERVICE_UNREACHABLE,
        `no service answered (${health.map((s) => `${s.service}: ${s.error}`).join('; ')})`,
      );
    }
  });
}
