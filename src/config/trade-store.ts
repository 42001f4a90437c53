/**
 * The settings of execution's trade store (docs/trade-store.md): which store
 * (`QT_TRADE_STORE`, SQLite by default), and for PostgreSQL its URL
 * (`DATABASE_URL`, a secret: it is only ever logged through `redactUrl`) and
 * its pool. Declared here, beside the rest of the schema, and spread into it;
 * {@link tradeStoreIssues} holds the cross-setting rule and
 * {@link tradeStoreConfig} builds the `tradeStore` part of the Config.
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

const positiveInt = z.coerce.number().int().positive();

/** The trade-store variables, spread into the EnvSchema. */
export const TRADE_STORE_ENV = {
  QT_TRADE_STORE: z.enum(['sqlite', 'postgres']).default('sqlite'),
  // The message never repeats the value: it carries the password.
  DATABASE_URL: z
    .url({ protocol: /^postgres(ql)?$/, message: 'must be a postgres:// or postgresql:// URL' })
    .optional(),
  QT_PG_POOL_MAX: positiveInt.max(1_000).default(DEFAULT_PG_POOL_MAX),
  QT_PG_CONNECT_TIMEOUT_MS: positiveInt.default(DEFAULT_PG_CONNECT_TIMEOUT_MS),
  QT_PG_IDLE_TIMEOUT_MS: positiveInt.default(DEFAULT_PG_IDLE_TIMEOUT_MS),
  QT_PG_QUERY_TIMEOUT_MS: positiveInt.default(DEFAULT_PG_QUERY_TIMEOUT_MS),
};

type TradeStoreEnv = z.output<z.ZodObject<typeof TRADE_STORE_ENV>>;

/** Missing settings of the chosen store, each with the key to blame. */
export function tradeStoreIssues(e: TradeStoreEnv): { key: string; message: string }[] {
  return e.QT_TRADE_STORE === 'postgres' && e.DATABASE_URL === undefined
    ? [{ key: 'DATABASE_URL', message: 'is required when QT_TRADE_STORE is postgres' }]
    : [];
}

/** The PostgreSQL store's connection and pool. */
export interface PostgresStoreConfig {
  /** Secret (it may carry a password): log it only through `redactUrl`. */
  readonly databaseUrl: string;
  readonly poolMax: number;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly queryTimeoutMs: number;
}

/** The `tradeStore` part of the Config: SQLite under QT_DATA_DIR, or PostgreSQL. */
export type TradeStoreConfig =
  | { readonly kind: 'sqlite' }
  | { readonly kind: 'postgres'; readonly postgres: PostgresStoreConfig };

export function tradeStoreConfig(e: TradeStoreEnv): TradeStoreConfig {
  if (e.QT_TRADE_STORE === 'sqlite') return { kind: 'sqlite' };
  return {
    kind: 'postgres',
    postgres: {
      // tradeStoreIssues requires it for postgres.
      databaseUrl: e.DATABASE_URL ?? '',
      poolMax: e.QT_PG_POOL_MAX,
      connectTimeoutMs: e.QT_PG_CONNECT_TIMEOUT_MS,
      idleTimeoutMs: e.QT_PG_IDLE_TIMEOUT_MS,
      queryTimeoutMs: e.QT_PG_QUERY_TIMEOUT_MS,
    },
  };
}
