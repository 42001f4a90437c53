import { BrokenCircuitError } from 'cockatiel';
import { Counter, Registry } from 'prom-client';
import { backoffDelay } from '../backoff.js';
import { QtError } from '../errors.js';
import { type Logger, silentLogger } from '../log.js';
import { perRegistry } from '../metrics.js';
import { type Appender, type AppendOutcome, appendBatch, MAX_IN_FLIGHT, withSeq } from './append.js';
import type { BufferedRow, EventBuffer } from './event-buffer.js';
import type { LaneHandoff } from './lane-handoff.js';
import type { RedisLink } from './redis-link.js';

/** Rows taken from the buffer at a time: one seq assignment and one delete (two fsyncs) per window. */
export const DEFAULT_DRAIN_BATCH = 5_000;
/**
 * Most events in one append script call. Lua runs atomically, so a very
 * large call would stall every other Redis client while it runs.
 */
export const MAX_APPEND_EVENTS = 1_000;
/** How often an idle drainer looks again even without a wake-up. */
export const DEFAULT_DRAIN_POLL_MS = 1_000;

/** Settings of {@link Drainer}. */
export interface DrainerOptions {
  readonly buffer: EventBuffer;
  /** The publisher whose parked events this drainer replays, as the drainer sees it. */
  readonly lanes: LaneHandoff;
  /** The publisher's appender: replays go out as the same producer instance. */
  readonly appender: Appender;
  /** The publisher's breaker-guarded connection. */
  readonly link: RedisLink;
  readonly batchSize?: number;
  readonly pollMs?: number;
  readonly log?: Logger;
  readonly registry?: Registry;
}

const drainerMetrics = perRegistry((registry) => {
  return {
    replayed: new Counter({
      name: 'eventbus_buffer_replayed_total',
      help: 'Buffered events replayed to Redis',
      registers: [registry],
    }),
    inDoubt: new Counter({
      name: 'eventbus_buffer_in_doubt_checks_total',
      help: 'Buffered events whose earlier send had an unknown outcome, by what Redis held (present or absent)',
      labelNames: ['result'],
      registers: [registry],
    }),
  };
});

/**
 * Replays the disk buffer to Redis, oldest first, topic by topic, once Redis
 * is usable.
 *
 * - Rows without a seq get the next seqs of the topic, written to the buffer
 *   *before* they are sent, so a crash after the send re-sends them with the
 *   same seqs.
 * - Rows that already had a seq were sent once with an unknown outcome ("in
 *   doubt"). The append script checks each against the producer's last seq in
 *   Redis, in the same atomic step as the XADD, and skips the ones Redis
 *   already has. So a replay after a crash, a lost reply or a failover never
 *   duplicates an entry.
 * - Rows are deleted only after Redis acknowledged them.
 * - When a topic's backlog is empty the publisher goes back to direct appends.
 */
export class Drainer {
  readonly #buffer: EventBuffer;
  readonly #lanes: LaneHandoff;
  readonly #appender: Appender;
  readonly #link: RedisLink;
  readonly #batchSize: number;
  readonly #pollMs: number;
  readonly #log: Logger;
  readonly #metrics: ReturnType<typeof drainerMetrics>;
  /** Next seq per topic while it is being drained. */
  readonly #next = new Map<string, number>();
  readonly #abort = new AbortController();
  readonly #unsubscribe: (() => void)[] = [];
  #wakeUp: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #closed: Promise<void> | undefined;

  constructor(options: DrainerOptions) {
    this.#buffer = options.buffer;
    this.#lanes = options.lanes;
    this.#appender = options.appender;
    this.#link = options.link;
    this.#batchSize = options.batchSize ?? DEFAULT_DRAIN_BATCH;
    this.#pollMs = options.pollMs ?? DEFAULT_DRAIN_POLL_MS;
    this.#log = options.log ?? silentLogger;
    this.#metrics = drainerMetrics(options.registry ?? new Registry());
  }

