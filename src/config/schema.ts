import { z } from 'zod';
import { csvReplayIssues, FeedCsvSchema, FeedCsvSpeedSchema } from './csv-replay.js';
import {
  DEFAULT_BUFFER_BLOCK_TIMEOUT_MS,
  DEFAULT_BUFFER_MAX_BYTES,
  DEFAULT_BUFFER_MAX_ROWS,
  DEFAULT_COOLDOWN_MS,
  DEFAULT_DAILY_LOSS_LIMIT,
  DEFAULT_FLASH_CRASH_DROP,
  DEFAULT_FLASH_CRASH_WINDOW_MS,
  DEFAULT_HARD_DRAWDOWN,
  DEFAULT_HEALTH_CRITICAL_MS,
  DEFAULT_RL_EVALUATE_EVERY,
  DEFAULT_RL_HORIZON_MS,
  DEFAULT_RL_PROMOTION_MARGIN,
  DEFAULT_RL_WINDOW_SIZE,
  DEFAULT_SOFT_DRAWDOWN,
  MAX_SYNTHETIC_TICKS_PER_SECOND,
} from './defaults.js';
import { HEALTH_ENV, healthRuleIssue } from './health.js';
import { LIVE_FEED_ENV, liveFeedIssues } from './live-feed.js';
import { LOG_FILE_ENV } from './log-file.js';
import { TRADE_STORE_ENV, tradeStoreIssues } from './trade-store.js';

/** Default Redis URL: the local server on its standard port. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
/** Default key prefix; every Redis key starts with it. */
export const DEFAULT_KEY_PREFIX = 'qt';
/** A handler that fails this many deliveries sends the entry to the DLQ. */
export const DEFAULT_MAX_DELIVERIES = 5;
/** Entries idle this long on another consumer are reclaimed (XAUTOCLAIM). */
export const DEFAULT_CLAIM_IDLE_MS = 30_000;
/** Longest BLOCK of one XREADGROUP; short enough to notice a dead connection. */
export const DEFAULT_BLOCK_MS = 2_000;
/** Entries read per XREADGROUP. */
export const DEFAULT_READ_COUNT = 256;
/** Events sent per publish batch (one Lua call). */
export const DEFAULT_PUBLISH_BATCH = 512;
/** How long an append may go unanswered before the publisher parks it in the disk buffer. */
export const DEFAULT_APPEND_TIMEOUT_MS = 2_000;
/** Delay before a failed handler is retried. */
export const DEFAULT_RETRY_DELAY_MS = 500;

const boolish = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const positiveInt = z.coerce.number().int().positive();
const nonNegativeInt = z.coerce.number().int().nonnegative();

const redisUrl = z
  .string()
  .refine((s) => /^rediss?:\/\//.test(s) && URL.canParse(s), 'must be a redis:// or rediss:// URL');

const hostPortList = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean),
  )
  .pipe(
    z
      .array(z.string().regex(/^[^:\s]+:\d{1,5}$/, 'each entry must be host:port'))
      .min(1, 'needs at least one host:port'),
  )
  .transform((list) =>
    list.map((hp) => {
      const i = hp.lastIndexOf(':');
      return { host: hp.slice(0, i), port: Number(hp.slice(i + 1)) };
    }),
  );

/**
 * A comma-separated list of `NAME:amount` pairs (symbols with start prices,
 * assets with balances): each entry well formed, no name twice, and, where
 * `positive` names the amount, every amount above zero.
 */
function namedAmounts(shape: string, example: string, maxName: number, positive?: string) {
  const entry = new RegExp(`^[A-Z0-9]{2,${maxName}}:\\d+(\\.\\d+)?$`);
  return z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((p) => p.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().regex(entry, `each entry must be ${shape}, e.g. ${example}`)).min(1, 'needs one entry'))
    .transform((list) =>
      list.map((p) => {
        const [name, amount] = p.split(':') as [string, string];
        return { name, amount: Number(amount) };
      }),
    )
    .superRefine((list, ctx) => {
      const seen = new Set<string>();
      for (const { name, amount } of list) {
        if (seen.has(name)) ctx.addIssue({ code: 'custom', message: `lists ${name} twice` });
        seen.add(name);
        if (positive && !(amount > 0)) ctx.addIssue({ code: 'custom', message: `${name} needs ${positive} above 0` });
      }
    });
}

const keyPart = z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/i, 'letters, digits, _ . - only');

/**
 * Every setting of the runtime, read from the environment. Each key is the
 * environment variable's name; `docs/configuration.md` lists them with their
 * defaults. Parse once with {@link loadConfig}, then pass the frozen result.
 */
