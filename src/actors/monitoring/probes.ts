/**
 * The trading probes of monitoring-health as pure checks: each takes what was
 * measured (and, where time matters, the time of the measurement) and a
 * threshold setting, and says whether that part of the trading system is OK,
 * DEGRADED or DOWN, and why. No I/O: the collection loop measures, these
 * judge (docs/monitoring.md).
 */
import { DEFAULT_PROBE_THRESHOLDS, type Thresholds } from '../../config/health.js';
import type { EssState } from '../../events/catalog.js';

/** A component status, as `GET /health` reports one. */
export type ProbeStatus = 'OK' | 'DEGRADED' | 'DOWN';

/** The verdict of one probe. */
export interface ProbeResult {
  /** The component it is about: `marketdata`, `exchange`, `ess`, a service name. */
  readonly component: string;
  /** The condition it checks, stable across evaluations: `stale_feed:BTCUSDT`, `consumer_lag:execution`. */
  readonly condition: string;
  readonly status: ProbeStatus;
  /** One phrase: `BTCUSDT: last tick 42 s ago (over 30 s)`. */
  readonly reason: string;
  /** The measured values and the thresholds they were judged by. */
  readonly details: Readonly<Record<string, number | string | boolean | null>>;
}

export type { Thresholds };

const D = DEFAULT_PROBE_THRESHOLDS;
/** A market feed older than this is DEGRADED / DOWN (ms since the symbol's last `market.tick`). */
export const STALE_FEED_MS: Thresholds = D.staleFeedMs;
/** A consumer group this many entries behind its stream is DEGRADED / DOWN. */
export const LAG_ENTRIES: Thresholds = D.lagEntries;
/** A consumer group whose oldest undelivered entry is this old is DEGRADED / DOWN (seconds). */
export const LAG_SECONDS: Thresholds = D.lagSeconds;
/** A disk buffer holding this many events not yet in Redis is DEGRADED / DOWN. */
export const BUFFER_BACKLOG: Thresholds = D.bufferBacklog;
/** A disk buffer whose oldest event is this old is DEGRADED / DOWN (ms). */
export const BUFFER_OLDEST_MS: Thresholds = D.bufferOldestMs;
/** Sequence gaps seen since the previous evaluation: this many make it DEGRADED / DOWN. */
export const SEQUENCE_GAPS: Thresholds = D.sequenceGaps;
/** The share of the exchange's request weight used in its window that is DEGRADED / DOWN. */
export const EXCHANGE_WEIGHT_RATIO: Thresholds = D.exchangeWeight;
/** The exchange clock this far from ours (ms) is DEGRADED / DOWN. */
export const CLOCK_SKEW_MS: Thresholds = D.clockSkewMs;

const RANK: Record<ProbeStatus, number> = { OK: 0, DEGRADED: 1, DOWN: 2 };

/** The worse of two statuses. */
export function worse(a: ProbeStatus, b: ProbeStatus): ProbeStatus {
  return RANK[a] >= RANK[b] ? a : b;
}

/** A value judged against two limits. */
export function judge(value: number, limits: Thresholds): ProbeStatus {
  if (value >= limits.down) return 'DOWN';
  if (value >= limits.degraded) return 'DEGRADED';
  return 'OK';
}

const over = (status: ProbeStatus, limits: Thresholds, unit: string) =>
  status === 'OK' ? '' : ` (over ${status === 'DOWN' ? limits.down : limits.degraded}${unit})`;

/**
 * Stale feed: the age of a symbol's last `market.tick` at `now` (epoch ms).
 * A symbol that never ticked is DOWN: nothing can be traded on it.
 */
export function staleFeed(
  measured: { readonly symbol: string; readonly lastTickAt: number | null; readonly now: number },
  limits: Thresholds = STALE_FEED_MS,
): ProbeResult {
  const base = { component: 'marketdata', condition: `stale_feed:${measured.symbol}` };
  if (measured.lastTickAt === null)
    return {
      ...base,
      status: 'DOWN',
      reason: `${measured.symbol}: no tick yet`,
      details: { symbol: measured.symbol, age_ms: null, degraded_ms: limits.degraded, down_ms: limits.down },
    };
  // A tick stamped after `now` (clock skew between hosts) is fresh, not negative-aged.
  const age = Math.max(0, measured.now - measured.lastTickAt);
  const status = judge(age, limits);
  return {
    ...base,
    status,
    reason: `${measured.symbol}: last tick ${Math.round(age)} ms ago${over(status, limits, ' ms')}`,
    details: { symbol: measured.symbol, age_ms: age, degraded_ms: limits.degraded, down_ms: limits.down },
  };
}

/**
 * Consumer group lag, in entries and in seconds (the age of its oldest
 * undelivered entry): the worse of the two. Unknown (null) values judge
 * nothing; both unknown is OK with that said.
 */