  /** Starts replaying in the background. */
  start(): void {
    if (this.#loop || this.#closed) return;
    this.#unsubscribe.push(this.#lanes.onParked(() => this.wake()));
    this.#unsubscribe.push(this.#link.onAvailable(() => this.wake()));
    this.#loop = this.#run();
  }

  /** Looks at the buffer now rather than at the next poll. */
  wake(): void {
    this.#wakeUp?.();
  }

  /** Stops after the batch in flight; rows not replayed stay in the buffer. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#abort.abort();
      for (const u of this.#unsubscribe) u();
      this.wake();
      await this.#loop;
    })();
    return this.#closed;
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (!this.#abort.signal.aborted) {
      const topics = this.#buffer.topicsWithBacklog();
      const link = this.#link;
      if (topics.length === 0 || link.circuitOpen || link.redis.status !== 'ready') {
        await this.#idle(this.#pollMs);
        continue;
      }
      let progressed = false;
      try {
        for (const topic of topics) {
          if (this.#abort.signal.aborted) break;
          progressed = (await this.#drainTopic(topic)) || progressed;
        }
        failures = 0;
      } catch (err) {
        failures++;
        for (const topic of topics) this.#lanes.report(topic, { kind: 'stalled' });
        if (!(err instanceof BrokenCircuitError)) {
          this.#log.warn({ err: (err as Error).message, failures }, 'replay paused');
        }
        await this.#idle(backoffDelay({ baseMs: 100, maxMs: this.#pollMs }, failures));
        continue;
      }
      // Rows accepted but not yet committed show as backlog with nothing to read: wait a moment.
      if (!progressed) await this.#idle(5);
    }
  }

  /** Replays up to one batch of a topic; true when rows were replayed. */
  async #drainTopic(topic: string): Promise<boolean> {
    const rows = this.#buffer.oldest(topic, this.#batchSize);
    if (rows.length === 0) {
      this.#maybeResume(topic);
      return false;
    }
    const link = this.#link;
    const appender = this.#appender;
    const inDoubt = new Set(rows.filter((r) => r.seq !== null).map((r) => r.id));
    let next = this.#next.get(topic);
    if (rows.some((r) => r.seq === null) && next === undefined) {
      const last = await link.execute(() => appender.redis.hget(appender.keys.producerSeqs(topic), appender.producer));
      next =
        Math.max(last === null ? 0 : Number(last), this.#buffer.maxSeq(topic) ?? 0, this.#lanes.highestSeq(topic)) + 1;
    }
    const sequenced = this.#assignSeqs(topic, rows, next);
    // Runs go out up to MAX_IN_FLIGHT at once and settle in order. A run
    // that continues the one before it carries `follows`: Redis appends it
    // only if the run in front landed, so a later run can never land after
    // an earlier one failed (which would make the earlier one look like a
    // duplicate when it is re-sent). A run after a hole in the seqs waits
    // until every run before it has landed.
    const flights: { run: SequencedRow[]; outcome: Promise<AppendOutcome> }[] = [];
    const settle = async (): Promise<void> => {
      const { run, outcome: pending } = flights.shift() as (typeof flights)[number];
      const outcome = await pending;
      if (outcome.unapplied) {
        throw new QtError('QT_PUBLISH_FAILED', `replay of "${topic}" from seq ${run[0]?.seq} did not follow on`);
      }
      run.forEach((r, i) => {
        if (inDoubt.has(r.id))
          this.#metrics.inDoubt.inc({ result: outcome.entryIds[i] === undefined ? 'present' : 'absent' });
      });
      this.#metrics.replayed.inc(run.length);
      this.#next.set(topic, (run.at(-1) as SequencedRow).seq + 1);
    };
    let previous: SequencedRow | undefined;
    for (const run of contiguousRuns(sequenced, MAX_APPEND_EVENTS)) {
      const first = run[0] as SequencedRow;
      const follows = previous !== undefined && first.seq === previous.seq + 1;
      while (flights.length > 0 && (!follows || flights.length >= MAX_IN_FLIGHT)) await settle();
      const outcome = link.execute(() =>
        appendBatch(appender, {
          topic,
          firstSeq: first.seq,
          types: run.map((r) => r.type),
          payloads: run.map((r) => withSeq(r.body, r.seq)),
          follows: flights.length > 0,
        }),
      );
      // Observed at once: a run behind the one being awaited may fail first,
      // and an unobserved rejection would stop the process. Read in order by settle().
      outcome.catch(() => undefined);
      flights.push({ run, outcome });
      previous = run.at(-1);
    }
    // A failure above leaves the runs still in flight unread: their rows stay and are re-sent.
    while (flights.length > 0) await settle();
    // One delete for the whole window. Should the process die before it,
    // every row is re-sent and the append script skips them all.
    this.#buffer.removeThrough(topic, (rows.at(-1) as BufferedRow).id);
    this.#log.debug({ topic, rows: rows.length }, 'replayed');
    // Nearly caught up: ask the publisher to stop parking, so this converges.
    if (this.#buffer.backlog(topic) <= this.#batchSize) this.#lanes.report(topic, { kind: 'catching-up' });
    this.#maybeResume(topic);
    return true;
  }

  /** Gives seqs to rows that lack them, durably, before anything is sent. */
  #assignSeqs(topic: string, rows: BufferedRow[], next: number | undefined): SequencedRow[] {
    const assignments: { id: number; seq: number }[] = [];
    let cursor = next;
    const out = rows.map((r) => {
      if (r.seq !== null) {
        cursor = Math.max(cursor ?? 0, r.seq + 1);
        return r as SequencedRow;
      }
      const seq = cursor as number;
      cursor = seq + 1;
      assignments.push({ id: r.id, seq });
      return { ...r, seq };
    });
    if (assignments.length > 0) this.#buffer.assignSeqs(topic, assignments);
    if (cursor !== undefined) this.#next.set(topic, cursor);
    return out;
  }

  #maybeResume(topic: string): void {
    if (this.#buffer.backlog(topic) > 0) return;
    const next = this.#next.get(topic);
    this.#next.delete(topic);
    // With no record of our own (undefined), the publisher reads the seq back from Redis.
    this.#lanes.report(topic, { kind: 'drained', nextSeq: next });
  }

  /** Waits `ms`, or less if woken (a park, Redis back, close()). */
  async #idle(ms: number): Promise<void> {
    if (this.#abort.signal.aborted) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wakeUp = done;
    });
  }
}

type SequencedRow = BufferedRow & { readonly seq: number };

/** Splits rows into runs of consecutive seqs, at most `max` long: one append script call each. */
function contiguousRuns(rows: SequencedRow[], max: number): SequencedRow[][] {
  const runs: SequencedRow[][] = [];
  for (const r of rows) {
    const run = runs.at(-1);
    const prev = run?.at(-1);
    if (run && prev && r.seq === prev.seq + 1 && run.length < max) run.push(r);
    else runs.push([r]);
  }
  return runs;
}
