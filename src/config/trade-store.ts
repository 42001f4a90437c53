/**
 * The settings of execution's trade store (docs/trade-store.md): which store
 * (`QT_TRADE_STORE`: SQLite by default, PostgreSQL, or both written with
 * reads from one), and for PostgreSQL its URL (`DATABASE_URL`, a secret: it
 * is only ever logged through `redactUrl`), the direct URL of its migrations
 * (`QT_PG_MIGRATION_URL`, a secret too; DATABASE_URL by default), its pool
 * and the writer's retry backoff. Declared here, beside the rest of the
 * schema, and spread into it; {@link tradeStoreIssues} holds the
 * cross-setting rules and {@link tradeStoreConfig} builds the `tradeStore`
 * part of the Config.
 */
import { z } from 'zod';

/** Default most connections of the pool. */
export const DEFAULT_PG_POOL_MAX = 10;
/** Default longest wait for a new connection. */
export const DEFAULT_PG_CONNECT_TIMEOUT_MS = 5_000;
/** Default time an idle pooled connection is kept. */
export const DEFAULT_PG_IDLE_TIMEOUT_MS = 30_000;
/** Default longest query (server `statement_timeout` and client `query_timeout`). */
export const DEFAULT_PG_QUERY_TIMEOUT_MS = 10_000;
/** Default first wait of the trade-store writer after a failed write; doubles per attempt. */
export const DEFAULT_PG_RETRY_BASE_MS = 250;
/** Default longest wait of the trade-store writer between two attempts. */
export const DEFAULT_PG_RETRY_MAX_MS = 10_000;

const positiveInt = z.coerce.number().int().positive();
/** A PostgreSQL URL; the message never repeats the value: it carries the password. */
const postgresUrl = () =>
  z.url({ protocol: /^postgres(ql)?$/, message: 'must be a postgres:// or postgresql:// URL' }).optional();

/** The trade-store variables, spread into the EnvSchema. */
export const TRADE_STORE_ENV = {
  QT_TRADE_STORE: z.enum(['sqlite', 'postgres', 'dual']).default('sqlite'),
  // With `dual`: the store that answers /orders and /trades (both are written).
  QT_TRADE_STORE_READ_FROM: z.enum(['sqlite', 'postgres']).default('sqlite'),
  DATABASE_URL: postgresUrl(),
  // A direct connection (not through PgBouncer) for what needs one session: the migrations' advisory lock.
  QT_PG_MIGRATION_URL: postgresUrl(),
  QT_PG_POOL_MAX: positiveInt.max(1_000).default(DEFAULT_PG_POOL_MAX),
  QT_PG_CONNECT_TIMEOUT_MS: positiveInt.default(DEFAULT_PG_CONNECT_TIMEOUT_MS),
  QT_PG_IDLE_TIMEOUT_MS: positiveInt.default(DEFAULT_PG_IDLE_TIMEOUT_MS),
  QT_PG_QUERY_TIMEOUT_MS: positiveInt.default(DEFAULT_PG_QUERY_TIMEOUT_MS),
  QT_PG_RETRY_BASE_MS: positiveInt.default(DEFAULT_PG_RETRY_BASE_MS),
  QT_PG_RETRY_MAX_MS: positiveInt.default(DEFAULT_PG_RETRY_MAX_MS),
};

type TradeStoreEnv = z.output<z.ZodObject<typeof TRADE_STORE_ENV>>;

/** Missing or contradictory settings of the chosen store, each with the key to blame. */
export function tradeStoreIssues(e: TradeStoreEnv): { key: string; message: string }[] {
  const issues: { key: string; message: string }[] = [];
  if (e.QT_TRADE_STORE !== 'sqlite' && e.DATABASE_URL === undefined)
    issues.push({ key: 'DATABASE_URL', message: `is required when QT_TRADE_STORE is ${e.QT_TRADE_STORE}` });
  if (e.QT_PG_RETRY_BASE_MS > e.QT_PG_RETRY_MAX_MS)
    issues.push({ key: 'QT_PG_RETRY_BASE_MS', message: 'must not be above QT_PG_RETRY_MAX_MS' });
  return issues;
}

