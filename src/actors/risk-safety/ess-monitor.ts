import type { EssConfig, EssInputEvent, EssTrigger } from './ess-events.js';

/**
 * The ESS triggers as pure functions over plain data: what each automatic
 * trigger remembers between events, and which triggers an event fires.
 *
 * Triggers fire on a rising edge (their condition turns true), not on every
 * event while it holds: a daily loss that stays breached must not re-trip,
 * and so restart the cooldown, at every portfolio update. Conditions that
 * outlive a trip are handled where they matter: the drawdown peak is re-based
 * by a RESET (the operator acknowledged the loss), and a RESET is refused
 * while the daily loss or the CRITICAL health still holds.
 */

/** Tolerance of ratio comparisons, so that a 15 % fall computed in floating point is a 15 % fall. */
const RATIO_EPSILON = 1e-9;
/**
 * Relative step below which a new low refreshes the last point of a symbol's
 * price window instead of adding one. It bounds the window (about
 * ln(1/(1-drop))/step points before a trip) and can only overstate the window
 * high by this much, i.e. err towards tripping.
 */
export const FLASH_CRASH_PRICE_STEP = 0.001;
/** Hard cap of points per symbol, reached only after a fall far beyond the trip threshold. */
export const FLASH_CRASH_MAX_POINTS = 512;

/** `[at, price]`: a point of a symbol's price window. */
export type PricePoint = readonly [at: number, price: number];

/** What the automatic triggers remember; plain JSON, part of the persisted snapshot. */
export interface EssMonitor {
  /** The ESS clock: the largest `at` seen, so time never runs backwards across streams. */
  readonly now: number;
  readonly drawdown: {
    /** Equity high-water mark since start or the last RESET; null before the first portfolio update. */
    readonly peak: number | null;
    readonly equity: number | null;
    readonly soft: boolean;
    readonly hard: boolean;
  };
  readonly dailyLossBreached: boolean;
  readonly health: {
    /** When the current CRITICAL spell began; null while health is not CRITICAL. */
    readonly criticalSince: number | null;
    /** The current CRITICAL spell already tripped the ESS. */
    readonly fired: boolean;
  };
  /**
   * Per symbol, the window's running maxima: times increasing, prices
   * strictly decreasing, so the window high is the first point. A point is
   * dropped when it leaves the window or a later price is at least as high.
   */
  readonly prices: Readonly<Record<string, readonly PricePoint[]>>;
}

/** One trigger that fired. */
export interface TripCause {
  readonly trigger: EssTrigger;
  readonly reason: string;
  readonly operator?: string;
}

/** What one event did to the monitor and which triggers it fired. */
export interface Observation {
  readonly monitor: EssMonitor;
  /** Triggers that trip the ESS, in the order found. */
  readonly trips: TripCause[];
  /** Reason of a soft-drawdown edge, or null. */
  readonly soft: string | null;
}

/** The monitor of a fresh ESS: nothing seen yet. */
export function initialMonitor(): EssMonitor {
  return {
    now: 0,
    drawdown: { peak: null, equity: null, soft: false, hard: false },
    dailyLossBreached: false,
    health: { criticalSince: null, fired: false },
    prices: {},
  };
}

const pct = (ratio: number): string => `${(ratio * 100).toFixed(2)} %`;

