import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { v7 as uuidv7 } from 'uuid';
import { withCorrelation } from '../correlation.js';
import { type Logger, silentLogger } from '../log.js';
import { type AdminGuard, adminGuard } from './auth.js';
import { computeStatus, type DependencyHealth, type HealthReport } from './health.js';
import { httpMetrics } from './metrics.js';

/** The header that carries a correlation id in and out. */
export const CORRELATION_HEADER = 'x-correlation-id';

/** Settings of {@link createServiceServer}. */
export interface ServiceServerOptions {
  readonly service: string;
  readonly version: string;
  readonly registry: Registry;
  /** Probes each dependency; called on every `GET /health`. */
  readonly dependencies: () => Promise<Record<string, DependencyHealth>>;
  /** Numbers to show under `metrics` in the health body. */
  readonly healthMetrics?: () => Record<string, number>;
  /** Bearer token for admin routes; without one they answer 404 (disabled). */
  readonly adminToken: string | undefined;
  /** Called by `POST /admin/shutdown` after the response is sent. */
  readonly onShutdown: () => void;
  readonly log?: Logger;
  readonly startedAt?: number;
}

/**
 * The HTTP server every service has (docs/actors.md, "Every service's
 * HTTP"): `GET /health`, `GET /metrics` (Prometheus), and
 * `POST /admin/shutdown` (bearer token). Every request runs with a
 * correlation id, taken from `X-Correlation-ID` or generated, and returned in
 * the response header: the hooks after `onRequest` and the route handler run
 * inside {@link withCorrelation}, so what they log and publish carries it
 * (read it with `currentCorrelationId()`). Services add their own routes
 * with `guardAdmin` as the guard for changing ones.
 */
export function createServiceServer(options: ServiceServerOptions): {
  app: FastifyInstance;
  guardAdmin: AdminGuard;
} {
  const app = Fastify({ logger: false });
  const metrics = httpMetrics(options.registry);
  const startedAt = options.startedAt ?? Date.now();
  const log = options.log ?? silentLogger;
  const guardAdmin = adminGuard(options.adminToken);

  app.addHook('onRequest', (request, reply, done) => {
    const given = request.headers[CORRELATION_HEADER];
    const correlationId = typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given) ? given : uuidv7();
    reply.header(CORRELATION_HEADER, correlationId);
    metrics.inProgress.inc({ service: options.service });
    (request as { startedAt?: number }).startedAt = performance.now();
    // The rest of the request (body parsing, later hooks, the handler) continues from `done`.
    withCorrelation(correlationId, done);
  });
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unknown';
    const labels = { service: options.service, method: request.method, route };
    metrics.inProgress.dec({ service: options.service });
    metrics.requests.inc({ ...labels, status: String(reply.statusCode) });
    const started = (request as { startedAt?: number }).startedAt ?? performance.now();
    metrics.duration.observe(labels, (performance.now() - started) / 1000);
    done();
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({ error: 'not_found', message: `no route ${request.method} ${request.url}` });
  });

  app.get('/health', async (_request, reply) => {
    const dependencies = await options.dependencies();
    const status = computeStatus(dependencies);
    const body: HealthReport = {
      service: options.service,
      status,
      version: options.version,
      timestamp: new Date().toISOString(),
      uptime_seconds: Math.round((Date.now() - startedAt) / 1000),
      dependencies,
      metrics: options.healthMetrics?.() ?? {},
    };
    return reply.code(status === 'DOWN' ? 503 : 200).send(body);
  });

  app.get('/metrics', async (_request, reply) => {
    return reply.header('content-type', options.registry.contentType).send(await options.registry.metrics());
  });

  app.post('/admin/shutdown', async (request, reply) => {
    if (!guardAdmin(request, reply)) return reply;
    log.warn({ service: options.service }, 'shutdown requested over HTTP');
    reply.raw.on('finish', () => options.onShutdown());
    return reply.code(202).send({ status: 'shutting_down' });
  });

  return { app, guardAdmin };
}
