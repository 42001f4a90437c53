/**
 * The first probe of a monitoring cycle: every service's `GET /health`, in
 * parallel, each with a timeout. Where each service is comes from the
 * service table (QT_HTTP_HOST and the port offset) unless QT_HEALTH_TARGETS
 * says otherwise. A service that does not answer in time, answers 5xx
 * without a health report, or answers something that is not its report is
 * DOWN; one that answers OK but slower than QT_HEALTH_HTTP_SLOW_MS is
 * DEGRADED (docs/monitoring.md, "What is collected").
 */
import type { Config } from '../../config/load.js';
import { QtError } from '../../errors.js';
import { type HealthReport, HealthReportSchema } from '../../http/health.js';
import { SERVICE_NAMES, SERVICES, type ServiceName } from '../services.js';
import { observeService, type ServiceObservation } from './system-status.js';

/** Where one service's health is polled. */
export interface ServiceTarget {
  readonly service: ServiceName;
  readonly critical: boolean;
  /** `http://host:port`, without a trailing slash. */
  readonly baseUrl: string;
}

/** One service as polled: how it is judged, and its report when it answered one. */
export interface PolledService {
  readonly observation: ServiceObservation;
  readonly report: HealthReport | null;
}

/** A wildcard listen address is polled on the loopback interface. */
function pollHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '[::]') return '127.0.0.1';
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/**
 * Every service's health endpoint: QT_HEALTH_TARGETS where it names the
 * service, else QT_HTTP_HOST with the service's port plus the offset.
 * Throws QT_CONFIG_INVALID when QT_HEALTH_TARGETS names a service the table
 * does not have.
 */
export function serviceTargets(config: Config): ServiceTarget[] {
  const unknown = Object.keys(config.health.targets).filter((name) => !Object.hasOwn(SERVICES, name));
  if (unknown.length > 0)
    throw new QtError(
      'QT_CONFIG_INVALID',
      `QT_HEALTH_TARGETS: unknown service${unknown.length === 1 ? '' : 's'} ${unknown.join(', ')} (services: ${SERVICE_NAMES.join(', ')})`,
      { details: { issues: [{ key: 'QT_HEALTH_TARGETS', message: `unknown ${unknown.join(', ')}` }] } },
    );
  return SERVICE_NAMES.map((service) => ({
    service,
    critical: SERVICES[service].critical,
    baseUrl:
      config.health.targets[service] ??
      `http://${pollHost(config.http.host)}:${SERVICES[service].port + config.http.portOffset}`,
  }));
}

const down = (target: ServiceTarget, error: string): PolledService => ({
  observation: observeService(target.service, target.critical, { reached: false, error }),
  report: null,
});

/** The fetch's timeout signal fired. */
function isTimeout(err: unknown): boolean {
  const name = (err as Error | undefined)?.name;
  return name === 'TimeoutError' || name === 'AbortError';
}

/** Why a fetch failed, in a few words: `connect ECONNREFUSED 127.0.0.1:8003`, `no answer within 3000 ms`. */
function fetchFailure(err: unknown, timeoutMs: number): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (isTimeout(err)) return `no answer within ${timeoutMs} ms`;
  return e.cause?.message ?? e.message;
}

/** Polls one service's `GET /health`; never throws. */
export async function pollService(
  target: ServiceTarget,
  options: { readonly timeoutMs: number; readonly slowMs: number },
): Promise<PolledService> {
  const started = performance.now();
  let status: number;
  let body: unknown;
  try {
    const response = await fetch(`${target.baseUrl}/health`, { signal: AbortSignal.timeout(options.timeoutMs) });
    status = response.status;
    body = await response.json().catch((err: unknown) => {
      // The timeout also cuts a body that stalls: that is no answer, not an answer without a report.
      if (isTimeout(err)) throw err;
      return undefined;
    });
  } catch (err) {
    return down(target, fetchFailure(err, options.timeoutMs));
  }
  const latencyMs = Math.round((performance.now() - started) * 10) / 10;
  const parsed = HealthReportSchema.safeParse(body);
  // A DOWN service still answers its report, with 503; anything else is not a service answering.
  if (!parsed.success) return down(target, `answered HTTP ${status} without a health report`);
  if (parsed.data.service !== target.service) return down(target, `answered as ${parsed.data.service}`);
  const report = parsed.data;
  const observation = observeService(target.service, target.critical, { reached: true, report, latencyMs });
  if (observation.status === 'OK' && latencyMs > options.slowMs) {
    const slow = `GET /health took ${Math.round(latencyMs)} ms (over ${options.slowMs} ms)`;
    return { observation: { ...observation, status: 'DEGRADED', error: slow }, report };
  }
  return { observation, report };
}

/** Polls every target in parallel. */
export function pollServices(
  targets: readonly ServiceTarget[],
  options: { readonly timeoutMs: number; readonly slowMs: number },
): Promise<PolledService[]> {
  return Promise.all(targets.map((t) => pollService(t, options)));
}