export const EnvSchema = z.object({
  REDIS_URL: redisUrl.default(DEFAULT_REDIS_URL),
  REDIS_SENTINELS: hostPortList.optional(),
  REDIS_MASTER_NAME: keyPart.default('mymaster'),
  REDIS_TLS_CA_FILE: z.string().min(1).optional(),
  REDIS_MIN_REPLICAS_ACK: nonNegativeInt.default(0),
  QT_LOCAL_REDIS: z.enum(['auto', 'always', 'never']).default('auto'),
  QT_KEY_PREFIX: keyPart.default(DEFAULT_KEY_PREFIX),
  QT_PRODUCER_ID: keyPart.optional(),
  QT_DATA_DIR: z.string().min(1).default('var'),
  QT_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  QT_LOG_PRETTY: boolish.optional(),
  ...LOG_FILE_ENV,
  QT_MAX_DELIVERIES: positiveInt.default(DEFAULT_MAX_DELIVERIES),
  QT_CLAIM_IDLE_MS: positiveInt.default(DEFAULT_CLAIM_IDLE_MS),
  QT_BLOCK_MS: positiveInt.max(60_000).default(DEFAULT_BLOCK_MS),
  QT_READ_COUNT: positiveInt.max(10_000).default(DEFAULT_READ_COUNT),
  QT_PUBLISH_BATCH: positiveInt.max(10_000).default(DEFAULT_PUBLISH_BATCH),
  QT_RETRY_DELAY_MS: nonNegativeInt.default(DEFAULT_RETRY_DELAY_MS),
  QT_RETENTION_MAXLEN: positiveInt.optional(),
  QT_RETENTION_MAX_AGE_MS: positiveInt.optional(),
  QT_RETENTION_INTERVAL_MS: positiveInt.default(60_000),
  REDIS_COMMAND_TIMEOUT_MS: positiveInt.default(5_000),
  REDIS_BREAKER_HALF_OPEN_MS: positiveInt.default(60_000),
  REDIS_WAIT_TIMEOUT_MS: positiveInt.default(1_000),
  QT_PUBLISH_TIMEOUT_MS: positiveInt.max(60_000).default(DEFAULT_APPEND_TIMEOUT_MS),
  QT_BUFFER_SYNCHRONOUS: z.enum(['FULL', 'NORMAL']).default('FULL'),
  QT_BUFFER_MAX_ROWS: positiveInt.default(DEFAULT_BUFFER_MAX_ROWS),
  QT_BUFFER_MAX_BYTES: positiveInt.default(DEFAULT_BUFFER_MAX_BYTES),
  QT_BUFFER_WHEN_FULL: z.enum(['block', 'reject']).default('block'),
  QT_BUFFER_BLOCK_TIMEOUT_MS: positiveInt.default(DEFAULT_BUFFER_BLOCK_TIMEOUT_MS),
  QT_HTTP_HOST: z.string().min(1).default('127.0.0.1'),
  QT_HTTP_PORT_OFFSET: z.coerce.number().int().min(-8000).max(50_000).default(0),
  ...HEALTH_ENV,
  QT_ESS_SOFT_DRAWDOWN: z.coerce.number().gt(0).lt(1).default(DEFAULT_SOFT_DRAWDOWN),
  QT_ESS_HARD_DRAWDOWN: z.coerce.number().gt(0).lt(1).default(DEFAULT_HARD_DRAWDOWN),
  QT_ESS_FLASH_CRASH_DROP: z.coerce.number().gt(0).lt(1).default(DEFAULT_FLASH_CRASH_DROP),
  QT_ESS_FLASH_CRASH_WINDOW_MS: positiveInt.default(DEFAULT_FLASH_CRASH_WINDOW_MS),
  QT_ESS_DAILY_LOSS_LIMIT: z.coerce.number().positive().default(DEFAULT_DAILY_LOSS_LIMIT),
  QT_ESS_HEALTH_CRITICAL_MS: positiveInt.default(DEFAULT_HEALTH_CRITICAL_MS),
  QT_ESS_COOLDOWN_MS: positiveInt.default(DEFAULT_COOLDOWN_MS),
  QT_FEED_SEED: z.coerce.number().int().default(42),
  QT_FEED_SYMBOLS: namedAmounts('SYMBOL:startPrice', 'BTCUSDT:65000', 20, 'a start price')
    .default([
      { name: 'BTCUSDT', amount: 65_000 },
      { name: 'ETHUSDT', amount: 3_200 },
      { name: 'SOLUSDT', amount: 150 },
    ])
    .transform((list) => list.map(({ name, amount }) => ({ symbol: name, startPrice: amount }))),
  QT_FEED_TICKS_PER_SECOND: z.coerce.number().positive().max(MAX_SYNTHETIC_TICKS_PER_SECOND).default(5),
  QT_FEED_CSV: FeedCsvSchema.optional(),
  QT_FEED_CSV_SPEED: FeedCsvSpeedSchema,
  QT_FEED_EXIT_WHEN_DONE: boolish.default(false),
  QT_RUN_REPORT: z.string().min(1).optional(),
  QT_FEED_CSV_SYMBOL: z
    .string()
    .regex(/^[A-Z0-9]{2,20}$/, 'must be a symbol like BTCUSDT')
    .optional(),
  ...LIVE_FEED_ENV,
  QT_ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  QT_EXCHANGE: z.enum(['paper', 'binance', 'binance-testnet']).default('paper'),
  BINANCE_API_KEY: z.string().min(1).optional(),
  BINANCE_API_SECRET: z.string().min(1).optional(),
  BINANCE_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
  QT_PAPER_BALANCES: namedAmounts('ASSET:amount', 'USDT:100000', 10)
    .default([{ name: 'USDT', amount: 100_000 }])
    .transform((list) => Object.fromEntries(list.map(({ name, amount }) => [name, amount]))),
  QT_PAPER_FEE_RATE: z.coerce.number().min(0).lt(1).default(0.001),
  QT_PAPER_SLIPPAGE_BPS: z.coerce.number().min(0).lt(10_000).default(5),
  QT_TAKE_PROFIT: z.coerce.number().min(0).lt(1).default(0.03),
  QT_STOP_LOSS: z.coerce.number().min(0).lt(1).default(0.02),
  QT_ORDER_MAX_PENDING_MS: positiveInt.default(30_000),
  ...TRADE_STORE_ENV,
  QT_SUMMARY_INTERVAL_MS: nonNegativeInt.default(5_000),
  QT_RL_WINDOW: positiveInt.max(100_000).default(DEFAULT_RL_WINDOW_SIZE),
  QT_RL_HORIZON_MS: positiveInt.default(DEFAULT_RL_HORIZON_MS),
  QT_RL_EVALUATE_EVERY: positiveInt.default(DEFAULT_RL_EVALUATE_EVERY),
  QT_RL_MARGIN: z.coerce.number().min(0).finite().default(DEFAULT_RL_PROMOTION_MARGIN),
});

