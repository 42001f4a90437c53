/**
 * The settings of monitoring-health (docs/monitoring.md, "Settings"): how
 * often and how patiently it polls, where the services are, the thresholds
 * of its probes and the optional webhook. Declared here, beside the rest of
 * the schema, and spread into it; {@link healthConfig} turns the parsed
 * variables into the `health` part of the Config.
 */
import { z } from 'zod';

/** Two limits of a probe: at or over `degraded` the component is DEGRADED, at or over `down` DOWN. */
export interface Thresholds {
  readonly degraded: number;
  readonly down: number;
}

/** The default thresholds of the trading probes. */
export const DEFAULT_PROBE_THRESHOLDS = {
  /** ms since a symbol's last `market.tick`. */
  staleFeedMs: { degraded: 5_000, down: 30_000 },
  /** Entries a consumer group is behind its stream. */
  lagEntries: { degraded: 1_000, down: 10_000 },
  /** Age of a group's oldest undelivered entry, seconds. */
  lagSeconds: { degraded: 5, down: 30 },
  /** Events a process holds in its disk buffer, not yet in Redis. */
  bufferBacklog: { degraded: 1, down: 10_000 },
  /** Age of a disk buffer's oldest event, ms. */
  bufferOldestMs: { degraded: 5_000, down: 60_000 },
  /** Sequence gaps consumers counted since the previous cycle. */
  sequenceGaps: { degraded: 1, down: 100 },
  /** Share of the exchange's request weight used in its window. */
  exchangeWeight: { degraded: 0.8, down: 0.95 },
  /** Difference between the exchange's clock and ours, ms (Binance refuses signed calls beyond recvWindow, 5 s). */
  clockSkewMs: { degraded: 1_000, down: 5_000 },
} as const satisfies Record<string, Thresholds>;

/** The name of a probe threshold setting. */
export type ProbeThresholdName = keyof typeof DEFAULT_PROBE_THRESHOLDS;

/** Default collection period. */
export const DEFAULT_HEALTH_INTERVAL_MS = 10_000;
/** Default timeout of each probe of a cycle. */
export const DEFAULT_HEALTH_TIMEOUT_MS = 3_000;
/** A service whose `GET /health` takes longer is DEGRADED (docs/architecture.md §12: 500 ms for HTTP). */
export const DEFAULT_HTTP_SLOW_MS = 500;
/** A Redis PING slower than this is DEGRADED (100 ms). */
export const DEFAULT_REDIS_SLOW_MS = 100;
/** How many resolved alerts the history keeps. */
export const DEFAULT_ALERT_HISTORY_LIMIT = 500;

const positiveInt = z.coerce.number().int().positive();

/** `DEGRADED,DOWN`, e.g. `5000,30000`; both non-negative and DEGRADED below DOWN. */
function thresholdPair(fallback: Thresholds) {
  return z
    .string()
    .transform((s, ctx) => {
      const parts = s.split(',').map((p) => p.trim());
      const [degraded, down] = parts.map(Number);
      if (parts.length !== 2 || !Number.isFinite(degraded) || !Number.isFinite(down)) {
        ctx.addIssue({ code: 'custom', message: 'must be two numbers DEGRADED,DOWN, e.g. 5000,30000' });
        return z.NEVER;
      }
      if ((degraded as number) < 0 || (degraded as number) >= (down as number)) {
        ctx.addIssue({ code: 'custom', message: 'needs 0 <= DEGRADED < DOWN' });
        return z.NEVER;
      }
      return { degraded: degraded as number, down: down as number };
    })
    .default(fallback);
}

const SERVICE_NAME = /^[a-z][a-z-]{1,40}$/;

/** `service=http://host:port,...`: where a service's `GET /health` is, when not on QT_HTTP_HOST. */
const targets = z
  .string()
  .transform((s, ctx) => {
    const out: Record<string, string> = {};
    for (const entry of s
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean)) {
      const i = entry.indexOf('=');
      const name = entry.slice(0, i);
      const url = entry.slice(i + 1);
      if (i <= 0 || !SERVICE_NAME.test(name) || !/^https?:\/\//.test(url) || !URL.canParse(url)) {
        ctx.addIssue({ code: 'custom', message: `entry "${entry}" must be service=http://host:port` });
        continue;
      }
      if (out[name] !== undefined) ctx.addIssue({ code: 'custom', message: `names ${name} twice` });
      out[name] = url.replace(/\/+$/, '');
    }
    return out;
  })
  .optional();

