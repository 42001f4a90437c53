/**
 * The settings that choose the market feed (`QT_FEED`) and those of the live
 * Binance feed (docs/live-feed.md, docs/configuration.md). Declared here,
 * beside the rest of the schema, and spread into it; {@link feedSource}
 * resolves which feed runs and {@link binanceFeedConfig} builds the
 * `feed.binance` part of the Config.
 *
 * The rule: `QT_FEED` names the feed; left unset it is `csv` when
 * `QT_FEED_CSV` is set, else `synthetic`. `QT_FEED=csv` needs
 * `QT_FEED_CSV`; any other `QT_FEED` with `QT_FEED_CSV` set is a conflict.
 */
import { z } from 'zod';

/** Which feed runs. */
export type FeedSourceName = 'synthetic' | 'csv' | 'binance' | 'binance-testnet';

/** Default symbols of the live feed (those of the synthetic walk). */
export const DEFAULT_BINANCE_FEED_SYMBOLS = ['BTCUSDT', 'ETHUSDT', 'SOLUSDT'] as const;
/** Default renewal period: an hour before Binance cuts a connection at 24 h. */
export const DEFAULT_BINANCE_FEED_RENEW_MS = 23 * 3_600_000;
/** Default silence (no message, no ping) after which a connection is cut: Binance pings every 20 s. */
export const DEFAULT_BINANCE_FEED_STALE_MS = 60_000;
/** Default first reconnect delay (doubles per failure, equal jitter). */
export const DEFAULT_BINANCE_FEED_RECONNECT_BASE_MS = 500;
/** Default longest reconnect delay. */
export const DEFAULT_BINANCE_FEED_RECONNECT_MAX_MS = 30_000;
/** Binance's limit of streams on one connection. */
export const BINANCE_MAX_STREAMS = 1024;
/** Binance cuts a connection at 24 h; a renewal period must be below it. */
const BINANCE_CONNECTION_LIFETIME_MS = 24 * 3_600_000;

/** Kline intervals the feed accepts (Binance's, less `1w` and `1M`, which `market.candle` cannot carry). */
export const BINANCE_FEED_INTERVALS = [
  '1s',
  '1m',
  '3m',
  '5m',
  '15m',
  '30m',
  '1h',
  '2h',
  '4h',
  '6h',
  '8h',
  '12h',
  '1d',
  '3d',
] as const;

const positiveInt = z.coerce.number().int().positive();

/** A comma-separated list whose entries each match `entry`, none twice. */
function list<T extends string>(entry: z.ZodType<T, string>, example: string) {
  return z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((p) => p.trim())
        .filter(Boolean),
    )
    .pipe(z.array(entry).min(1, `needs one entry, e.g. ${example}`))
    .superRefine((items, ctx) => {
      const seen = new Set<string>();
      for (const item of items) {
        if (seen.has(item)) ctx.addIssue({ code: 'custom', message: `lists ${item} twice` });
        seen.add(item);
      }
    });
}

const symbolEntry = z
  .string()
  .regex(/^[A-Z0-9]{2,20}$/, 'each symbol must be upper-case letters and digits, e.g. BTCUSDT');
const intervalEntry = z.enum(BINANCE_FEED_INTERVALS, {
  message: `each interval must be one of ${BINANCE_FEED_INTERVALS.join(', ')}`,
});

/** The feed-choice and live-feed variables, spread into the EnvSchema. */
export const LIVE_FEED_ENV = {
  QT_FEED: z.enum(['synthetic', 'csv', 'binance', 'binance-testnet']).optional(),
  QT_FEED_BINANCE_SYMBOLS: list(symbolEntry, 'BTCUSDT,ETHUSDT').default([...DEFAULT_BINANCE_FEED_SYMBOLS]),
  QT_FEED_BINANCE_INTERVALS: list(intervalEntry, '1m,5m').default(['1m']),
  QT_FEED_BINANCE_TICKS: z.enum(['trades', 'bookTicker']).default('trades'),
  QT_FEED_BINANCE_WS_URL: z.url({ protocol: /^wss?$/, message: 'must be a ws:// or wss:// URL' }).optional(),
  QT_FEED_BINANCE_REST_URL: z.url({ protocol: /^https?$/, message: 'must be an http:// or https:// URL' }).optional(),
  QT_FEED_BINANCE_RENEW_MS: positiveInt
    .min(1_000)
    .lt(BINANCE_CONNECTION_LIFETIME_MS, 'must be below 86400000 (Binance cuts a connection at 24 h)')
    .default(DEFAULT_BINANCE_FEED_RENEW_MS),
  QT_FEED_BINANCE_STALE_MS: positiveInt.min(100).default(DEFAULT_BINANCE_FEED_STALE_MS),
  QT_FEED_BINANCE_RECONNECT_BASE_MS: positiveInt.default(DEFAULT_BINANCE_FEED_RECONNECT_BASE_MS),
  QT_FEED_BINANCE_RECONNECT_MAX_MS: positiveInt.default(DEFAULT_BINANCE_FEED_RECONNECT_MAX_MS),
};

