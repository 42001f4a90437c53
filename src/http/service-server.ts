import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type onRequestHookHandler,
} from 'fastify';
import type { Registry } from 'prom-client';
import { v7 as uuidv7 } from 'uuid';
import { currentCorrelationId, withCorrelation } from '../correlation.js';
import { type Logger, silentLogger } from '../log.js';
import { type AdminGuard, adminGuard, isAdminRoute } from './auth.js';
import { classifyError } from './error-reply.js';
import { computeStatus, type DependencyHealth, type HealthReport } from './health.js';
import { httpMetrics } from './metrics.js';
import { RouteTable } from './route-table.js';

/** The header that carries a correlation id in and out. */
export const CORRELATION_HEADER = 'x-correlation-id';

/** Settings of {@link createServiceServer}. */
export interface ServiceServerOptions {
  readonly service: string;
  readonly version: string;
  /** The process's producer id, reported in `GET /health`. */
  readonly producer?: string;
  readonly registry: Registry;
  /** Probes each dependency; called on every `GET /health`. */
  readonly dependencies: () => Promise<Record<string, DependencyHealth>>;
  /** Numbers to show under `metrics` in the health body. */
  readonly healthMetrics?: () => Record<string, number> | Promise<Record<string, number>>;
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
 * (read it with `currentCorrelationId()`).
 *
 * The edges (docs/architecture.md §14.2): every admin route ({@link isAdminRoute}:
 * the changing ones unless their config says otherwise) checks the token in
 * an `onRequest` hook, before its body is read; a known path asked with
 * another method is `405` with `Allow`; and one error handler answers every
 * error JSON ({@link classifyError}: 4xx for bad bodies, 503 while starting
 * or while Redis cannot be reached, else 500 with the correlation id) and
 * logs it. Services add their own routes; `guardAdmin` is the same check
 * for use inside a handler.
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
  // Admin routes are guarded before their body is read; every route goes in the table for 405s.
  const routes = new RouteTable();
  const adminHook: onRequestHookHandler = (request, reply, done) => {
    if (guardAdmin(request, reply)) done();
  };
  app.addHook('onRoute', (route) => {
    const admin = isAdminRoute(route.method, route.config);
    const visible = () => !admin || options.adminToken !== undefined;
    for (const method of [route.method].flat()) routes.add(method, route.url, visible);
    if (admin) route.onRequest = [adminHook, ...[route.onRequest ?? []].flat()];
  });

  // A request no route serves is answered from onRequest, so its body is never read either.
  const unrouted = (request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const path = request.url.split('?')[0] ?? request.url;
    const allow = routes.methodsOn(path);
    if (allow.length === 0) {
      return reply.code(404).send({ error: 'not_found', message: `no route ${request.method} ${path}` });
    }
    return reply
      .code(405)
      .header('allow', allow.join(', '))
      .send({
        error: 'method_not_allowed',
        message: `${path} answers ${allow.join(', ')}, not ${request.method}`,
        allow,
      });
  };
  app.addHook('onRequest', async (request, reply) => {
    if (request.is404) return unrouted(request, reply);
  });
  app.setNotFoundHandler(unrouted);

  app.setErrorHandler((err, request, reply) => {
    const { status, body, level } = classifyError(err);
    const header = reply.getHeader(CORRELATION_HEADER);
    const correlationId = typeof header === 'string' ? header : currentCorrelationId();
    // A client's mistake needs no stack; a failure of ours does.
    const cause = level === 'info' ? { code: body.code, reason: (err as Error).message } : { err };
    log[level](
      { ...cause, correlationId, method: request.method, url: request.url, status },
      `http ${request.method} ${request.routeOptions.url ?? request.url} answered ${status} ${body.error}`,
    );
    if (status === 503) void reply.header('retry-after', '1');
    return reply.code(status).send(status === 500 ? { ...body, correlationId } : body);
  });

  app.get('/health', async (_request, reply) => {
    const dependencies = await options.dependencies();
    const status = computeStatus(dependencies);
    const body: HealthReport = {
      service: options.service,
      status,
      version: options.version,
      ...(options.producer === undefined ? {} : { producer: options.producer }),
      pid: process.pid,
      timestamp: new Date().toISOString(),
      uptime_seconds: Math.round((Date.now() - startedAt) / 1000),
      dependencies,
      metrics: (await options.healthMetrics?.()) ?? {},
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
