import type { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import type { Keys } from './keys.js';
import { parseFlatRecord } from './redis-replies.js';

/** How much history to keep; unset limits keep everything. */
export interface RetentionPolicy {
  /** Keep at most about this many entries. */
  readonly maxLen?: number | undefined;
  /** Keep entries younger than this. */
  readonly maxAgeMs?: number | undefined;
}

/** What one trim did. */
export interface TrimResult {
  readonly topic: string;
  /** Entries removed. */
  readonly trimmed: number;
  /** The MINID used, or undefined when nothing could be trimmed. */
  readonly minId: string | undefined;
  /** True when a group held trimming back from what the policy allowed. */
  readonly heldBackByGroup: boolean;
}

/** Compares two stream ids (`ms-seq`). */
export function compareStreamIds(a: string, b: string): number {
  const [am = '0', as = '0'] = a.split('-');
  const [bm = '0', bs = '0'] = b.split('-');
  const d = BigInt(am) - BigInt(bm);
  if (d !== 0n) return d < 0n ? -1 : 1;
  const e = BigInt(as) - BigInt(bs);
  return e === 0n ? 0 : e < 0n ? -1 : 1;
}

function minStreamId(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return compareStreamIds(a, b) <= 0 ? a : b;
}

/**
 * The oldest entry id some group still needs: for each group, its oldest
 * pending entry, or else the entry after its last-delivered id. Entries at
 * or after the result must be kept. Undefined when the stream has no groups.
 */
export async function oldestNeededId(redis: Redis, stream: string): Promise<string | undefined> {
  const groups = ((await redis.xinfo('GROUPS', stream)) as unknown[][]).map(parseFlatRecord);
  let needed: string | undefined;
  let anyGroup = false;
  for (const g of groups) {
    anyGroup = true;
    const name = String(g.name);
    const summary = (await redis.xpending(stream, name)) as [number, string | null, string | null, unknown];
    const oldestPending = Number(summary[0]) > 0 && summary[1] ? summary[1] : undefined;
    const lastDelivered = String(g['last-delivered-id'] ?? '0-0');
    // MINID keeps ids >= the given one; the first undelivered entry is just above last-delivered.
    const [ms = '0', seq = '0'] = lastDelivered.split('-');
    const nextUndelivered = `${ms}-${BigInt(seq) + 1n}`;
    needed = minStreamId(needed, minStreamId(oldestPending, nextUndelivered));
  }
  return anyGroup ? needed : undefined;
}

/**
 * Trims a topic stream by policy, never past what a group still needs.
 * Uses exact MINID (not `~`) so the bound is honoured to the entry.
 */
export async function trimTopic(
  redis: Redis,
  keys: Keys,
  topic: string,
  policy: RetentionPolicy,
  now = Date.now(),
): Promise<TrimResult> {
  const stream = keys.stream(topic);
  if ((await redis.xlen(stream)) === 0) return { topic, trimmed: 0, minId: undefined, heldBackByGroup: false };
  let policyMin: string | undefined;
  if (policy.maxAgeMs !== undefined) policyMin = `${Math.max(0, now - policy.maxAgeMs)}-0`;
  if (policy.maxLen !== undefined) {
    const length = await redis.xlen(stream);
    if (length > policy.maxLen) {
      // The id of the first entry to keep under the length limit.
      const keep = await redis.xrevrange(stream, '+', '-', 'COUNT', policy.maxLen);
      const firstKept = keep.at(-1)?.[0];
      if (firstKept !== undefined) {
        policyMin =
          policyMin === undefined ? firstKept : compareStreamIds(policyMin, firstKept) >= 0 ? policyMin : firstKept;
      }
    }
  }
  if (policyMin === undefined) return { topic, trimmed: 0, minId: undefined, heldBackByGroup: false };
  const needed = await oldestNeededId(redis, stream);
  const minId = minStreamId(policyMin, needed) as string;
  const trimmed = await redis.xtrim(stream, 'MINID', minId);
  return { topic, trimmed, minId, heldBackByGroup: needed !== undefined && compareStreamIds(needed, policyMin) < 0 };
}

/**
 * Trims every topic stream on an interval. `start()`/`close()`; `close()` is
 * idempotent and waits for a trim in progress.
 */
export class RetentionLoop {
  readonly #redis: Redis;
  readonly #keys: Keys;
  readonly #topics: readonly string[];
  readonly #policy: RetentionPolicy;
  readonly #intervalMs: number;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #closed: Promise<void> | undefined;

  constructor(options: {
    redis: Redis;
    keys: Keys;
    topics: readonly string[];
    policy: RetentionPolicy;
    intervalMs: number;
    log?: Logger;
  }) {
    this.#redis = options.redis;
    this.#keys = options.keys;
    this.#topics = options.topics;
    this.#policy = options.policy;
    this.#intervalMs = options.intervalMs;
    this.#log = options.log ?? silentLogger;
  }

  start(): void {
    if (this.#timer || this.#closed) return;
    if (this.#policy.maxLen === undefined && this.#policy.maxAgeMs === undefined) return;
    this.#timer = setInterval(() => {
      this.#running ??= this.runOnce()
        .then(() => undefined)
        .catch((err) => this.#log.warn({ err }, 'retention trim failed'))
        .finally(() => {
          this.#running = undefined;
        });
    }, this.#intervalMs);
    this.#timer.unref();
  }

  /** Trims every topic once. */
  async runOnce(): Promise<TrimResult[]> {
    const results: TrimResult[] = [];
    for (const topic of this.#topics) {
      const r = await trimTopic(this.#redis, this.#keys, topic, this.#policy);
      if (r.trimmed > 0 || r.heldBackByGroup) this.#log.info({ ...r }, 'stream trimmed');
      results.push(r);
    }
    return results;
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      clearInterval(this.#timer);
      await this.#running;
    })();
    return this.#closed;
  }
}
