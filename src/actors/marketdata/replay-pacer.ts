/**
 * The back-pressure of a replay at `max` speed (docs/market-data.md,
 * "Replay at max speed"): the next instant goes out once every consumer
 * group of the pipeline exists and has taken and acknowledged everything
 * (lag 0, pending 0, from XINFO GROUPS) and no service holds work outside its
 * streams (execution's orders not yet sent). Measured, not a fixed rate: the
 * replay runs exactly as fast as the pipeline finishes each instant. It
 * looks again when a consumer of the process commits, at most
 * {@link PACER_POLL_MS} after the last look.
 */
import type { Redis } from 'ioredis';
import { type Logger, silentLogger } from '../../log.js';
import { commitCount, nextCommit } from '../../streams/commit-signal.js';
import type { Keys } from '../../streams/keys.js';
import type { ReplayRun } from '../replay-run.js';
import { type GroupBacklog, isDrained, pipelineBacklog, streamTails } from './pipeline-drain.js';

/**
 * Longest wait between two looks at a pipeline that has not finished yet.
 * The pacer looks again as soon as a consumer of this process commits
 * (src/streams/commit-signal.ts); this bounds the wait for work that
 * finishes without a commit (execution sending an order).
 */
export const PACER_POLL_MS = 5;
/** Wait after Redis failed to answer a look. */
export const PACER_RETRY_MS = 500;

/** What the pacer has seen so far, for `GET /feed`. */
export interface PacerStats {
  /** Looks at the pipeline. */
  readonly looks: number;
  /** The largest lag (undelivered entries) of one group seen by a look. */
  readonly maxLag: number;
}

/** Waits for the pipeline on behalf of the marketdata service; see the file comment. */
export class ReplayPacer {
  readonly run: ReplayRun;
  readonly #redis: Redis;
  readonly #keys: Keys;
  readonly #log: Logger;
  #looks = 0;
  #maxLag = 0;

  constructor(options: { run: ReplayRun; redis: Redis; keys: Keys; log?: Logger }) {
    this.run = options.run;
    this.#redis = options.redis;
    this.#keys = options.keys;
    this.#log = options.log ?? silentLogger;
  }

  get stats(): PacerStats {
    return { looks: this.#looks, maxLag: this.#maxLag };
  }

  /** Resolves true once the pipeline has finished with everything published; false if `signal` aborts first. */
  async drained(signal: AbortSignal): Promise<boolean> {
    let failing = false;
    while (!signal.aborted) {
      try {
        const seen = commitCount();
        if (await this.#finished()) return true;
        failing = false;
        await nextCommit(seen, PACER_POLL_MS);
      } catch (err) {
        if (!failing) this.#log.warn({ err: (err as Error).message }, 'replay waits: cannot read the consumer groups');
        failing = true;
        await sleep(PACER_RETRY_MS);
      }
    }
    return false;
  }

  /** Where the replay's events begin in each pipeline topic (retried while Redis fails); undefined if `signal` aborts. */
  async startIds(signal: AbortSignal): Promise<Record<string, string> | undefined> {
    const topics = [...new Set(this.run.groups.map((g) => g.topic))];
    while (!signal.aborted) {
      try {
        return await streamTails(this.#redis, this.#keys, topics);
      } catch (err) {
        this.#log.warn({ err: (err as Error).message }, 'replay waits: cannot read the streams');
        await sleep(PACER_RETRY_MS);
      }
    }
    return undefined;
  }

  /**
   * Work, then the groups, then work again: work appears only from a
   * consumed event (which the groups show until it is committed), and a step
   * of it done between the two looks at work (whose events the groups may
   * not have shown) moves the step counter, so nothing slips between looks.
   */
  async #finished(): Promise<boolean> {
    const before = await this.run.work();
    if (before.held.length > 0) return false;
    const backlog: GroupBacklog[] = await pipelineBacklog(this.#redis, this.#keys, this.run.groups);
    this.#looks++;
    for (const g of backlog) this.#maxLag = Math.max(this.#maxLag, g.lag);
    if (!isDrained(backlog)) return false;
    const after = await this.run.work();
    return after.held.length === 0 && after.done === before.done;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