/** Applies one input event: advances the clock, updates the trigger it feeds, then re-checks the health duration. */
export function observe(monitor: EssMonitor, event: EssInputEvent, config: EssConfig): Observation {
  let m: EssMonitor = { ...monitor, now: Math.max(monitor.now, event.at) };
  const trips: TripCause[] = [];
  let soft: string | null = null;
  switch (event.type) {
    case 'market.tick': {
      const tick = observeTick(m.prices[event.symbol] ?? [], event.symbol, event.price, event.at, config);
      m = { ...m, prices: { ...m.prices, [event.symbol]: tick.window } };
      if (tick.trip) trips.push(tick.trip);
      break;
    }
    case 'portfolio.updated': {
      const peak = Math.max(m.drawdown.peak ?? event.peakEquity, event.equity);
      const drawdown = peak > 0 ? Math.max(0, (peak - event.equity) / peak) : 0;
      const hard = drawdown >= config.hardDrawdown - RATIO_EPSILON;
      const softNow = drawdown >= config.softDrawdown - RATIO_EPSILON;
      const what = `drawdown ${pct(drawdown)} from peak equity ${peak} (equity ${event.equity})`;
      if (hard && !m.drawdown.hard) {
        trips.push({ trigger: 'drawdown_hard', reason: `${what} reached the hard limit ${pct(config.hardDrawdown)}` });
      }
      if (softNow && !m.drawdown.soft) soft = `${what} reached the soft limit ${pct(config.softDrawdown)}`;
      m = { ...m, drawdown: { peak, equity: event.equity, soft: softNow, hard } };
      const breached = event.dailyRealizedPnl <= -config.dailyLossLimit;
      if (breached && !m.dailyLossBreached) {
        trips.push({
          trigger: 'daily_loss',
          reason: `daily realized PnL ${event.dailyRealizedPnl} reached the loss limit ${config.dailyLossLimit}`,
        });
      }
      m = { ...m, dailyLossBreached: breached };
      break;
    }
    case 'health.snapshot_updated':
      m = {
        ...m,
        health:
          event.status === 'CRITICAL'
            ? { criticalSince: m.health.criticalSince ?? m.now, fired: m.health.fired }
            : { criticalSince: null, fired: false },
      };
      break;
    case 'TRIP':
      trips.push({ trigger: 'manual', reason: event.reason, operator: event.operator });
      break;
    case 'CLOCK':
    case 'RESET':
      break;
  }
  // Any event moves the clock, so the health duration is checked on all of them:
  // a health service that stops reporting while CRITICAL still trips the ESS on CLOCK.
  if (healthCritical(m, config) && !m.health.fired) {
    const since = m.health.criticalSince ?? m.now;
    trips.push({
      trigger: 'health_critical',
      reason: `system health CRITICAL for ${m.now - since} ms (limit ${config.healthCriticalMs} ms)`,
    });
    m = { ...m, health: { criticalSince: since, fired: true } };
  }
  return { monitor: m, trips, soft };
}

/** True once health has been CRITICAL for longer than `healthCriticalMs`. */
function healthCritical(m: EssMonitor, config: EssConfig): boolean {
  return m.health.criticalSince !== null && m.now - m.health.criticalSince > config.healthCriticalMs;
}

/** One tick against a symbol's window: the new window and, on a crash, the trip. */
function observeTick(
  previous: readonly PricePoint[],
  symbol: string,
  price: number,
  at: number,
  config: EssConfig,
): { window: readonly PricePoint[]; trip?: TripCause } {
  const last = previous.at(-1);
  // A tick older than the symbol's last one is stale; ticks of one symbol come from one producer in order.
  if (last && at < last[0]) return { window: previous };
  let window = previous.filter(([t]) => at - t <= config.flashCrashWindowMs);
  const high = window[0];
  if (high && (high[1] - price) / high[1] >= config.flashCrashDrop - RATIO_EPSILON) {
    const fall = (high[1] - price) / high[1];
    return {
      // The crash is one episode: the window restarts at the crash price, so later
      // ticks of the same fall do not trip again unless the price falls a further `flashCrashDrop`.
      window: [[at, price]],
      trip: {
        trigger: 'flash_crash',
        reason: `${symbol} fell ${pct(fall)} from ${high[1]} to ${price} in ${at - high[0]} ms`,
      },
    };
  }
  window = window.filter(([, p]) => p > price);
  const back = window.at(-1);
  if (back && back[1] <= price * (1 + FLASH_CRASH_PRICE_STEP)) window[window.length - 1] = [at, back[1]];
  else window.push([at, price]);
  return { window: window.length > FLASH_CRASH_MAX_POINTS ? window.slice(-FLASH_CRASH_MAX_POINTS) : window };
}

/**
 * The monitor after an accepted RESET: the drawdown high-water mark restarts
 * at the last known equity. Without this, a hard drawdown could never be reset
 * (equity cannot recover while only reduce-only exits are allowed) and would
 * re-trip at the next portfolio update.
 */
export function rebaseDrawdown(m: EssMonitor): EssMonitor {
  return { ...m, drawdown: { peak: m.drawdown.equity, equity: m.drawdown.equity, soft: false, hard: false } };
}

/** Conditions that still hold and forbid a RESET (a reset would otherwise hide them). */
export function blockingConditions(m: EssMonitor, config: EssConfig): string[] {
  const blocking: string[] = [];
  if (m.dailyLossBreached) blocking.push(`daily realized loss is at or beyond the limit ${config.dailyLossLimit}`);
  if (healthCritical(m, config)) blocking.push('system health is still CRITICAL');
  return blocking;
}
