import { QtError } from '../errors.js';
import { type CsvFileOfSymbol, csvFileList, type ReplaySpeed } from './csv-replay.js';
import { type HealthConfig, healthConfig } from './health.js';
import { type BinanceFeedConfig, binanceFeedConfig, type FeedSourceName, feedSource } from './live-feed.js';
import { type LogFileConfig, logFileConfig } from './log-file.js';
import { type Env, EnvRulesSchema, EnvSchema } from './schema.js';
import { type TradeStoreConfig, tradeStoreConfig } from './trade-store.js';

/** Where to find Redis: one URL, or Sentinels that name the master. */
export type RedisTarget =
  | { readonly mode: 'standalone'; readonly url: string }
  | {
      readonly mode: 'sentinel';
      readonly sentinels: readonly { host: string; port: number }[];
      readonly masterName: string;
      /** Credentials and TLS for the data nodes, taken from REDIS_URL. */
      readonly url: string;
    };

/** The runtime's settings, grouped by the part of the system that uses them. */
export interface Config {
  readonly redis: RedisTarget & {
    readonly minReplicasAck: number;
    /** CA bundle (PEM file) that signs the server certificate, for rediss:// with a private CA. */
    readonly tlsCaFile: string | undefined;
    readonly waitTimeoutMs: number;
    readonly commandTimeoutMs: number;
    readonly breakerHalfOpenMs: number;
    /** True when REDIS_URL or REDIS_SENTINELS was set. */
    readonly explicit: boolean;
    /**
     * Whether to start a local redis-server child when nothing answers at
     * REDIS_URL: `auto` only when REDIS_URL was not set, `always` on
     * REDIS_URL's port, `never`.
     */
    readonly local: 'auto' | 'always' | 'never';
  };
  readonly buffer: {
    readonly synchronous: 'FULL' | 'NORMAL';
    readonly maxRows: number;
    readonly maxBytes: number;
    readonly whenFull: 'block' | 'reject';
    readonly blockTimeoutMs: number;
  };
  readonly keyPrefix: string;
  readonly producerId: string | undefined;
  readonly dataDir: string;
  readonly log: {
    readonly level: Env['QT_LOG_LEVEL'];
    readonly pretty: boolean | undefined;
    /** QT_LOG_FILE and its rotation; undefined: stdout only. */
    readonly file: LogFileConfig | undefined;
  };
  readonly consumer: {
    readonly maxDeliveries: number;
    readonly claimIdleMs: number;
    readonly blockMs: number;
    readonly readCount: number;
    readonly retryDelayMs: number;
  };
  readonly publisher: { readonly batchSize: number; readonly appendTimeoutMs: number };
  readonly retention: {
    readonly maxLen: number | undefined;
    readonly maxAgeMs: number | undefined;
    readonly intervalMs: number;
  };
  readonly http: { readonly host: string; readonly portOffset: number };
  /** monitoring-health: polling, probe thresholds, webhook (docs/monitoring.md). */
  readonly health: HealthConfig;
  readonly ess: {
    readonly softDrawdown: number;
    readonly hardDrawdown: number;
    readonly flashCrashDrop: number;
    readonly flashCrashWindowMs: number;
    readonly dailyLossLimit: number;
    readonly healthCriticalMs: number;
    readonly cooldownMs: number;
  };
  readonly feed: {
    /** Which feed runs: QT_FEED, else csv when QT_FEED_CSV is set, else synthetic. */
    readonly source: FeedSourceName;
    /** The live Binance feed (docs/live-feed.md). */
    readonly binance: BinanceFeedConfig;
    readonly seed: number;
    readonly symbols: readonly { symbol: string; startPrice: number }[];
    readonly ticksPerSecond: number;
    /** QT_FEED_CSV as given: a file, a directory, or `SYMBOL=path,...` (docs/market-data.md). */
    readonly csvPath: string | undefined;
    /** The `SYMBOL=path` pairs when QT_FEED_CSV is written that way. */
    readonly csvFiles: readonly CsvFileOfSymbol[] | undefined;
    /** QT_FEED_CSV_SYMBOL: a single file's symbol (BTCUSDT when unset). */
    readonly csvSymbol: string | undefined;
    /** QT_FEED_CSV_SPEED: a speed-up, or `max` (as fast as the pipeline consumes, on event time). */
    readonly csvSpeed: ReplaySpeed;
    /** QT_FEED_EXIT_WHEN_DONE: `main` stops by itself once a replay is done and its run report written. */
    readonly exitWhenDone: boolean;
    /** QT_RUN_REPORT: where a replay's run report goes; undefined means QT_DATA_DIR/run-report-<time>.json. */
    readonly runReportPath: string | undefined;
  };
  readonly adminToken: string | undefined;
  readonly exchange: {
    readonly venue: 'paper' | 'binance' | 'binance-testnet';
    /** Secrets: redacted from logs by path (`exchange.apiKey`, `exchange.apiSecret`). */
    readonly apiKey: string | undefined;
    readonly apiSecret: string | undefined;
    /** Overrides the venue's standard base URL (a proxy, or a local fake in tests). */
    readonly baseUrl: string | undefined;
    readonly paper: {
      readonly balances: Readonly<Record<string, number>>;
      readonly feeRate: number;
      readonly slippageBps: number;
    };
  };
  readonly execution: {
    readonly takeProfit: number;
    readonly stopLoss: number;
    readonly maxPendingMs: number;
  };
  /** Where execution records orders and fills (docs/trade-store.md). */
  readonly tradeStore: TradeStoreConfig;
  readonly summaryIntervalMs: number;
  readonly rl: {
    readonly windowSize: number;
    readonly horizonMs: number;
    readonly evaluateEvery: number;
    readonly margin: number;
  };
}