/** Cross-setting rules, checked after each setting parsed on its own. */
export const EnvRulesSchema = EnvSchema.refine((e) => e.QT_EXCHANGE === 'paper' || e.BINANCE_API_KEY !== undefined, {
  message: 'is required when QT_EXCHANGE is binance or binance-testnet',
  path: ['BINANCE_API_KEY'],
})
  .refine((e) => e.QT_EXCHANGE === 'paper' || e.BINANCE_API_SECRET !== undefined, {
    message: 'is required when QT_EXCHANGE is binance or binance-testnet',
    path: ['BINANCE_API_SECRET'],
  })
  .refine((e) => e.QT_ESS_SOFT_DRAWDOWN < e.QT_ESS_HARD_DRAWDOWN, {
    message: 'must be below QT_ESS_HARD_DRAWDOWN',
    path: ['QT_ESS_SOFT_DRAWDOWN'],
  })
  .refine((e) => e.REDIS_WAIT_TIMEOUT_MS < e.REDIS_COMMAND_TIMEOUT_MS, {
    // A WAIT that runs its full time must come back as "too few replicas",
    // not be cut off by the command timeout (and stall what queues behind it).
    message: 'must be below REDIS_COMMAND_TIMEOUT_MS',
    path: ['REDIS_WAIT_TIMEOUT_MS'],
  })
  .superRefine((e, ctx) => {
    const issue = healthRuleIssue(e);
    if (issue) ctx.addIssue({ code: 'custom', message: issue.message, path: [issue.key] });
  })
  .superRefine((e, ctx) => {
    for (const issue of liveFeedIssues(e)) ctx.addIssue({ code: 'custom', message: issue.message, path: [issue.key] });
  })
  .superRefine((e, ctx) => {
    for (const issue of csvReplayIssues(e)) ctx.addIssue({ code: 'custom', message: issue.message, path: [issue.key] });
  })
  .superRefine((e, ctx) => {
    for (const issue of tradeStoreIssues(e))
      ctx.addIssue({ code: 'custom', message: issue.message, path: [issue.key] });
  });

/** The parsed settings, as the environment spelled them. */
export type Env = z.infer<typeof EnvSchema>;