export function consumerLag(
  measured: {
    readonly component: string;
    readonly group: string;
    readonly topic: string;
    readonly entries: number | null;
    readonly seconds: number | null;
  },
  limits: { readonly entries: Thresholds; readonly seconds: Thresholds } = {
    entries: LAG_ENTRIES,
    seconds: LAG_SECONDS,
  },
): ProbeResult {
  const byEntries = measured.entries === null ? 'OK' : judge(measured.entries, limits.entries);
  const bySeconds = measured.seconds === null ? 'OK' : judge(measured.seconds, limits.seconds);
  const status = worse(byEntries, bySeconds);
  const parts = [
    measured.entries === null ? 'entries unknown' : `${measured.entries} entries${over(byEntries, limits.entries, '')}`,
    measured.seconds === null ? 'age unknown' : `${measured.seconds} s${over(bySeconds, limits.seconds, ' s')}`,
  ];
  return {
    component: measured.component,
    condition: `consumer_lag:${measured.group}:${measured.topic}`,
    status,
    reason: `group ${measured.group} on ${measured.topic} behind by ${parts.join(', ')}`,
    details: {
      group: measured.group,
      topic: measured.topic,
      lag_entries: measured.entries,
      lag_seconds: measured.seconds,
      degraded_entries: limits.entries.degraded,
      down_entries: limits.entries.down,
      degraded_seconds: limits.seconds.degraded,
      down_seconds: limits.seconds.down,
    },
  };
}

/** Disk-buffer backlog: events not yet in Redis, and the age of the oldest (ms, null when empty). The worse of the two. */
export function diskBufferBacklog(
  measured: { readonly component: string; readonly pending: number; readonly oldestAgeMs: number | null },
  limits: { readonly backlog: Thresholds; readonly oldestMs: Thresholds } = {
    backlog: BUFFER_BACKLOG,
    oldestMs: BUFFER_OLDEST_MS,
  },
): ProbeResult {
  const byCount = judge(measured.pending, limits.backlog);
  const byAge = measured.oldestAgeMs === null ? 'OK' : judge(measured.oldestAgeMs, limits.oldestMs);
  const status = worse(byCount, byAge);
  const age =
    measured.oldestAgeMs === null
      ? ''
      : `, oldest ${Math.round(measured.oldestAgeMs)} ms${over(byAge, limits.oldestMs, ' ms')}`;
  return {
    component: measured.component,
    condition: 'disk_buffer',
    status,
    reason: `${measured.pending} events buffered${over(byCount, limits.backlog, '')}${age}`,
    details: {
      pending: measured.pending,
      oldest_age_ms: measured.oldestAgeMs,
      degraded_pending: limits.backlog.degraded,
      down_pending: limits.backlog.down,
      degraded_oldest_ms: limits.oldestMs.degraded,
      down_oldest_ms: limits.oldestMs.down,
    },
  };
}

/**
 * Sequence gaps: a counter of gaps (a producer's seq that jumped) that moved
 * since the previous evaluation. A counter that went down (a restart reset
 * it) counts its new value as the gaps seen since.
 */
export function sequenceGaps(
  measured: { readonly component: string; readonly previous: number; readonly current: number },
  limits: Thresholds = SEQUENCE_GAPS,
): ProbeResult {
  const moved = measured.current >= measured.previous ? measured.current - measured.previous : measured.current;
  const status = judge(moved, limits);
  return {
    component: measured.component,
    condition: 'sequence_gaps',
    status,
    reason: `${moved} sequence gap${moved === 1 ? '' : 's'} since the last evaluation${over(status, limits, '')}`,
    details: { gaps: moved, counter: measured.current, degraded_gaps: limits.degraded, down_gaps: limits.down },
  };
}

/** Exchange request weight used in its window against the venue's limit. */
export function exchangeWeight(
  measured: { readonly used: number; readonly limit: number },
  limits: Thresholds = EXCHANGE_WEIGHT_RATIO,
): ProbeResult {
  // No known limit (paper exchange) judges nothing.
  const ratio = measured.limit > 0 ? measured.used / measured.limit : 0;
  const status = judge(ratio, limits);
  const pct = (r: number) => `${Math.round(r * 100)}%`;
  return {
    component: 'exchange',
    condition: 'weight',
    status,
    reason: `request weight ${measured.used}/${measured.limit} (${pct(ratio)})${status === 'OK' ? '' : ` (over ${pct(status === 'DOWN' ? limits.down : limits.degraded)})`}`,
    details: {
      used: measured.used,
      limit: measured.limit,
      ratio,
      degraded_ratio: limits.degraded,
      down_ratio: limits.down,
    },
  };
}

/** The exchange's clock against ours: |server time − local time| in ms. */
export function clockSkew(measured: { readonly skewMs: number }, limits: Thresholds = CLOCK_SKEW_MS): ProbeResult {
  const size = Math.abs(measured.skewMs);
  const status = judge(size, limits);
  return {
    component: 'exchange',
    condition: 'clock_skew',
    status,
    reason: `exchange clock ${measured.skewMs >= 0 ? 'ahead' : 'behind'} by ${Math.round(size)} ms${over(status, limits, ' ms')}`,
    details: { skew_ms: measured.skewMs, degraded_ms: limits.degraded, down_ms: limits.down },
  };
}

/** The ESS state: tripped or awaiting a reset (trading halted) is DOWN; reducing (reduce-only) DEGRADED. */
export function essProbe(measured: { readonly state: EssState; readonly trigger?: string | undefined }): ProbeResult {
  const status: ProbeStatus =
    measured.state === 'tripped' || measured.state === 'awaitingReset'
      ? 'DOWN'
      : measured.state === 'reducing'
        ? 'DEGRADED'
        : 'OK';
  const cause = measured.trigger && status !== 'OK' ? ` (${measured.trigger})` : '';
  return {
    component: 'ess',
    condition: 'state',
    status,
    reason: `ESS ${measured.state}${cause}`,
    details: { state: measured.state, trigger: measured.trigger ?? null },
  };
}