/** The PostgreSQL store's connection, pool and retry backoff. */
export interface PostgresStoreConfig {
  /** Secret (it may carry a password): log it only through `redactUrl`. */
  readonly databaseUrl: string;
  /**
   * Secret too: the same database reached directly, for the migrations and
   * anything else that holds a session (advisory locks); `databaseUrl` unless
   * QT_PG_MIGRATION_URL is set.
   */
  readonly migrationUrl: string;
  readonly poolMax: number;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly queryTimeoutMs: number;
  /** The trade-store writer's backoff after a failed write: `baseMs` doubling up to `maxMs`. */
  readonly retry: { readonly baseMs: number; readonly maxMs: number };
}

/** The `tradeStore` part of the Config: SQLite under QT_DATA_DIR, PostgreSQL, or both (`dual`). */
export type TradeStoreConfig =
  | { readonly kind: 'sqlite' }
  | { readonly kind: 'postgres'; readonly postgres: PostgresStoreConfig }
  | { readonly kind: 'dual'; readonly readFrom: 'sqlite' | 'postgres'; readonly postgres: PostgresStoreConfig };

/** The PostgreSQL settings of parsed variables; `undefined` without DATABASE_URL. */
export function postgresStoreConfig(e: TradeStoreEnv): PostgresStoreConfig | undefined {
  if (e.DATABASE_URL === undefined) return undefined;
  return {
    databaseUrl: e.DATABASE_URL,
    migrationUrl: e.QT_PG_MIGRATION_URL ?? e.DATABASE_URL,
    poolMax: e.QT_PG_POOL_MAX,
    connectTimeoutMs: e.QT_PG_CONNECT_TIMEOUT_MS,
    idleTimeoutMs: e.QT_PG_IDLE_TIMEOUT_MS,
    queryTimeoutMs: e.QT_PG_QUERY_TIMEOUT_MS,
    retry: { baseMs: e.QT_PG_RETRY_BASE_MS, maxMs: e.QT_PG_RETRY_MAX_MS },
  };
}

export function tradeStoreConfig(e: TradeStoreEnv): TradeStoreConfig {
  const postgres = postgresStoreConfig(e);
  // tradeStoreIssues requires DATABASE_URL for postgres and dual.
  if (e.QT_TRADE_STORE === 'sqlite' || postgres === undefined) return { kind: 'sqlite' };
  if (e.QT_TRADE_STORE === 'postgres') return { kind: 'postgres', postgres };
  return { kind: 'dual', readFrom: e.QT_TRADE_STORE_READ_FROM, postgres };
}

/**
 * The PostgreSQL settings from an environment whatever QT_TRADE_STORE says
 * (`qt trades` works on a database the runtime may not use yet); undefined
 * without DATABASE_URL. Bad values are named, never repeated.
 */
export function postgresSettingsFromEnv(
  env: NodeJS.ProcessEnv,
): { ok: true; config: PostgresStoreConfig | undefined } | { ok: false; issues: string[] } {
  const parsed = z.object(TRADE_STORE_ENV).safeParse(env);
  if (!parsed.success)
    return { ok: false, issues: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) };
  const rules = tradeStoreIssues({ ...parsed.data, QT_TRADE_STORE: 'sqlite' });
  if (rules.length > 0) return { ok: false, issues: rules.map((i) => `${i.key}: ${i.message}`) };
  return { ok: true, config: postgresStoreConfig(parsed.data) };
}

/** A database URL for messages: `host:port/database`, without user, password or parameters. */
export function databaseLabel(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}${u.port ? `:${u.port}` : ''}${u.pathname || '/'}`;
  } catch {
    return '[unparseable DATABASE_URL]';
  }
}
