/**
 * The PostgreSQL probe of a monitoring cycle (docs/monitoring.md, "What is
 * collected"): with the PostgreSQL trade store configured (`QT_TRADE_STORE`
 * `postgres` or `dual`), `postgres` is in the infrastructure list. One
 * `SELECT 1` through a one-connection pool of its own (`qt-monitoring`),
 * timed: DOWN when it does not answer within the probe timeout or fails,
 * DEGRADED above {@link POSTGRES_SLOW_MS}. Not critical: orders and fills go
 * on without the store (docs/trade-store.md, "The writer"), so a DOWN
 * PostgreSQL makes the system DEGRADED, not CRITICAL. Never throws; never
 * names the password (the database is `host:port/database`).
 */
import pg from 'pg';
import type { Config } from '../../config/load.js';
import { databaseLabel, type PostgresStoreConfig } from '../../config/trade-store.js';
import { pgConnectionConfig } from '../../exchange/pg-trade-store.js';
import { deadline, type InfraReading } from './probe-infra.js';

/** Latency above which PostgreSQL counts as slow (as in execution's `/health`). */
export const POSTGRES_SLOW_MS = 200;

const rounded = (ms: number) => Math.round(ms * 10) / 10;

/** The database a cycle probes, with the connection it keeps between cycles. */
export class PostgresProbe {
  readonly label: string;
  readonly #pool: pg.Pool;
  #closed: Promise<void> | undefined;

  constructor(settings: PostgresStoreConfig) {
    this.label = databaseLabel(settings.databaseUrl);
    this.#pool = new pg.Pool({
      ...pgConnectionConfig({ ...settings, applicationName: 'qt-monitoring' }),
      max: 1,
      idleTimeoutMillis: settings.idleTimeoutMs,
    });
    // A kept connection that breaks is dropped and reopened by the next cycle; its error must not crash us.
    this.#pool.on('error', () => undefined);
  }

  /** One timed `SELECT 1`; see the file comment. */
  async probe(options: { readonly timeoutMs: number; readonly slowMs?: number }): Promise<InfraReading> {
    const slowMs = options.slowMs ?? POSTGRES_SLOW_MS;
    const details = { database: this.label };
    const started = performance.now();
    try {
      await deadline(this.#pool.query('SELECT 1'), options.timeoutMs, 'SELECT 1');
      const latencyMs = rounded(performance.now() - started);
      const slow = latencyMs > slowMs;
      return {
        name: 'postgres',
        status: slow ? 'DEGRADED' : 'OK',
        latencyMs,
        critical: false,
        ...(slow ? { error: `SELECT 1 took ${Math.round(latencyMs)} ms (over ${slowMs} ms)` } : {}),
        details,
      };
    } catch (err) {
      return {
        name: 'postgres',
        status: 'DOWN',
        latencyMs: null,
        critical: false,
        error: (err as Error).message,
        details,
      };
    }
  }

  close(): Promise<void> {
    this.#closed ??= this.#pool.end().catch(() => undefined);
    return this.#closed;
  }
}

/** The probe of the configured PostgreSQL trade store; undefined with the SQLite store. */
export function postgresProbeFromConfig(config: Config): PostgresProbe | undefined {
  const store = config.tradeStore;
  return store.kind === 'sqlite' ? undefined : new PostgresProbe(store.postgres);
}
