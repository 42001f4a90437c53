import type { Redis } from 'ioredis';
import type { Envelope } from '../events/envelope.js';
import { seqRuns } from './commit-record.js';

/** The identity a group deduplicates by: producer and seq. */
export function eventKey(event: Pick<Envelope, 'producer' | 'seq'>): string {
  return `${event.producer}#${event.seq}`;
}

/**
 * Which of `events` the group has already processed (by {@link eventKey}),
 * from its processed-record (SEEN_LUA): one round trip for a batch. A
 * replay, a failover redelivery or a re-sent append is acked without
 * reaching the handler again.
 */
export async function alreadyProcessed(
  redis: Redis,
  groupSeqs: string,
  events: readonly Envelope[],
): Promise<Set<string>> {
  const out = new Set<string>();
  if (events.length === 0) return out;
  const flags = await redis.qtSeen(groupSeqs, ...seqRuns(events));
  events.forEach((e, i) => {
    if (Number(flags[i]) === 1) out.add(eventKey(e));
  });
  return out;
}
