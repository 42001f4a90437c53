import type { Redis } from 'ioredis';
import { z } from 'zod';
import { QtError } from '../../errors.js';
import { KEY_PART_PATTERN } from '../../events/names.js';
import type { Logger } from '../../log.js';
import type { Keys } from '../../streams/keys.js';
import {
  DEFAULT_BINANCE_BAN_MS,
  DEFAULT_BINANCE_ORDERS_PER_10S,
  DEFAULT_BINANCE_ORDERS_PER_DAY,
  DEFAULT_BINANCE_WEIGHT_PER_MINUTE,
} from './limits.js';

/** Default venue name, written into order events and the limits key. */
export const DEFAULT_BINANCE_VENUE = 'binance';
/** Default `recvWindow`: how long after its `timestamp` Binance still accepts a signed request. */
export const DEFAULT_BINANCE_RECV_WINDOW_MS = 5000;
/** Default number of attempts of one call when failures are retryable. */
export const DEFAULT_BINANCE_MAX_ATTEMPTS = 4;
/** Default longest wait (Retry-After, budget window) the adapter sits out itself before failing `rate_limited`. */
export const DEFAULT_BINANCE_MAX_WAIT_MS = 10_000;
/** Default per-request timeout; after it a sent request's fate is `unknown`. */
export const DEFAULT_BINANCE_TIMEOUT_MS = 10_000;
/** Default first backoff step (doubles per failure, equal jitter). */
export const DEFAULT_BINANCE_BACKOFF_BASE_MS = 250;
/** Default backoff ceiling. */
export const DEFAULT_BINANCE_BACKOFF_MAX_MS = 5000;
/** Default time a symbol's filters are used before they are fetched again (Binance changes them rarely). */
export const DEFAULT_BINANCE_SYMBOL_FILTERS_TTL_MS = 3_600_000;

/** The plain settings of the Binance adapter, validated once at construction. */
export const BinanceSettingsSchema = z.object({
  baseUrl: z.url({ protocol: /^https?$/ }),
  apiKey: z.string().min(1, 'apiKey is required'),
  apiSecret: z.string().min(1, 'apiSecret is required'),
  venue: z.string().regex(KEY_PART_PATTERN, 'venue: letters, digits, _ . - only').default(DEFAULT_BINANCE_VENUE),
  recvWindow: z.number().int().positive().max(60_000).default(DEFAULT_BINANCE_RECV_WINDOW_MS),
  limits: z
    .object({
      weightPerMinute: z.number().int().positive().default(DEFAULT_BINANCE_WEIGHT_PER_MINUTE),
      ordersPer10s: z.number().int().positive().default(DEFAULT_BINANCE_ORDERS_PER_10S),
      ordersPerDay: z.number().int().positive().default(DEFAULT_BINANCE_ORDERS_PER_DAY),
    })
    .default({
      weightPerMinute: DEFAULT_BINANCE_WEIGHT_PER_MINUTE,
      ordersPer10s: DEFAULT_BINANCE_ORDERS_PER_10S,
      ordersPerDay: DEFAULT_BINANCE_ORDERS_PER_DAY,
    }),
  maxAttempts: z.number().int().min(1).max(20).default(DEFAULT_BINANCE_MAX_ATTEMPTS),
  maxWaitMs: z.number().int().min(0).default(DEFAULT_BINANCE_MAX_WAIT_MS),
  timeoutMs: z.number().int().positive().default(DEFAULT_BINANCE_TIMEOUT_MS),
  backoffBaseMs: z.number().int().min(0).default(DEFAULT_BINANCE_BACKOFF_BASE_MS),
  backoffMaxMs: z.number().int().min(0).default(DEFAULT_BINANCE_BACKOFF_MAX_MS),
  defaultBanMs: z.number().int().positive().default(DEFAULT_BINANCE_BAN_MS),
  symbolFiltersTtlMs: z.number().int().positive().default(DEFAULT_BINANCE_SYMBOL_FILTERS_TTL_MS),
});

/** Settings after defaults. */
export type BinanceSettings = z.output<typeof BinanceSettingsSchema>;

/** Options of `createBinanceAdapter`: the settings plus what is injected. */
export type BinanceAdapterOptions = z.input<typeof BinanceSettingsSchema> & {
  /** Connection for the shared limits hash (the caller owns and closes it). */
  readonly redis: Redis;
  /** Key builder; only `keys.venueLimits(venue)` is used. */
  readonly keys: Keys;
  /** Clock in epoch ms (default `Date.now`); tests pass a simulated one. */
  readonly now?: () => number;
  /** Waits `ms` (default a timer that `close()` interrupts); tests pass one that advances their clock. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Uniform [0, 1) source for backoff jitter (default `Math.random`). */
  readonly random?: () => number;
  readonly log?: Logger;
};

/**
 * Validates the plain settings, or throws `QT_CONFIG_INVALID` naming the bad
 * fields. Credentials are checked for presence only; their values never go
 * into the error.
 */
export function parseBinanceSettings(options: BinanceAdapterOptions): BinanceSettings {
  const { redis: _redis, keys: _keys, now: _now, sleep: _sleep, random: _random, log: _log, ...plain } = options;
  const parsed = BinanceSettingsSchema.safeParse(plain);
  if (parsed.success) return Object.freeze(parsed.data);
  const issues = parsed.error.issues.map((i) => ({ key: i.path.join('.') || '(root)', message: i.message }));
  throw new QtError(
    'QT_CONFIG_INVALID',
    `invalid Binance adapter options: ${issues.map((i) => `${i.key}: ${i.message}`).join('; ')}`,
    { details: { issues } },
  );
}
