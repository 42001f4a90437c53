import { v7 as uuidv7 } from 'uuid';
import { z } from 'zod';
import { currentCorrelationId } from '../correlation.js';
import { QtError } from '../errors.js';
import { EVENT_CATALOG, EVENT_SCHEMA_VERSION, type EventData, type EventType, isEventType } from '../events/catalog.js';
import type { Envelope } from '../events/envelope.js';
import type { PublishOptions } from './publisher-contract.js';

/** An envelope before its seq is known: what the publisher queues. */
export type DraftEnvelope = Omit<Envelope, 'seq'> & { seq?: number };

const CausalIdSchema = z.string().min(1).max(128).optional();
/** What CausalIdSchema says of an id not given, without asking it on every publish. */
const ABSENT = { success: true, error: undefined } as const;

/**
 * Validates what a caller publishes and builds its envelope, all but the
 * seq. Throws QT_UNKNOWN_EVENT_TYPE or QT_ENVELOPE_INVALID (with the zod
 * issues) so a bad publish is refused before anything is queued. Without an
 * explicit correlation id, the request or event being handled names it
 * (src/correlation.ts), else the event starts its own.
 */
export function draftEnvelope<T extends EventType>(
  type: T,
  data: EventData<T>,
  options: PublishOptions,
  from: { readonly source: string; readonly producer: string; readonly time: string },
): DraftEnvelope {
  if (!isEventType(type)) throw new QtError('QT_UNKNOWN_EVENT_TYPE', `unknown event type "${String(type)}"`);
  const parsed = EVENT_CATALOG[type].safeParse(data);
  const ids = options.correlationId === undefined ? ABSENT : CausalIdSchema.safeParse(options.correlationId);
  const cause = options.causationId === undefined ? ABSENT : CausalIdSchema.safeParse(options.causationId);
  if (!parsed.success || !ids.success || !cause.success) {
    const error = parsed.error ?? ids.error ?? cause.error;
    throw new QtError('QT_ENVELOPE_INVALID', `invalid ${type}: ${error ? z.prettifyError(error) : 'bad ids'}`, {
      details: { issues: error?.issues },
    });
  }
  const id = uuidv7();
  return {
    id,
    type,
    source: from.source,
    producer: from.producer,
    time: from.time,
    correlationId: options.correlationId ?? currentCorrelationId() ?? id,
    ...(options.causationId === undefined ? {} : { causationId: options.causationId }),
    version: EVENT_SCHEMA_VERSION,
    data: parsed.data,
  } as DraftEnvelope;
}

/**
 * An ISO-8601 clock that formats at most once per millisecond: formatting a
 * date costs more than a whole publish at high rates.
 */
export function isoClock(now?: () => Date): () => string {
  if (now) return () => now().toISOString();
  let lastMs = -1;
  let last = '';
  return () => {
    const ms = Date.now();
    if (ms !== lastMs) {
      lastMs = ms;
      last = new Date(ms).toISOString();
    }
    return last;
  };
}
