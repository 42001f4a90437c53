import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';

/** Why an entry can be dead-lettered: undecodable, or delivered too often. */
export const DEAD_LETTER_REASONS = ['invalid', 'max_deliveries'] as const;
/** Why an entry was dead-lettered. */
export type DeadLetterReason = (typeof DEAD_LETTER_REASONS)[number];

/** What is written to the `dlq` stream for one dead entry. */
export interface DeadLetter {
  readonly topic: string;
  readonly entryId: string;
  readonly group: string;
  readonly consumer: string;
  readonly deliveries: number;
  readonly reason: DeadLetterReason;
  /** Human-readable cause: the validation or handler error message. */
  readonly error: string;
  /** The entry's fields as read from the stream, unchanged. */
  readonly fields: readonly string[];
}

/**
 * Appends a dead letter to the `dlq` stream. The original fields are kept
 * verbatim (as a JSON array) so an operator can inspect or replay the entry.
 * The dlq stream lives in its own slot, so this is a separate step from the
 * XACK that follows it; a crash between the two re-dead-letters the entry,
 * and `(topic, entryId, group)` identifies such a repeat.
 */
export async function writeDeadLetter(redis: Redis, keys: Keys, letter: DeadLetter, now = new Date()): Promise<string> {
  const id = await redis.xadd(
    keys.dlq(),
    '*',
    'topic',
    letter.topic,
    'entryId',
    letter.entryId,
    'group',
    letter.group,
    'consumer',
    letter.consumer,
    'deliveries',
    String(letter.deliveries),
    'reason',
    letter.reason,
    'error',
    letter.error.slice(0, 4_000),
    'raw',
    JSON.stringify(letter.fields),
    'time',
    now.toISOString(),
  );
  return id as string;
}
