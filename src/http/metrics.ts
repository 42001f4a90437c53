import { Counter, Gauge, Histogram } from 'prom-client';
import { perRegistry } from '../metrics.js';

/** HTTP metrics (docs/architecture.md §13), one set per registry. */
export interface HttpMetrics {
  readonly requests: Counter<'service' | 'method' | 'route' | 'status'>;
  readonly duration: Histogram<'service' | 'method' | 'route'>;
  readonly inProgress: Gauge<'service'>;
}

/** The HTTP metrics on `registry`, created on first use. */
export const httpMetrics = perRegistry((registry): HttpMetrics => {
  const registers = [registry];
  return {
    requests: new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests, by service, method, route and status',
      labelNames: ['service', 'method', 'route', 'status'],
      registers,
    }),
    duration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration',
      labelNames: ['service', 'method', 'route'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers,
    }),
    inProgress: new Gauge({
      name: 'http_requests_in_progress',
      help: 'HTTP requests being served',
      labelNames: ['service'],
      registers,
    }),
  };
});
