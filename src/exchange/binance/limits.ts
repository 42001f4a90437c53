import type { Redis } from 'ioredis';
import type { VenueError } from '../adapter.js';
import { retryAfterAt } from './classify.js';
import { withLimitScripts } from './limits-scripts.js';

/** Binance's default request-weight limit per minute and IP (`X-MBX-USED-WEIGHT-1M`). */
export const DEFAULT_BINANCE_WEIGHT_PER_MINUTE = 6000;
/** Binance's default new-order limit per 10 seconds (`X-MBX-ORDER-COUNT-10S`). */
export const DEFAULT_BINANCE_ORDERS_PER_10S = 100;
/** Binance's default new-order limit per day (`X-MBX-ORDER-COUNT-1D`). */
export const DEFAULT_BINANCE_ORDERS_PER_DAY = 200_000;

/** How long a 418 ban lasts when Binance gives neither `Retry-After` nor a time in the message (its minimum ban). */
export const DEFAULT_BINANCE_BAN_MS = 120_000;

/** Extra lifetime of the hash beyond its longest window, so a window is never dropped while still current. */
const TTL_MARGIN_MS = 60_000;

/** The limits the shared budget enforces before a call is sent. */
export interface BinanceLimits {
  readonly weightPerMinute: number;
  readonly ordersPer10s: number;
  readonly ordersPerDay: number;
}

/** A usage counter Binance reports in response headers. */
export type UsageCounter = 'weight' | 'orders';

/** One `X-MBX-USED-WEIGHT-<interval>` or `X-MBX-ORDER-COUNT-<interval>` header. */
export interface UsageReport {
  readonly counter: UsageCounter;
  /** Binance's interval label, upper-cased: `1M` (a minute), `10S`, `1D`. */
  readonly interval: string;
  readonly used: number;
}

/** Whether a call may be sent now, and if not, until when it may not. */
export type Admission =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: 'banned' | 'retry_after' | 'budget'; readonly until: number };

const UNIT_MS = { S: 1000, M: 60_000, H: 3_600_000, D: 86_400_000 } as const;

