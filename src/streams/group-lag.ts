/**
 * How far behind its stream a consumer group is: entries not yet delivered
 * to it and the age of the oldest of them, read from XINFO GROUPS (and
 * counted when Redis cannot say). Shared by `qt groups` and monitoring-health's
 * consumer-lag probe, so both report the same number.
 */
import type { Redis } from 'ioredis';
import { parseFlatRecord } from './redis-replies.js';

/** When Redis cannot say a group's lag (entries were deleted), it is counted, up to this many entries. */
export const LAG_COUNT_LIMIT = 100_000;

/** What XINFO GROUPS says of one group. */
export interface GroupInfo {
  readonly name: string;
  readonly consumers: number;
  readonly pending: number;
  readonly lastDeliveredId: string;
  readonly entriesRead: number | null;
  readonly lag: number | null;
}

/** A group's lag. */
export interface GroupLag {
  /** Entries not yet delivered to the group. */
  readonly lag: number;
  /** `redis`: XINFO's `lag`; `counted`: Redis had none (entries were deleted); `at-least`: counting stopped at LAG_COUNT_LIMIT. */
  readonly lagSource: 'redis' | 'counted' | 'at-least';
  /** Age of the oldest undelivered entry (from its id's time), ms; 0 without lag. */
  readonly lagMs: number;
  /** The first entry after `lastDeliveredId`, the next the group will get; null without lag. */
  readonly oldestUndeliveredId: string | null;
}

/** The millisecond timestamp in a stream entry id (`1700000000000-3`). */
export function idTime(id: string | null): number | null {
  if (id === null) return null;
  const ms = Number(id.split('-')[0]);
  return Number.isFinite(ms) ? ms : null;
}

function isNoSuchKey(err: unknown): boolean {
  return err instanceof Error && /no such key/i.test(err.message);
}

/** The groups of a stream (XINFO GROUPS); null when the stream does not exist. */
export async function groupInfos(redis: Redis, key: string): Promise<GroupInfo[] | null> {
  let reply: unknown[];
  try {
    reply = (await redis.xinfo('GROUPS', key)) as unknown[];
  } catch (err) {
    if (isNoSuchKey(err)) return null;
    throw err;
  }
  return reply.map((flat) => {
    const g = parseFlatRecord(flat as unknown[]);
    const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
    return {
      name: String(g.name),
      consumers: Number(g.consumers ?? 0),
      pending: Number(g.pending ?? 0),
      lastDeliveredId: String(g['last-delivered-id'] ?? '0-0'),
      entriesRead: num(g['entries-read']),
      lag: num(g.lag),
    };
  });
}

/** Counts the entries after `afterId`, page by page, up to LAG_COUNT_LIMIT. */
async function countAfter(redis: Redis, key: string, afterId: string): Promise<{ n: number; capped: boolean }> {
  let n = 0;
  let from = `(${afterId}`;
  for (;;) {
    const page = await redis.xrange(key, from, '+', 'COUNT', 1_000);
    n += page.length;
    const last = page.at(-1);
    if (page.length < 1_000 || last === undefined) return { n, capped: false };
    if (n >= LAG_COUNT_LIMIT) return { n, capped: true };
    from = `(${last[0]}`;
  }
}

/** A group's lag in entries and its age at `now` (epoch ms, the clock entry ids are compared with). */
export async function groupLag(redis: Redis, key: string, info: GroupInfo, now: number): Promise<GroupLag> {
  let lag = info.lag ?? 0;
  let lagSource: GroupLag['lagSource'] = 'redis';
  if (info.lag === null) {
    const counted = await countAfter(redis, key, info.lastDeliveredId);
    lag = counted.n;
    lagSource = counted.capped ? 'at-least' : 'counted';
  }
  let oldest: string | null = null;
  if (lag > 0) {
    // Entry ids are times: the next entry the group will get dates its lag.
    const next = await redis.xrange(key, `(${info.lastDeliveredId}`, '+', 'COUNT', 1);
    oldest = next[0]?.[0] ?? null;
  }
  const oldestAt = idTime(oldest);
  return {
    lag,
    lagSource,
    lagMs: oldestAt === null ? 0 : Math.max(0, now - oldestAt),
    oldestUndeliveredId: oldest,
  };
}