/** One bad setting: the environment variable and what is wrong with it. */
export interface ConfigIssue {
  readonly key: string;
  readonly message: string;
}

/**
 * Parses the environment into a frozen {@link Config}. Throws a `QtError`
 * with code `QT_CONFIG_INVALID` whose `details.issues` names every bad key;
 * nothing is partially applied.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const picked: Record<string, string> = {};
  for (const key of Object.keys(EnvSchema.shape)) {
    const value = env[key];
    // An empty variable means "not set", as shells make it easy to export one.
    if (value !== undefined && value !== '') picked[key] = value;
  }
  const parsed = EnvRulesSchema.safeParse(picked);
  if (!parsed.success) {
    const issues: ConfigIssue[] = parsed.error.issues.map((i) => ({
      key: String(i.path[0] ?? '(root)'),
      message: i.message,
    }));
    throw new QtError('QT_CONFIG_INVALID', formatConfigIssues(issues), { details: { issues } });
  }
  const e = parsed.data;
  const redisBase = e.REDIS_SENTINELS
    ? {
        mode: 'sentinel' as const,
        sentinels: e.REDIS_SENTINELS,
        masterName: e.REDIS_MASTER_NAME,
        url: e.REDIS_URL,
      }
    : { mode: 'standalone' as const, url: e.REDIS_URL };
  return deepFreeze({
    redis: {
      ...redisBase,
      minReplicasAck: e.REDIS_MIN_REPLICAS_ACK,
      tlsCaFile: e.REDIS_TLS_CA_FILE,
      waitTimeoutMs: e.REDIS_WAIT_TIMEOUT_MS,
      commandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS,
      breakerHalfOpenMs: e.REDIS_BREAKER_HALF_OPEN_MS,
      explicit: picked.REDIS_URL !== undefined || picked.REDIS_SENTINELS !== undefined,
      local: e.QT_LOCAL_REDIS,
    },
    buffer: {
      synchronous: e.QT_BUFFER_SYNCHRONOUS,
      maxRows: e.QT_BUFFER_MAX_ROWS,
      maxBytes: e.QT_BUFFER_MAX_BYTES,
      whenFull: e.QT_BUFFER_WHEN_FULL,
      blockTimeoutMs: e.QT_BUFFER_BLOCK_TIMEOUT_MS,
    },
    keyPrefix: e.QT_KEY_PREFIX,
    producerId: e.QT_PRODUCER_ID,
    dataDir: e.QT_DATA_DIR,
    log: { level: e.QT_LOG_LEVEL, pretty: e.QT_LOG_PRETTY, file: logFileConfig(e) },
    consumer: {
      maxDeliveries: e.QT_MAX_DELIVERIES,
      claimIdleMs: e.QT_CLAIM_IDLE_MS,
      blockMs: e.QT_BLOCK_MS,
      readCount: e.QT_READ_COUNT,
      retryDelayMs: e.QT_RETRY_DELAY_MS,
    },
    publisher: { batchSize: e.QT_PUBLISH_BATCH, appendTimeoutMs: e.QT_PUBLISH_TIMEOUT_MS },
    retention: {
      maxLen: e.QT_RETENTION_MAXLEN,
      maxAgeMs: e.QT_RETENTION_MAX_AGE_MS,
      intervalMs: e.QT_RETENTION_INTERVAL_MS,
    },
    http: { host: e.QT_HTTP_HOST, portOffset: e.QT_HTTP_PORT_OFFSET },
    health: healthConfig(e),
    ess: {
      softDrawdown: e.QT_ESS_SOFT_DRAWDOWN,
      hardDrawdown: e.QT_ESS_HARD_DRAWDOWN,
      flashCrashDrop: e.QT_ESS_FLASH_CRASH_DROP,
      flashCrashWindowMs: e.QT_ESS_FLASH_CRASH_WINDOW_MS,
      dailyLossLimit: e.QT_ESS_DAILY_LOSS_LIMIT,
      healthCriticalMs: e.QT_ESS_HEALTH_CRITICAL_MS,
      cooldownMs: e.QT_ESS_COOLDOWN_MS,
    },
    feed: {
      source: feedSource(e),
      binance: binanceFeedConfig(e),
      seed: e.QT_FEED_SEED,
      symbols: e.QT_FEED_SYMBOLS,
      ticksPerSecond: e.QT_FEED_TICKS_PER_SECOND,
      csvPath: e.QT_FEED_CSV,
      csvFiles: csvFileList(e.QT_FEED_CSV),
      csvSymbol: e.QT_FEED_CSV_SYMBOL,
      csvSpeed: e.QT_FEED_CSV_SPEED,
      exitWhenDone: e.QT_FEED_EXIT_WHEN_DONE,
      runReportPath: e.QT_RUN_REPORT,
    },
    adminToken: e.QT_ADMIN_TOKEN,
    exchange: {
      venue: e.QT_EXCHANGE,
      apiKey: e.BINANCE_API_KEY,
      apiSecret: e.BINANCE_API_SECRET,
      baseUrl: e.BINANCE_BASE_URL,
      paper: { balances: e.QT_PAPER_BALANCES, feeRate: e.QT_PAPER_FEE_RATE, slippageBps: e.QT_PAPER_SLIPPAGE_BPS },
    },
    execution: {
      takeProfit: e.QT_TAKE_PROFIT,
      stopLoss: e.QT_STOP_LOSS,
      maxPendingMs: e.QT_ORDER_MAX_PENDING_MS,
    },
    tradeStore: tradeStoreConfig(e),
    summaryIntervalMs: e.QT_SUMMARY_INTERVAL_MS,
    rl: {
      windowSize: e.QT_RL_WINDOW,
      horizonMs: e.QT_RL_HORIZON_MS,
      evaluateEvery: e.QT_RL_EVALUATE_EVERY,
      margin: e.QT_RL_MARGIN,
    },
  });
}

/** Renders config issues as the message an operator sees at start-up. */
export function formatConfigIssues(issues: readonly ConfigIssue[]): string {
  const lines = issues.map((i) => `  - ${i.key}: ${i.message}`);
  return `Invalid configuration (${issues.length} ${issues.length === 1 ? 'problem' : 'problems'}):\n${lines.join('\n')}`;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