type LiveFeedEnv = z.output<z.ZodObject<typeof LIVE_FEED_ENV>> & { readonly QT_FEED_CSV?: string | undefined };

/** The feed that runs, by the rule of the file comment (after {@link liveFeedIssues} found none). */
export function feedSource(e: LiveFeedEnv): FeedSourceName {
  return e.QT_FEED ?? (e.QT_FEED_CSV !== undefined ? 'csv' : 'synthetic');
}

/** Conflicting or impossible feed settings, each with the key to blame. */
export function liveFeedIssues(e: LiveFeedEnv): { key: string; message: string }[] {
  const issues: { key: string; message: string }[] = [];
  if (e.QT_FEED === 'csv' && e.QT_FEED_CSV === undefined) {
    issues.push({ key: 'QT_FEED_CSV', message: 'is required when QT_FEED is csv' });
  }
  if (e.QT_FEED !== undefined && e.QT_FEED !== 'csv' && e.QT_FEED_CSV !== undefined) {
    issues.push({
      key: 'QT_FEED',
      message: `is ${e.QT_FEED} but QT_FEED_CSV is set too: unset QT_FEED_CSV, or set QT_FEED=csv (or leave QT_FEED unset) to replay it`,
    });
  }
  const streams = e.QT_FEED_BINANCE_SYMBOLS.length * (e.QT_FEED_BINANCE_INTERVALS.length + 1);
  if (streams > BINANCE_MAX_STREAMS) {
    issues.push({
      key: 'QT_FEED_BINANCE_SYMBOLS',
      message: `makes ${streams} streams (a kline stream per interval and a tick stream per symbol); Binance allows ${BINANCE_MAX_STREAMS} on one connection`,
    });
  }
  if (e.QT_FEED_BINANCE_RECONNECT_BASE_MS > e.QT_FEED_BINANCE_RECONNECT_MAX_MS) {
    issues.push({
      key: 'QT_FEED_BINANCE_RECONNECT_BASE_MS',
      message: 'must not exceed QT_FEED_BINANCE_RECONNECT_MAX_MS',
    });
  }
  return issues;
}

/** The `feed.binance` part of the Config. */
export interface BinanceFeedConfig {
  readonly symbols: readonly string[];
  readonly intervals: readonly string[];
  readonly ticks: 'trades' | 'bookTicker';
  /** Overrides the source's stream URL (a proxy, or a local fake in tests). */
  readonly wsUrl: string | undefined;
  /** Overrides the source's REST URL for the back-fill. */
  readonly restUrl: string | undefined;
  readonly renewAfterMs: number;
  readonly staleAfterMs: number;
  readonly reconnectBaseMs: number;
  readonly reconnectMaxMs: number;
}

export function binanceFeedConfig(e: LiveFeedEnv): BinanceFeedConfig {
  return {
    symbols: e.QT_FEED_BINANCE_SYMBOLS,
    intervals: e.QT_FEED_BINANCE_INTERVALS,
    ticks: e.QT_FEED_BINANCE_TICKS,
    wsUrl: e.QT_FEED_BINANCE_WS_URL,
    restUrl: e.QT_FEED_BINANCE_REST_URL,
    renewAfterMs: e.QT_FEED_BINANCE_RENEW_MS,
    staleAfterMs: e.QT_FEED_BINANCE_STALE_MS,
    reconnectBaseMs: e.QT_FEED_BINANCE_RECONNECT_BASE_MS,
    reconnectMaxMs: e.QT_FEED_BINANCE_RECONNECT_MAX_MS,
  };
}
