/**
 * Where monitoring-health keeps its alerts: one JSON document in Redis
 * (`qt:projection:{alerts}`) holding the alert engine's state (the last
 * check of each condition, the active alerts, the history) and an outbox of
 * the events a step produced. A step is saved with its events in the outbox
 * before they are published, and saved again without them after, so a
 * restart re-publishes what a crash may have cut off: alert events are
 * delivered at least once, never lost (docs/monitoring.md, "Persistence").
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Keys } from '../../streams/keys.js';
import { type AlertEvent, type AlertState, INITIAL_ALERT_STATE } from './alerts.js';

/** The projection name of the alert document. */
export const ALERTS_PROJECTION = 'alerts';

/** What is stored. */
export interface StoredAlerts {
  /** Incremented by every step of the engine (the save that empties the outbox keeps it). */
  readonly version: number;
  readonly state: AlertState;
  /** Events of the last step not yet known to be published. */
  readonly outbox: readonly AlertEvent[];
}

// The shape is checked loosely: the engine wrote it; what matters is that a damaged document is noticed.
const StoredSchema = z.object({
  version: z.number().int().nonnegative(),
  state: z.object({
    checks: z.record(z.string(), z.object({ component: z.string(), condition: z.string() }).loose()),
    active: z.record(z.string(), z.object({ alert_id: z.string(), level: z.enum(['CRITICAL', 'WARNING']) }).loose()),
    history: z.array(z.object({ alert_id: z.string() }).loose()),
  }),
  outbox: z.array(z.object({ type: z.enum(['health.alert_raised', 'health.alert_cleared']) }).loose()),
});

/** The result of a load: the stored document, nothing yet, or a document that cannot be read. */
export type LoadedAlerts =
  | { readonly found: true; readonly stored: StoredAlerts }
  | { readonly found: false; readonly unreadable?: string };

/** Reads and writes the alert document. */
export class AlertStore {
  readonly #redis: Redis;
  readonly #key: string;

  constructor(redis: Redis, keys: Keys) {
    this.#redis = redis;
    this.#key = keys.projection(ALERTS_PROJECTION);
  }

  get key(): string {
    return this.#key;
  }

  /**
   * Loads the document. One that does not parse is moved aside to
   * `<key>:unreadable` (kept for a person to look at) and reported, and the
   * engine starts afresh.
   */
  async load(): Promise<LoadedAlerts> {
    const raw = await this.#redis.get(this.#key);
    if (raw === null) return { found: false };
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch (err) {
      return this.#setAside(raw, `not JSON: ${(err as Error).message}`);
    }
    const checked = StoredSchema.safeParse(parsed);
    if (!checked.success) return this.#setAside(raw, checked.error.issues.map((i) => i.message).join('; '));
    return { found: true, stored: parsed as StoredAlerts };
  }

  async #setAside(raw: string, why: string): Promise<LoadedAlerts> {
    await this.#redis.set(`${this.#key}:unreadable`, raw);
    await this.#redis.del(this.#key);
    return { found: false, unreadable: why };
  }

  /** Writes the document (one SET: the whole state or nothing). */
  async save(stored: StoredAlerts): Promise<void> {
    await this.#redis.set(this.#key, JSON.stringify(stored));
  }
}

/** The document of a fresh engine. */
export const EMPTY_ALERTS: StoredAlerts = { version: 0, state: INITIAL_ALERT_STATE, outbox: [] };
