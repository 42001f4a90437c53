/**
 * Hand-written stream entries with fixed entry ids, envelope ids and times,
 * so a CLI table can be compared with an expected layout character for
 * character.
 */
import type { Redis } from 'ioredis';

/** The entry id time of fixed entry 0 (2023-11-14T22:13:20Z); entry n is n seconds later. */
export const FIXED_T0 = 1_700_000_000_000;

/** A valid UUIDv7 that depends only on `n`. */
export function fixedUuid(n: number): string {
  return `018bcfe5-6800-7000-8000-${String(n).padStart(12, '0')}`;
}

/** What a fixed entry carries; the rest follows from `n`. */
export interface FixedEvent {
  readonly n: number;
  readonly type: string;
  readonly data: unknown;
  readonly producer?: string;
  readonly source?: string;
  readonly seq?: number;
  readonly correlationId?: string;
  readonly causationId?: string;
}

/** The entry id of fixed entry `n`. */
export function fixedEntryId(n: number): string {
  return `${FIXED_T0 + n * 1_000}-0`;
}

/** The envelope of a fixed event. */
export function fixedEnvelope(e: FixedEvent): Record<string, unknown> {
  return {
    id: fixedUuid(e.n),
    type: e.type,
    source: e.source ?? 'test',
    producer: e.producer ?? 'fixed',
    seq: e.seq ?? e.n,
    time: new Date(FIXED_T0 + e.n * 1_000).toISOString(),
    correlationId: e.correlationId ?? fixedUuid(e.n),
    ...(e.causationId === undefined ? {} : { causationId: e.causationId }),
    version: 1,
    data: e.data,
  };
}

/** XADDs fixed events (and raw field lists, for entries that are not valid envelopes) to `stream`. */
export async function addFixed(
  redis: Redis,
  stream: string,
  entries: readonly (FixedEvent | { readonly n: number; readonly fields: readonly string[] })[],
): Promise<void> {
  for (const e of entries) {
    const fields = 'fields' in e ? e.fields : ['type', e.type, 'env', JSON.stringify(fixedEnvelope(e))];
    await redis.xadd(stream, fixedEntryId(e.n), ...fields);
  }
}