/** Milliseconds of a Binance interval label (`1M` → 60000), or undefined when it is not one. */
export function intervalMs(label: string): number | undefined {
  const m = /^(\d+)([SMHD])$/.exec(label.toUpperCase());
  if (!m) return undefined;
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

/** The usage headers of a Binance answer (names are case-insensitive; values the venue's counts). */
export function parseUsageHeaders(headers: Headers): UsageReport[] {
  const out: UsageReport[] = [];
  headers.forEach((value, name) => {
    const m = /^x-mbx-(used-weight|order-count)-(\d+[smhd])$/i.exec(name);
    const used = Number(value);
    if (!m || !Number.isFinite(used) || used < 0) return;
    out.push({
      counter: m[1]?.toLowerCase() === 'used-weight' ? 'weight' : 'orders',
      interval: m[2]!.toUpperCase(),
      used,
    });
  });
  return out;
}

/** Start of the window of `intervalMs` containing `now`; Binance windows are aligned to the epoch (UTC). */
export function windowStart(now: number, ms: number): number {
  return Math.floor(now / ms) * ms;
}

/** The hash field of a counter's window. */
export function counterField(counter: UsageCounter, interval: string, start: number): string {
  return `${counter}:${interval}:${start}`;
}

/** Options of {@link SharedLimits}. */
export interface SharedLimitsOptions {
  readonly redis: Redis;
  /** The venue's `keys.venueLimits(venue)` hash. */
  readonly key: string;
  readonly limits: BinanceLimits;
  readonly now: () => number;
}

/**
 * The Binance rate-limit state every process sharing one Redis (and so,
 * presumably, one IP) sees: Binance limits are per IP, so one process's
 * spending must hold the others back.
 *
 * Fields of the `qt:venue:{venue}:limits` hash:
 * - `bannedUntil`: epoch ms a 418 ban ends; no process calls before it.
 * - `retryAfterUntil`: epoch ms a 429's `Retry-After` ends; no process calls before it.
 * - `weight:<interval>:<windowStartMs>`: request weight used in that window
 *   (`weight:1M:1718000040000`), the larger of what processes reserved and
 *   what `X-MBX-USED-WEIGHT-<interval>` reported.
 * - `orders:<interval>:<windowStartMs>`: new orders in that window
 *   (`orders:10S:…`, `orders:1D:…`), likewise from `X-MBX-ORDER-COUNT-<interval>`.
 *
 * Times are the adapters' own clocks (`now()`), not the venue's: processes
 * sharing an IP normally share a host clock too.
 */
export class SharedLimits {
  readonly #redis: Redis;
  readonly #key: string;
  readonly #now: () => number;
  readonly #windows: readonly { counter: UsageCounter; interval: string; ms: number; limit: number }[];
  /** Last ban seen by this process, so a ban fails fast even without a Redis round trip. */
  #bannedUntil = 0;

  constructor(options: SharedLimitsOptions) {
    this.#redis = withLimitScripts(options.redis);
    this.#key = options.key;
    this.#now = options.now;
    const { weightPerMinute, ordersPer10s, ordersPerDay } = options.limits;
    this.#windows = [
      { counter: 'weight', interval: '1M', ms: UNIT_MS.M, limit: weightPerMinute },
      { counter: 'orders', interval: '10S', ms: 10 * UNIT_MS.S, limit: ordersPer10s },
      { counter: 'orders', interval: '1D', ms: UNIT_MS.D, limit: ordersPerDay },
    ];
  }

  /**
   * Spends `weight` (and `orders` new orders) of the current windows if all
   * have room, atomically across processes; otherwise says until when the
   * call must wait. A ban or a `Retry-After` hold refuses every call.
   */
  async acquire(weight: number, orders: number): Promise<Admission> {
    const now = this.#now();
    if (this.#bannedUntil > now) return { ok: false, reason: 'banned', until: this.#bannedUntil };
    const args: (string | number)[] = [];
    let expireAt = now;
    for (const w of this.#windows) {
      const amount = w.counter === 'weight' ? weight : orders;
      const start = windowStart(now, w.ms);
      args.push(counterField(w.counter, w.interval, start), w.limit, amount, start + w.ms);
      if (amount > 0) expireAt = Math.max(expireAt, start + w.ms + TTL_MARGIN_MS);
    }
    const reply = await this.#redis.qtVenueAcquire(this.#key, now, expireAt, this.#windows.length, ...args);
    const [verdict, until] = reply;
    if (verdict === 'ok') return { ok: true };
    const at = Number(until);
    if (verdict === 'banned') {
      this.#bannedUntil = Math.max(this.#bannedUntil, at);
      return { ok: false, reason: 'banned', until: at };
    }
    return { ok: false, reason: verdict === 'retry_after' ? 'retry_after' : 'budget', until: at };
  }

  /**
   * The request weight used in the current one-minute window and its limit,
   * and a ban in force (epoch ms, 0 when none): what monitoring-health
   * reads. Spends nothing.
   */
  async weightUsage(): Promise<{ used: number; limit: number; bannedUntil: number }> {
    const now = this.#now();
    const minute = this.#windows[0] as { interval: string; ms: number; limit: number };
    const [used, banned] = await this.#redis.hmget(
      this.#key,
      counterField('weight', minute.interval, windowStart(now, minute.ms)),
      'bannedUntil',
    );
    const bannedUntil = Number(banned ?? 0);
    return { used: Number(used ?? 0), limit: minute.limit, bannedUntil: bannedUntil > now ? bannedUntil : 0 };
  }

  /** Records the venue's usage headers into the current windows (keeping the larger count). */
  async record(reports: readonly UsageReport[]): Promise<void> {
    const now = this.#now();
    const args: (string | number)[] = [];
    let expireAt = now;
    let n = 0;
    for (const r of reports) {
      const ms = intervalMs(r.interval);
      if (ms === undefined) continue;
      const start = windowStart(now, ms);
      args.push(counterField(r.counter, r.interval, start), r.used);
      expireAt = Math.max(expireAt, start + ms + TTL_MARGIN_MS);
      n++;
    }
    if (n > 0) await this.#redis.qtVenueRecord(this.#key, now, expireAt, n, ...args);
  }

  /** Holds every process off until `until` (a 429's `Retry-After`); returns the hold in force. */
  async holdOff(until: number): Promise<number> {
    return Number(await this.#redis.qtVenueHold(this.#key, 'retryAfterUntil', until, this.#now()));
  }

  /**
   * Shares what a refused answer says with every process: a 418's ban (the
   * end `classifyAnswer` found) or a 429's `Retry-After`. Whoever received
   * the answer (an order, the feed's back-fill, monitoring's probe) must
   * call it, or the other processes keep calling into the ban. Returns what
   * was stored.
   */
  async shareRefusal(
    answer: { readonly status: number; readonly headers: Headers },
    error: VenueError,
    now: number,
  ): Promise<'banned' | 'held' | undefined> {
    if (error.kind === 'banned' && error.retryAt !== undefined) {
      await this.ban(error.retryAt);
      return 'banned';
    }
    const until = answer.status === 429 ? retryAfterAt(answer.headers, now) : undefined;
    if (until === undefined) return undefined;
    await this.holdOff(until);
    return 'held';
  }

  /** Bans calls from every process until `until` (a 418); returns the ban in force. */
  async ban(until: number): Promise<number> {
    this.#bannedUntil = Math.max(this.#bannedUntil, until);
    return Number(await this.#redis.qtVenueHold(this.#key, 'bannedUntil', until, this.#now()));
  }
}
