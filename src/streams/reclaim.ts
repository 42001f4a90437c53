import type { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import type { RawEntry } from './redis-replies.js';

/** An entry as the consumer handles it: with its delivery count, this delivery included. */
export interface Delivery extends RawEntry {
  deliveries: number;
}

/** What recovering pending entries needs from the consumer. */
export interface PendingWork {
  readonly redis: Redis;
  readonly stream: string;
  readonly group: string;
  readonly consumer: string;
  readonly readCount: number;
  readonly claimIdleMs: number;
  readonly log: Logger;
  closing(): boolean;
  /** Handles one entry and waits until its commit settled. */
  handle(entry: Delivery): Promise<void>;
}

/**
 * Handles the consumer's own pending entries, oldest first, before anything
 * new.
 *
 * The PEL is listed with XPENDING, which has no side effects, and each entry
 * is XCLAIMed (raising its delivery count) only right before its attempt.
 * Re-reading the PEL with XREADGROUP would charge a delivery to every entry
 * read, so a few crashes would dead-letter entries never even attempted.
 */
export async function replayOwnPending(w: PendingWork): Promise<void> {
  let start = '-';
  while (!w.closing()) {
    const rows = (await w.redis.xpending(w.stream, w.group, start, '+', w.readCount, w.consumer)) as [
      string,
      string,
      number,
      number,
    ][];
    if (rows.length === 0) return;
    for (const [id, , , count] of rows) {
      if (w.closing()) return;
      const claimed = (await w.redis.xclaim(w.stream, w.group, w.consumer, 0, id)) as [string, string[]][];
      await w.handle({ id, fields: claimed[0]?.[1] ?? null, deliveries: Number(count) + 1 });
    }
    start = `(${(rows.at(-1) as [string, ...unknown[]])[0]}`;
  }
}

/**
 * Takes over entries that other (dead) consumers left idle past
 * `claimIdleMs`, then handles them. JUSTID moves ownership without charging
 * a delivery; the replay then charges each one as it is attempted.
 */
export async function reclaimIdle(w: PendingWork): Promise<void> {
  let cursor = '0-0';
  let claimed = 0;
  do {
    const [next, ids, deleted] = (await w.redis.xautoclaim(
      w.stream,
      w.group,
      w.consumer,
      w.claimIdleMs,
      cursor,
      'COUNT',
      w.readCount,
      'JUSTID',
    )) as [string, string[], string[]?];
    cursor = next;
    claimed += ids.length;
    if (deleted && deleted.length > 0) {
      w.log.warn({ entries: deleted }, 'pending entries were trimmed before they were processed');
    }
  } while (cursor !== '0-0' && !w.closing());
  if (claimed > 0) {
    w.log.info({ entries: claimed }, 'reclaimed idle entries');
    await replayOwnPending(w);
  }
}
