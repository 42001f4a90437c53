/**
 * execution's view of its venue's request budget (docs/architecture.md §13),
 * read at scrape time from the venue (for Binance: the shared budget in
 * Redis every process on the IP spends): `qt_venue_weight_used{service,venue}`
 * and `qt_venue_weight_limit{service,venue}` for the current minute, and
 * `qt_venue_ban_seconds{service,venue}`, the seconds a 418 ban has left (0
 * when none). A venue without a budget (paper) has no such series.
 */
import { Gauge, type Registry } from 'prom-client';
import type { ExchangeAdapter, VenueUsage } from '../../exchange/adapter.js';
import { perRegistry } from '../../metrics.js';

/** How long a scrape waits for the budget before it leaves these series out. */
export const USAGE_READ_DEADLINE_MS = 500;

const SERVICE = 'execution';

type Venue = Pick<ExchangeAdapter, 'venue' | 'usage'>;

async function readUsage(venue: Venue): Promise<VenueUsage | undefined> {
  if (!venue.usage) return undefined;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), USAGE_READ_DEADLINE_MS);
  });
  try {
    return await Promise.race([venue.usage().catch(() => undefined), late]);
  } finally {
    clearTimeout(timer);
  }
}

const venueMetrics = perRegistry((registry: Registry) => {
  const venues = new Set<Venue>();
  const gauge = (name: string, help: string, value: (u: VenueUsage) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['service', 'venue'],
      registers: [registry],
      async collect() {
        this.reset();
        for (const venue of venues) {
          const usage = await readUsage(venue);
          if (usage) this.set({ service: SERVICE, venue: venue.venue }, value(usage));
        }
      },
    });
  gauge('qt_venue_weight_used', 'Request weight spent in the current minute (shared budget)', (u) => u.weightUsed);
  gauge('qt_venue_weight_limit', 'Request weight allowed per minute', (u) => u.weightLimit);
  gauge('qt_venue_ban_seconds', 'Seconds left of a venue ban (HTTP 418); 0 when none', (u) =>
    Math.max(0, (u.bannedUntil - Date.now()) / 1000),
  );
  return venues;
});

/** Exports `venue`'s budget on `registry` while the process runs. */
export function watchVenueUsage(registry: Registry, venue: Venue): void {
  venueMetrics(registry).add(venue);
}
