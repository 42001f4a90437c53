/**
 * The run summary of `npm start`: one log line every few seconds with the
 * SYSTEM's ticks, signals, orders, fills, equity and ESS state, and one line
 * per order ending and ESS transition as it happens (event-lines.ts).
 *
 * A process may host any subset of the services, so nothing here counts
 * in-process work: it tails the topic streams in Redis with plain XREAD (no
 * consumer group, so it never takes part in delivery) and reads the ESS
 * projection key, exactly what every process can see.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { parseEssProjection } from '../actors/risk-safety/ess-projection.js';
import { QtError } from '../errors.js';
import type { Envelope } from '../events/envelope.js';
import { type Logger, silentLogger } from '../log.js';
import { needsNewReaderConnection } from '../streams/blocking-reader.js';
import { decodeEntry } from '../streams/codec.js';
import type { Keys } from '../streams/keys.js';
import { eventLine, OrderSizes } from './event-lines.js';
import { EMPTY_SUMMARY, formatSummary, type SummaryCounts, type SummaryLine } from './summary-format.js';

/** Default time between two summary lines. */
export const DEFAULT_SUMMARY_INTERVAL_MS = 5_000;
/** Default BLOCK of the tailing XREAD; close() breaks it at once. */
export const DEFAULT_SUMMARY_BLOCK_MS = 5_000;
/** Entries read per stream per XREAD. */
export const SUMMARY_READ_COUNT = 1_000;
/** The topics the summary tails. */
export const SUMMARY_TOPICS = ['market', 'signal', 'order', 'portfolio', 'ess'] as const;

/** How long a line waits for the ESS projection before it uses the last state read. */
const ESS_READ_WAIT_MS = 1_000;
/** Pause before retrying after Redis failed. */
const RETRY_MS = 1_000;

/** Options of {@link RunSummary}. */
export interface RunSummaryOptions {
  /** Command connection (shared); the summary duplicates it for its blocking read. */
  readonly redis: Redis;
  readonly keys: Keys;
  /** Time between two lines; default {@link DEFAULT_SUMMARY_INTERVAL_MS}. */
  readonly intervalMs?: number;
  /** BLOCK of the tailing read; default {@link DEFAULT_SUMMARY_BLOCK_MS}. */
  readonly blockMs?: number;
  readonly log?: Logger;
  /** Clock for the tick rate (epoch ms); default `Date.now`. */
  readonly now?: () => number;
}

type Counter = Exclude<keyof SummaryCounts, 'equity' | 'drawdown' | 'ess'>;

/** Which counter each event type raises. */
const COUNTED: Readonly<Record<string, Counter>> = {
  'market.tick': 'ticks',
  'signal.generated': 'signals',
  'order.approved': 'approved',
  'order.rejected': 'rejected',
  'order.placed': 'placed',
  'order.filled': 'filled',
  'order.cancelled': 'cancelled',
  'order.failed': 'failed',
  'ess.tripped': 'essTrips',
};

function positiveInt(name: string, value: number): number {
  if (!(Number.isInteger(value) && value > 0)) {
    throw new QtError('QT_CONFIG_INVALID', `run summary: ${name} must be a positive integer, got ${value}`);
  }
  return value;
}

/** The `event` field of the summary record (see {@link RunSummary}). */
export const SUMMARY_EVENT = 'run.summary';

/** One entry of an XREAD reply: its stream, id and fields. */
export interface ReadEntry {
  readonly stream: string;
  readonly id: string;
  readonly fields: string[];
}

/**
 * The entries of one XREAD reply over several streams in time order: by the
 * millisecond of their ids (ids of one Redis server, so comparable across
 * its streams). The sequence part of an id counts per stream and says
 * nothing across streams, so entries of the same millisecond keep the order
 * of the reply, and one stream's entries always keep theirs.
 */
export function entriesInTimeOrder(reply: readonly [string, readonly [string, string[]][]][] | null): ReadEntry[] {
  const entries = (reply ?? []).flatMap(([stream, list]) => list.map(([id, fields]) => ({ stream, id, fields })));
  const ms = (id: string) => Number(id.slice(0, id.indexOf('-')));
  return entries.sort((a, b) => ms(a.id) - ms(b.id));
}

