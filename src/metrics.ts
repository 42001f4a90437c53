import type { Registry } from 'prom-client';

/**
 * Makes a metrics factory that creates its metrics once per registry.
 * prom-client refuses a second metric of the same name on a registry, and
 * every publisher, consumer and buffer of a process should share one set of
 * series; tests use a registry each.
 */
export function perRegistry<T>(create: (registry: Registry) => T): (registry: Registry) => T {
  const cache = new WeakMap<Registry, T>();
  return (registry) => {
    let metrics = cache.get(registry);
    if (metrics === undefined) {
      metrics = create(registry);
      cache.set(registry, metrics);
    }
    return metrics;
  };
}
