import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import {
  DEFAULT_BLOCK_MS,
  DEFAULT_CLAIM_IDLE_MS,
  DEFAULT_MAX_DELIVERIES,
  DEFAULT_READ_COUNT,
  DEFAULT_RETRY_DELAY_MS,
} from '../config/schema.js';
import { QtError } from '../errors.js';
import type { Envelope } from '../events/envelope.js';
import type { Logger } from '../log.js';
import type { CommitCommand, Committer } from './commit-record.js';
import type { Keys } from './keys.js';
import type { Mutex } from './mutex.js';

/** What a handler learns about the entry besides the event itself. */
export interface DeliveryContext {
  readonly topic: string;
  readonly group: string;
  readonly entryId: string;
  /** How many times this entry has been delivered, this time included. */
  readonly deliveries: number;
}

/** Processes one event. Throwing (or rejecting) leaves the entry pending for redelivery. */
export type EventHandler = (event: Envelope, context: DeliveryContext) => void | Promise<void>;

/** Settings of {@link StreamConsumer}. */
export interface StreamConsumerOptions {
  /** Command connection (shared); the consumer makes its own blocking reader from it. */
  readonly redis: Redis;
  readonly keys: Keys;
  readonly topic: string;
  readonly group: string;
  /** Stable consumer name: a restarted process reclaims its own pending entries first. */
  readonly consumer: string;
  readonly handler: EventHandler;
  readonly maxDeliveries?: number;
  readonly claimIdleMs?: number;
  /** How often to look for entries of dead consumers; default claimIdleMs / 2. */
  readonly claimIntervalMs?: number;
  readonly blockMs?: number;
  readonly readCount?: number;
  readonly retryDelayMs?: number;
  /** Where a new group starts: '0' (all history, the default) or '$' (new entries only). */
  readonly startFrom?: '0' | '$';
  readonly log?: Logger;
  readonly registry?: Registry;
  /** Clock in epoch ms (default `Date.now`): when reclaims are due. */
  readonly now?: () => number;
  readonly onGap?: (gap: SequenceGap) => void;
  /**
   * Extra commands committed atomically with the XACK of the events they
   * follow (MULTI/EXEC), e.g. an effect list. A crash before the commit
   * leaves both the ack and these writes undone, so the events are
   * redelivered and nothing is applied twice.
   */
  readonly commitWith?: (handled: readonly Envelope[]) => readonly CommitCommand[];
  /**
   * Writes a batch's commit instead of the default (ack + processed-record,
   * plus `commitWith`): for a caller whose writes must be refused as a whole,
   * like the actor host's. Takes precedence over `commitWith`.
   */
  readonly committer?: Committer;
  /**
   * Fresh entries (first delivery, read as new) are handled without asking
   * the group's processed-record first, saving a round trip per batch; the
   * committer gets `unchecked` and must refuse the whole batch, writing
   * nothing, if one of them was already processed (the actor host's does:
   * QT_ALREADY_PROCESSED). The entries then stay pending and come back as
   * the consumer's own pending entries, which are always checked. Only for
   * a committer that writes every effect of the handlers, so a refused
   * batch leaves no trace.
   */
  readonly dedupAtCommit?: boolean;
  /**
   * Held from the first handler of a batch until its commit settles. Share
   * one between consumers whose handlers feed one actor (see Mutex).
   */
  readonly lock?: Mutex;
  /** Told when a commit failed; its outcome is unknown, and the batch will be redelivered if it did not land. */
  readonly onCommitError?: (err: unknown) => void;
}

/** A gap in a producer's sequence seen by a group: events that never arrived. */
export interface SequenceGap {
  readonly topic: string;
  readonly group: string;
  readonly producer: string;
  readonly missing: number;
  readonly afterSeq: number;
  readonly seenSeq: number;
}

/** The numeric settings of a consumer, validated once at construction. */
export const ConsumerTimingSchema = z
  .object({
    maxDeliveries: z.number().int().positive().default(DEFAULT_MAX_DELIVERIES),
    claimIdleMs: z.number().int().positive().default(DEFAULT_CLAIM_IDLE_MS),
    claimIntervalMs: z.number().int().positive().optional(),
    blockMs: z.number().int().positive().max(60_000).default(DEFAULT_BLOCK_MS),
    readCount: z.number().int().positive().max(10_000).default(DEFAULT_READ_COUNT),
    retryDelayMs: z.number().int().nonnegative().default(DEFAULT_RETRY_DELAY_MS),
    startFrom: z.enum(['0', '$']).default('0'),
  })
  .transform((s) => ({ ...s, claimIntervalMs: s.claimIntervalMs ?? Math.max(100, Math.floor(s.claimIdleMs / 2)) }));

/** A consumer's validated timing settings. */
export type ConsumerTiming = z.infer<typeof ConsumerTimingSchema>;

/** Validates the numeric settings; throws QT_CONFIG_INVALID naming each bad one. */
export function consumerTiming(options: StreamConsumerOptions): Readonly<ConsumerTiming> {
  const parsed = ConsumerTimingSchema.safeParse({
    maxDeliveries: options.maxDeliveries,
    claimIdleMs: options.claimIdleMs,
    claimIntervalMs: options.claimIntervalMs,
    blockMs: options.blockMs,
    readCount: options.readCount,
    retryDelayMs: options.retryDelayMs,
    startFrom: options.startFrom,
  });
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new QtError('QT_CONFIG_INVALID', `invalid consumer settings: ${problems}`, {
      details: { issues: parsed.error.issues },
    });
  }
  return Object.freeze(parsed.data);
}
