/**
 * A local HTTP server on 127.0.0.1 (port 0) that stands in for a service's
 * `GET /health` in monitoring-health tests: each request is answered by a
 * handler the test can swap, and `report()` builds a valid health report.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ExecutionContext } from 'ava';
import type { DependencyHealth, HealthReport } from '../../src/http/health.js';

/** Answers one request. */
export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A running local server. */
export interface LocalServer {
  readonly url: string;
  readonly port: number;
  /** Requests received so far. */
  readonly requests: number;
  /** Replaces the handler of the next requests. */
  answer(handler: Handler): void;
  /** Stops listening and drops open connections (a process that died). */
  close(): Promise<void>;
}

/** Starts a server answering with `handler`; closed on teardown. */
export async function startLocalServer(t: ExecutionContext, handler: Handler): Promise<LocalServer> {
  let current = handler;
  let requests = 0;
  const server: Server = createServer((req, res) => {
    requests++;
    current(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return closed;
  };
  t.teardown(close);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get requests() {
      return requests;
    },
    answer: (h) => {
      current = h;
    },
    close,
  };
}

/** A valid `GET /health` report of `service`. */
export function report(
  service: string,
  options: {
    status?: HealthReport['status'];
    producer?: string;
    dependencies?: Record<string, DependencyHealth>;
    metrics?: Record<string, number>;
  } = {},
): HealthReport {
  return {
    service,
    status: options.status ?? 'OK',
    version: '0.0.0-test',
    ...(options.producer === undefined ? {} : { producer: options.producer }),
    timestamp: new Date().toISOString(),
    uptime_seconds: 1,
    dependencies: options.dependencies ?? { redis: { status: 'OK', latency_ms: 1, critical: true } },
    metrics: options.metrics ?? {},
  };
}

/** A handler answering `body` as JSON with `status`. */
export function json(status: number, body: unknown): Handler {
  return (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
}