/**
 * Logs the run summary every `intervalMs`: one info record whose `msg` is
 * {@link formatSummary}'s line and whose fields are the same numbers (and
 * `event: 'run.summary'`); and one info record per order placed, filled,
 * cancelled or failed and per ESS transition, as {@link eventLine} makes it.
 *
 * Contract:
 * - Counts start at `start()`: entries already in the streams are not
 *   counted (the tail starts from each stream's last entry, as `$` would,
 *   but pinned so nothing between two reads is missed). If Redis is down at
 *   start, they start when it first answers.
 * - An entry that is not a valid envelope is counted in `skipped`; nothing
 *   read from a stream ever throws.
 * - Event lines come in stream order, and the entries of one read in entry
 *   id order across the streams, to the millisecond (so a trip's line comes
 *   before the cancellations it caused). The whole system's events are seen
 *   once, whichever process published them.
 * - Redis being down never stops it: one warning per outage, lines keep
 *   coming with the last known numbers (and `redis: 'down'`), and the tail
 *   resumes where it was once Redis is back.
 * - `close()` breaks the blocking read at once, stops the timer, and returns
 *   the same promise on repeat calls. The shared connection is left open.
 */
export class RunSummary {
  readonly #redis: Redis;
  readonly #reader: Redis;
  readonly #keys: Keys;
  readonly #streams: string[];
  readonly #intervalMs: number;
  readonly #blockMs: number;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #abort = new AbortController();
  #counts: SummaryCounts = EMPTY_SUMMARY;
  readonly #orders = new OrderSizes();
  /** Last entry id read per stream; undefined until pinned. */
  #positions: string[] | undefined;
  #down = false;
  #essRead: Promise<void> | undefined;
  #last = { at: 0, ticks: 0 };
  #timer: NodeJS.Timeout | undefined;
  #loop: Promise<void> | undefined;
  #started: Promise<void> | undefined;
  #closed: Promise<void> | undefined;

