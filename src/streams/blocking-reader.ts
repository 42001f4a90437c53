import type { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import { parseEntries, type RawEntry } from './redis-replies.js';

/** How long past BLOCK a read may stay unanswered before its connection is declared dead. */
export const READ_WATCHDOG_MARGIN_MS = 5_000;

/**
 * The dedicated connection of one group consumer's XREADGROUP: a blocking
 * read holds its connection, so it never shares one. Reads block at most
 * `blockMs`; the command timeout (BLOCK + {@link READ_WATCHDOG_MARGIN_MS})
 * is the watchdog for a read that a silent reconnect or a failover left
 * hanging. Replies that never come are not re-sent blindly
 * (`autoResendUnfulfilledCommands: false`): the consumer replays its own
 * pending entries after any reconnect instead (`onReady`).
 */
export class BlockingReader {
  readonly #redis: Redis;
  readonly #group: string;
  readonly #consumer: string;
  readonly #blockMs: number;
  readonly #log: Logger;

  constructor(
    commands: Redis,
    options: { group: string; consumer: string; blockMs: number; log: Logger; onReady: () => void },
  ) {
    this.#group = options.group;
    this.#consumer = options.consumer;
    this.#blockMs = options.blockMs;
    this.#log = options.log;
    this.#redis = commands.duplicate({
      commandTimeout: options.blockMs + READ_WATCHDOG_MARGIN_MS,
      autoResendUnfulfilledCommands: false,
      connectionName: `qt:${options.group}:${options.consumer}`,
    });
    this.#redis.on('error', (err) => this.#log.debug({ err }, 'reader connection error'));
    this.#redis.on('ready', options.onReady);
  }

  /**
   * Connects now: the reader inherits lazyConnect and no offline queue, so
   * its first read would fail otherwise. A failure is not fatal; reads
   * retry, and ioredis keeps reconnecting.
   */
  async connect(): Promise<void> {
    if (this.#redis.status === 'wait') await this.#redis.connect().catch(() => undefined);
  }

  /** Reads up to `count` new entries (`>`), blocking at most BLOCK ms; [] when none came. */
  async read(stream: string, count: number): Promise<RawEntry[]> {
    try {
      const reply = await this.#redis.xreadgroup(
        'GROUP',
        this.#group,
        this.#consumer,
        'COUNT',
        count,
        'BLOCK',
        this.#blockMs,
        'STREAMS',
        stream,
        '>',
      );
      return parseEntries(reply);
    } catch (err) {
      if (this.#redis.status !== 'end' && needsNewReaderConnection(err)) {
        // A read that outlived BLOCK by the watchdog margin sits on a dead
        // socket; one unblocked by a role change (failover) talks to a
        // replica. Reconnecting re-resolves the master through Sentinel.
        this.#log.warn({ err: (err as Error).message }, 'blocking read lost; reconnecting the reader');
        this.#redis.disconnect(true);
      }
      throw err;
    }
  }

  /** Drops the connection at once, breaking a read in progress. */
  close(): void {
    this.#redis.disconnect();
  }
}

/** Errors after which a blocking reader's connection cannot be trusted. */
export function needsNewReaderConnection(err: unknown): boolean {
  const message = err instanceof Error ? err.message : '';
  return /^(UNBLOCKED|READONLY|LOADING|MASTERDOWN)|Command timed out/.test(message);
}
