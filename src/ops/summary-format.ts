/**
 * The run summary's numbers and its one human line (see RunSummary in
 * run-summary.ts). Pure, so the line can be tested without Redis.
 */
import type { EssState } from '../events/catalog.js';

/** What the run summary has seen since it started. */
export interface SummaryCounts {
  /** `market.tick` events. */
  readonly ticks: number;
  /** `signal.generated` events. */
  readonly signals: number;
  /** `order.approved` events. */
  readonly approved: number;
  /** `order.rejected` events. */
  readonly rejected: number;
  /** `order.placed` events. */
  readonly placed: number;
  /** `order.filled` events. */
  readonly filled: number;
  /** `order.cancelled` events. */
  readonly cancelled: number;
  /** `order.failed` events. */
  readonly failed: number;
  /** `ess.tripped` events. */
  readonly essTrips: number;
  /** Stream entries that were not valid envelopes. */
  readonly skipped: number;
  /** Equity of the latest `portfolio.updated`; undefined before the first. */
  readonly equity: number | undefined;
  /** Drawdown (0..1) of the latest `portfolio.updated`; undefined before the first. */
  readonly drawdown: number | undefined;
  /** ESS state from its projection; undefined while none has been read. */
  readonly ess: EssState | undefined;
}

/** The counts before anything was seen. */
export const EMPTY_SUMMARY: SummaryCounts = Object.freeze({
  ticks: 0,
  signals: 0,
  approved: 0,
  rejected: 0,
  placed: 0,
  filled: 0,
  cancelled: 0,
  failed: 0,
  essTrips: 0,
  skipped: 0,
  equity: undefined,
  drawdown: undefined,
  ess: undefined,
});

/** One summary record: the counts, the tick rate since the previous line, and whether Redis answers. */
export interface SummaryLine extends SummaryCounts {
  /** Ticks per second since the previous line. */
  readonly ticksPerSecond: number;
  readonly redis: 'up' | 'down';
}

function rate(perSecond: number): string {
  if (!(Number.isFinite(perSecond) && perSecond > 0)) return '0';
  return perSecond >= 10 ? String(Math.round(perSecond)) : String(Math.round(perSecond * 10) / 10);
}

/**
 * The human line, e.g.
 * `ticks 1204 (+12/s) · signals 8 · orders 6 approved / 2 rejected · fills 5 · equity 100012.40 (dd 0.3%) · ESS armed`.
 * Counts that are usually zero (cancelled, failed, trips, skipped) and an
 * unreachable Redis only appear when they matter.
 */
export function formatSummary(s: SummaryCounts & Partial<Pick<SummaryLine, 'ticksPerSecond' | 'redis'>>): string {
  const parts = [
    `ticks ${s.ticks}${s.ticksPerSecond === undefined ? '' : ` (+${rate(s.ticksPerSecond)}/s)`}`,
    `signals ${s.signals}`,
    `orders ${s.approved} approved / ${s.rejected} rejected`,
    `fills ${s.filled}`,
  ];
  if (s.cancelled > 0) parts.push(`cancelled ${s.cancelled}`);
  if (s.failed > 0) parts.push(`failed ${s.failed}`);
  parts.push(
    s.equity === undefined
      ? 'equity n/a'
      : `equity ${s.equity.toFixed(2)}${s.drawdown === undefined ? '' : ` (dd ${(s.drawdown * 100).toFixed(1)}%)`}`,
  );
  parts.push(`ESS ${s.ess ?? 'unknown'}${s.essTrips > 0 ? ` (${s.essTrips} trip${s.essTrips === 1 ? '' : 's'})` : ''}`);
  if (s.skipped > 0) parts.push(`skipped ${s.skipped}`);
  if (s.redis === 'down') parts.push('Redis down');
  return parts.join(' · ');
}