/** The monitoring-health variables, spread into the EnvSchema. */
export const HEALTH_ENV = {
  QT_HEALTH_INTERVAL_MS: positiveInt.min(100).max(3_600_000).default(DEFAULT_HEALTH_INTERVAL_MS),
  // Unset: 3 s, or less with a short interval (see healthConfig).
  QT_HEALTH_TIMEOUT_MS: positiveInt.max(60_000).optional(),
  QT_HEALTH_HTTP_SLOW_MS: positiveInt.default(DEFAULT_HTTP_SLOW_MS),
  QT_HEALTH_REDIS_SLOW_MS: positiveInt.default(DEFAULT_REDIS_SLOW_MS),
  QT_HEALTH_TARGETS: targets,
  QT_HEALTH_WEBHOOK_URL: z.url({ protocol: /^https?$/ }).optional(),
  QT_HEALTH_HISTORY_LIMIT: positiveInt.max(100_000).default(DEFAULT_ALERT_HISTORY_LIMIT),
  QT_HEALTH_STALE_FEED_MS: thresholdPair(DEFAULT_PROBE_THRESHOLDS.staleFeedMs),
  QT_HEALTH_LAG_ENTRIES: thresholdPair(DEFAULT_PROBE_THRESHOLDS.lagEntries),
  QT_HEALTH_LAG_SECONDS: thresholdPair(DEFAULT_PROBE_THRESHOLDS.lagSeconds),
  QT_HEALTH_BUFFER_BACKLOG: thresholdPair(DEFAULT_PROBE_THRESHOLDS.bufferBacklog),
  QT_HEALTH_BUFFER_OLDEST_MS: thresholdPair(DEFAULT_PROBE_THRESHOLDS.bufferOldestMs),
  QT_HEALTH_SEQUENCE_GAPS: thresholdPair(DEFAULT_PROBE_THRESHOLDS.sequenceGaps),
  QT_HEALTH_EXCHANGE_WEIGHT: thresholdPair(DEFAULT_PROBE_THRESHOLDS.exchangeWeight),
  QT_HEALTH_CLOCK_SKEW_MS: thresholdPair(DEFAULT_PROBE_THRESHOLDS.clockSkewMs),
};

type HealthEnv = z.output<z.ZodObject<typeof HEALTH_ENV>>;

/** The `health` part of the Config. */
export interface HealthConfig {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly httpSlowMs: number;
  readonly redisSlowMs: number;
  /** Service → base URL (`http://host:port`), for services not on QT_HTTP_HOST with the port offset. */
  readonly targets: Readonly<Record<string, string>>;
  /** A secret like any token: never logged. */
  readonly webhookUrl: string | undefined;
  readonly historyLimit: number;
  readonly thresholds: Readonly<Record<ProbeThresholdName, Thresholds>>;
}

/** The cross-setting rule: a probe must time out before the next cycle is due. */
export function healthRuleIssue(e: HealthEnv): { key: string; message: string } | undefined {
  return e.QT_HEALTH_TIMEOUT_MS === undefined || e.QT_HEALTH_TIMEOUT_MS < e.QT_HEALTH_INTERVAL_MS
    ? undefined
    : { key: 'QT_HEALTH_TIMEOUT_MS', message: 'must be below QT_HEALTH_INTERVAL_MS' };
}

/** The parsed variables as the `health` part of the Config. */
export function healthConfig(e: HealthEnv): HealthConfig {
  return {
    intervalMs: e.QT_HEALTH_INTERVAL_MS,
    // Unset, the timeout leaves a fifth of a short interval free, so one cycle ends before the next.
    timeoutMs: e.QT_HEALTH_TIMEOUT_MS ?? Math.min(DEFAULT_HEALTH_TIMEOUT_MS, Math.floor(e.QT_HEALTH_INTERVAL_MS * 0.8)),
    httpSlowMs: e.QT_HEALTH_HTTP_SLOW_MS,
    redisSlowMs: e.QT_HEALTH_REDIS_SLOW_MS,
    targets: e.QT_HEALTH_TARGETS ?? {},
    webhookUrl: e.QT_HEALTH_WEBHOOK_URL,
    historyLimit: e.QT_HEALTH_HISTORY_LIMIT,
    thresholds: {
      staleFeedMs: e.QT_HEALTH_STALE_FEED_MS,
      lagEntries: e.QT_HEALTH_LAG_ENTRIES,
      lagSeconds: e.QT_HEALTH_LAG_SECONDS,
      bufferBacklog: e.QT_HEALTH_BUFFER_BACKLOG,
      bufferOldestMs: e.QT_HEALTH_BUFFER_OLDEST_MS,
      sequenceGaps: e.QT_HEALTH_SEQUENCE_GAPS,
      exchangeWeight: e.QT_HEALTH_EXCHANGE_WEIGHT,
      clockSkewMs: e.QT_HEALTH_CLOCK_SKEW_MS,
    },
  };
}