  constructor(options: RunSummaryOptions) {
    this.#redis = options.redis;
    this.#keys = options.keys;
    this.#streams = SUMMARY_TOPICS.map((t) => options.keys.stream(t));
    this.#intervalMs = positiveInt('intervalMs', options.intervalMs ?? DEFAULT_SUMMARY_INTERVAL_MS);
    this.#blockMs = positiveInt('blockMs', options.blockMs ?? DEFAULT_SUMMARY_BLOCK_MS);
    this.#log = options.log ?? silentLogger;
    this.#now = options.now ?? Date.now;
    // A dedicated connection: a blocking XREAD holds it. The command timeout
    // is the watchdog for a read a silent reconnect left hanging.
    this.#reader = options.redis.duplicate({
      commandTimeout: this.#blockMs + 5_000,
      autoResendUnfulfilledCommands: false,
      connectionName: 'qt:run-summary',
    });
    this.#reader.on('error', (err) => this.#log.debug({ err }, 'run summary reader connection error'));
  }

  /**
   * Pins the tail at the streams' current ends, reads the ESS state and
   * starts the loop and the timer. Resolves once the tail is pinned, or once
   * the first attempt failed (Redis down: it keeps trying). Idempotent.
   */
  start(): Promise<void> {
    this.#started ??= (async () => {
      this.#last = { at: this.#now(), ticks: 0 };
      if (this.#reader.status === 'wait') await this.#reader.connect().catch(() => undefined);
      await this.#pin().catch((err) => this.#outage(err));
      await this.#readEss();
      if (this.#closing) return;
      this.#loop = this.#run();
      this.#timer = setInterval(() => void this.#report(), this.#intervalMs);
      this.#timer.unref();
    })();
    return this.#started;
  }

  /** Stops the summary; see the class contract. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#abort.abort();
      clearInterval(this.#timer);
      this.#reader.disconnect();
      await this.#started?.catch(() => undefined);
      clearInterval(this.#timer);
      await this.#loop;
    })();
    return this.#closed;
  }

  /** The counts since start, the latest equity and drawdown, and the last ESS state read. */
  snapshot(): SummaryCounts {
    return { ...this.#counts };
  }

  get #closing(): boolean {
    return this.#abort.signal.aborted;
  }

  /** Each stream's last entry id ('0-0' for an empty or absent stream): where the tail starts. */
  async #pin(): Promise<void> {
    const pipeline = this.#redis.pipeline();
    for (const stream of this.#streams) pipeline.xrevrange(stream, '+', '-', 'COUNT', 1);
    const results = (await pipeline.exec()) ?? [];
    this.#positions = this.#streams.map((stream, i) => {
      const missing = new QtError('QT_INVARIANT_BROKEN', `no pipeline reply for ${stream}`);
      const [err, entries] = results[i] ?? [missing, null];
      if (err) throw err;
      return (entries as [string, string[]][])[0]?.[0] ?? '0-0';
    });
    this.#back();
  }

  async #run(): Promise<void> {
    while (!this.#closing) {
      try {
        if (this.#positions === undefined) await this.#pin();
        const positions = this.#positions ?? [];
        const reply = (await this.#reader.xread(
          'COUNT',
          SUMMARY_READ_COUNT,
          'BLOCK',
          this.#blockMs,
          'STREAMS',
          ...this.#streams,
          ...positions,
        )) as [string, [string, string[]][]][] | null;
        this.#back();
        for (const { stream, id, fields } of entriesInTimeOrder(reply)) {
          this.#apply(fields);
          const i = this.#streams.indexOf(stream);
          if (i >= 0) positions[i] = id;
        }
      } catch (err) {
        if (this.#closing) break;
        this.#outage(err);
        if (needsNewReaderConnection(err)) this.#reader.disconnect(true);
        await this.#pause(RETRY_MS);
      }
    }
  }

  #apply(fields: readonly string[]): void {
    let envelope: Envelope;
    try {
      envelope = decodeEntry(fields);
    } catch {
      this.#counts = { ...this.#counts, skipped: this.#counts.skipped + 1 };
      return;
    }
    const line = eventLine(envelope, this.#orders.observe(envelope));
    if (line) this.#log.info(line.fields, line.msg);
    const counter = COUNTED[envelope.type];
    if (counter !== undefined) {
      this.#counts = { ...this.#counts, [counter]: this.#counts[counter] + 1 };
    } else if (envelope.type === 'portfolio.updated') {
      const { equity, drawdown } = envelope.data;
      this.#counts = { ...this.#counts, equity, drawdown };
    }
  }

  /** Refreshes the ESS state from its projection; waits at most ESS_READ_WAIT_MS, one read in flight at a time. */
  async #readEss(): Promise<void> {
    this.#essRead ??= (async () => {
      try {
        const raw = await this.#redis.get(this.#keys.projection('ess'));
        this.#back();
        if (raw === null) return;
        this.#counts = { ...this.#counts, ess: parseEssProjection(raw)?.state };
      } catch (err) {
        this.#outage(err);
      } finally {
        this.#essRead = undefined;
      }
    })();
    const wait = new AbortController();
    await Promise.race([
      this.#essRead,
      sleep(ESS_READ_WAIT_MS, undefined, { signal: wait.signal }).catch(() => undefined),
    ]);
    wait.abort();
  }

  async #report(): Promise<void> {
    await this.#readEss();
    if (this.#closing) return;
    const now = this.#now();
    const seconds = (now - this.#last.at) / 1000;
    const counts = this.snapshot();
    const line: SummaryLine = {
      ...counts,
      ticksPerSecond: seconds > 0 ? (counts.ticks - this.#last.ticks) / seconds : 0,
      redis: this.#down ? 'down' : 'up',
    };
    this.#last = { at: now, ticks: counts.ticks };
    this.#log.info({ event: SUMMARY_EVENT, ...line }, formatSummary(line));
  }

  #outage(err: unknown): void {
    if (this.#closing || this.#down) return;
    this.#down = true;
    this.#log.warn(
      { err: err instanceof Error ? err.message : String(err) },
      'run summary: Redis unreachable; showing the last known numbers until it is back',
    );
  }

  #back(): void {
    if (!this.#down) return;
    this.#down = false;
    this.#log.info('run summary: Redis reachable again');
  }

  async #pause(ms: number): Promise<void> {
    try {
      await sleep(ms, undefined, { signal: this.#abort.signal });
    } catch {
      // aborted by close()
    }
  }
}
