/**
 * The HTTP API of monitoring-health (port 8080; docs/monitoring.md, "API"):
 * `GET /health/system`, `GET /health/metrics`, `GET /alerts/active`,
 * `GET /alerts/history?limit=`, `POST /alerts/:id/clear` (admin). `GET
 * /health` and `GET /metrics` (Prometheus) are every service's. Bad query
 * parameters and bodies are 400 with the issues; before the first cycle (or
 * before the alert state is loaded) the answer is 503.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import type { AdminGuard } from '../../http/auth.js';
import type { Logger } from '../../log.js';
import type { AlertKeeper } from './alert-keeper.js';
import type { HealthSnapshot } from './monitor.js';
import { SYSTEM_CODE } from './monitor-metrics.js';
import type { WebhookCounts } from './webhook.js';

/** Longest history a request may ask for. */
export const HISTORY_MAX_LIMIT = 1_000;

/** `GET /alerts/history` query. */
export const HistoryQuerySchema = z
  .object({ limit: z.coerce.number().int().min(1).max(HISTORY_MAX_LIMIT).default(100) })
  .strict();

/** `POST /alerts/:id/clear` body: who clears it, and optionally why. */
export const ClearBodySchema = z
  .object({ operator: z.string().min(1).max(64).default('operator'), reason: z.string().max(500).optional() })
  .strict();

/** What the routes read. */
export interface MonitoringView {
  latest(): HealthSnapshot | undefined;
  readonly keeper: AlertKeeper;
  webhook(): WebhookCounts | null;
  /** Counters kept by the service (cycles, collection errors). */
  counters(): Record<string, number>;
}

const starting = (reply: FastifyReply, message: string) =>
  reply.code(503).header('retry-after', '1').send({ error: 'starting', message });

const badRequest = (reply: FastifyReply, issues: z.core.$ZodIssue[]) =>
  reply.code(400).send({ error: 'invalid_request', issues });

/** The body of `GET /health/system`. */
export function systemBody(s: HealthSnapshot) {
  const { counts } = s.health;
  return {
    status: s.health.status,
    timestamp: s.at,
    cycle: s.cycle,
    services: counts.services,
    infrastructure: counts.infrastructure,
    critical_failures: counts.critical_failures,
    performance: { average_latency_ms: counts.average_latency_ms, max_latency_ms: counts.max_latency_ms },
    findings: s.health.findings,
    components: {
      services: Object.fromEntries(
        s.observation.services.map((o) => [
          o.service,
          { status: o.status, critical: o.critical, latency_ms: o.latencyMs ?? null, error: o.error ?? null },
        ]),
      ),
      infrastructure: Object.fromEntries(
        s.infrastructure.map((i) => [
          i.name,
          { status: i.status, latency_ms: i.latencyMs ?? null, error: i.error ?? null, details: i.details },
        ]),
      ),
    },
    probes: s.observation.probes ?? [],
    ess: s.observation.ess,
  };
}

/** Registers the routes on monitoring-health's server. */
export function registerMonitoringRoutes(
  app: FastifyInstance,
  view: MonitoringView,
  guardAdmin: AdminGuard,
  log: Logger,
): void {
  app.get('/health/system', async (_request, reply) => {
    const latest = view.latest();
    if (!latest) return starting(reply, 'the first health cycle has not finished yet');
    return systemBody(latest);
  });

  app.get('/health/metrics', async (_request, reply) => {
    const latest = view.latest();
    if (!latest) return starting(reply, 'the first health cycle has not finished yet');
    const active = view.keeper.loaded ? view.keeper.active() : [];
    const { counts } = latest.health;
    return {
      timestamp: latest.at,
      counters: { ...view.counters(), ...(view.webhook() ? { webhook: view.webhook() } : {}) },
      gauges: {
        system_status_code: SYSTEM_CODE[latest.health.status],
        services_ok: counts.services.ok,
        services_degraded: counts.services.degraded,
        services_down: counts.services.down,
        infrastructure_ok: counts.infrastructure.ok,
        infrastructure_degraded: counts.infrastructure.degraded,
        infrastructure_down: counts.infrastructure.down,
        critical_failures: counts.critical_failures,
        average_latency_ms: counts.average_latency_ms,
        max_latency_ms: counts.max_latency_ms,
        cycle_duration_ms: latest.durationMs,
      },
      alerts: {
        loaded: view.keeper.loaded,
        active: active.length,
        critical: active.filter((a) => a.level === 'CRITICAL').length,
        warning: active.filter((a) => a.level === 'WARNING').length,
      },
    };
  });

  app.get('/alerts/active', async (_request, reply) => {
    if (!view.keeper.loaded) return starting(reply, 'the alert state is not loaded yet (waiting for Redis)');
    const alerts = view.keeper.active();
    return { alerts, count: alerts.length };
  });

  app.get('/alerts/history', async (request, reply) => {
    const query = HistoryQuerySchema.safeParse(request.query ?? {});
    if (!query.success) return badRequest(reply, query.error.issues);
    if (!view.keeper.loaded) return starting(reply, 'the alert state is not loaded yet (waiting for Redis)');
    const alerts = view.keeper.history(query.data.limit);
    return { alerts, count: alerts.length };
  });

  app.post<{ Params: { id: string } }>('/alerts/:id/clear', async (request, reply) => {
    if (!guardAdmin(request, reply)) return reply;
    const body = ClearBodySchema.safeParse(request.body ?? {});
    if (!body.success) return badRequest(reply, body.error.issues);
    if (!view.keeper.loaded) return starting(reply, 'the alert state is not loaded yet (waiting for Redis)');
    const alertId = request.params.id;
    const step = await view.keeper.apply({
      type: 'operator_clear',
      at: new Date().toISOString(),
      alertId,
      operator: body.data.operator,
    });
    if (step.refused === 'unknown_alert')
      return reply.code(404).send({ error: 'unknown_alert', message: `no active alert ${alertId}` });
    if (step.refused === 'already_cleared')
      return reply.code(409).send({ error: 'already_cleared', message: `alert ${alertId} was already cleared` });
    log.warn({ alertId, operator: body.data.operator, reason: body.data.reason }, 'alert cleared by an operator');
    return { alert: step.state.active[alertId] };
  });
}
