import type { Logger } from '../../log.js';
import type { SymbolFilters } from './symbol-filters.js';

/** How long after a failed refresh a cached copy is used before the next try (bounded by the TTL). */
export const SYMBOL_FILTERS_RETRY_MS = 60_000;

/** Options of {@link SymbolFilterCache}. */
export interface SymbolFilterCacheOptions {
  /** Reads one symbol's filters from the venue; throws a `VenueError` when it cannot. */
  readonly fetch: (symbol: string) => Promise<SymbolFilters>;
  /** How long a fetched copy is used before it is fetched again. */
  readonly ttlMs: number;
  readonly now: () => number;
  readonly log: Logger;
}

interface Entry {
  readonly filters: SymbolFilters;
  readonly fetchedAt: number;
  /** The first time a `get` fetches again. */
  refreshAfter: number;
}

/**
 * Each symbol's filters, fetched on first use and again after `ttlMs`
 * (Binance changes them rarely, and each fetch costs request weight).
 * Concurrent orders of one symbol share one fetch. A refresh that fails
 * keeps the good copy in use (and tries again after
 * {@link SYMBOL_FILTERS_RETRY_MS}); only a symbol never fetched fails, with
 * the fetch's error.
 */
export class SymbolFilterCache {
  readonly #o: SymbolFilterCacheOptions;
  readonly #entries = new Map<string, Entry>();
  readonly #inFlight = new Map<string, Promise<SymbolFilters>>();

  constructor(options: SymbolFilterCacheOptions) {
    this.#o = options;
  }

  async get(symbol: string): Promise<SymbolFilters> {
    const entry = this.#entries.get(symbol);
    if (entry && this.#o.now() < entry.refreshAfter) return entry.filters;
    let pending = this.#inFlight.get(symbol);
    if (!pending) {
      pending = this.#refresh(symbol, entry).finally(() => this.#inFlight.delete(symbol));
      this.#inFlight.set(symbol, pending);
    }
    return pending;
  }

  /** The next `get` fetches again (the venue refused an order on a filter: its rules may have changed). */
  expire(symbol: string): void {
    const entry = this.#entries.get(symbol);
    if (entry) entry.refreshAfter = 0;
  }

  async #refresh(symbol: string, entry: Entry | undefined): Promise<SymbolFilters> {
    try {
      const filters = await this.#o.fetch(symbol);
      const now = this.#o.now();
      this.#entries.set(symbol, { filters, fetchedAt: now, refreshAfter: now + this.#o.ttlMs });
      return filters;
    } catch (err) {
      if (!entry) throw err;
      entry.refreshAfter = this.#o.now() + Math.min(SYMBOL_FILTERS_RETRY_MS, this.#o.ttlMs);
      this.#o.log.warn(
        { symbol, fetchedAt: new Date(entry.fetchedAt).toISOString(), err: (err as Error).message },
        'binance symbol filters not refreshed; the cached copy stays in use',
      );
      return entry.filters;
    }
  }
}
