/**
 * risk-safety's ESS series (docs/architecture.md §13):
 * `emergency_stop_state{service,state}`, 1 for the state the ESS is in and 0
 * for the others (read from the actor at scrape time, so it is right after a
 * restart too), and `emergency_stop_trip_requests_total{service}`, operator
 * trips asked through `POST /ess/trip`. Trips themselves, of any trigger,
 * are `emergency_stop_triggered_total` (output-metrics.ts).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { type EssState, EssStateSchema } from '../../events/catalog.js';
import { perRegistry } from '../../metrics.js';

/** The `service` label of these series. */
const SERVICE = 'risk-safety';

const essMetrics = perRegistry((registry: Registry) => {
  const sources = new Set<() => EssState | undefined>();
  new Gauge({
    name: 'emergency_stop_state',
    help: 'The ESS state: 1 for the current one (armed, reducing, tripped, awaitingReset), 0 for the others',
    labelNames: ['service', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      for (const source of sources) {
        const current = source();
        if (current === undefined) continue;
        for (const state of EssStateSchema.options) this.set({ service: SERVICE, state }, state === current ? 1 : 0);
      }
    },
  });
  const requests = new Counter({
    name: 'emergency_stop_trip_requests_total',
    help: 'ESS trips requested by operators through the API',
    labelNames: ['service'],
    registers: [registry],
  });
  requests.inc({ service: SERVICE }, 0);
  return { sources, requests: requests.labels({ service: SERVICE }) };
});

/**
 * Exports the state `current` reports (undefined while the actor is not
 * started) and returns the counter of operator trip requests.
 */
export function watchEss(registry: Registry, current: () => EssState | undefined): { inc(): void } {
  const metrics = essMetrics(registry);
  metrics.sources.add(current);
  return metrics.requests;
}
