import { v7 as uuidv7 } from 'uuid';
import { z } from 'zod';
import { QtError } from '../errors.js';
import { EVENT_CATALOG, EVENT_SCHEMA_VERSION, type EventData, type EventType, isEventType } from './catalog.js';
import { KEY_PART_PATTERN } from './names.js';

/** What an event type looks like: `topic.name`. */
const TYPE_PATTERN = /^[a-z]+\.[a-z_]+$/;

/**
 * The envelope every event travels in. `id` is a UUIDv7 and the idempotency
 * key; `(producer, seq)` orders a producer's events on one topic and lets a
 * consumer spot duplicates and gaps.
 */
export const EnvelopeSchema = z.object({
  id: z.uuid({ version: 'v7' }),
  type: z.string().regex(TYPE_PATTERN),
  source: z.string().min(1).max(64),
  producer: z.string().regex(KEY_PART_PATTERN).max(128),
  seq: z.number().int().positive(),
  time: z.iso.datetime({ offset: false }),
  correlationId: z.string().min(1).max(128),
  causationId: z.string().min(1).max(128).optional(),
  /**
   * Set on a dead letter put back by `qt dlq replay`: only `group` handles
   * it (every other group acks it untouched), as the event it was once
   * more. The replay is a new entry with its own producer and seq, so the
   * group's dedup does not swallow it.
   */
  replayOf: z
    .object({
      group: z.string().regex(KEY_PART_PATTERN).max(128),
      /** The dead letter's id in the `dlq` stream. */
      dlqEntryId: z.string().regex(/^\d+-\d+$/),
      /** The original entry's id in the topic stream. */
      entryId: z.string().regex(/^\d+-\d+$/),
    })
    .optional(),
  version: z.number().int().positive(),
  data: z.unknown(),
});

/** An envelope whose `data` matches its type's schema. */
export type Envelope<T extends EventType = EventType> = T extends EventType
  ? Omit<z.infer<typeof EnvelopeSchema>, 'type' | 'data'> & { type: T; data: EventData<T> }
  : never;

/** What a caller supplies to build an envelope; the rest is filled in. */
export interface EnvelopeInput<T extends EventType> {
  readonly type: T;
  readonly data: EventData<T>;
  readonly source: string;
  readonly producer: string;
  readonly seq: number;
  readonly correlationId?: string | undefined;
  readonly causationId?: string | undefined;
  readonly now?: Date;
}

/** Builds and validates an envelope; throws QT_ENVELOPE_INVALID on bad data. */
export function createEnvelope<T extends EventType>(input: EnvelopeInput<T>): Envelope<T> {
  const id = uuidv7();
  const candidate = {
    id,
    type: input.type,
    source: input.source,
    producer: input.producer,
    seq: input.seq,
    time: (input.now ?? new Date()).toISOString(),
    correlationId: input.correlationId ?? id,
    ...(input.causationId === undefined ? {} : { causationId: input.causationId }),
    version: EVENT_SCHEMA_VERSION,
    data: input.data,
  };
  return validateEnvelope(candidate) as Envelope<T>;
}

/**
 * Validates an untrusted value as an envelope of a known type. Throws
 * QT_UNKNOWN_EVENT_TYPE or QT_ENVELOPE_INVALID with the zod issues in
 * `details.issues`.
 */
export function validateEnvelope(value: unknown): Envelope {
  const fast = plainEnvelopeHead(value);
  const env = fast ?? schemaHead(value);
  if (!isEventType(env.type)) {
    throw new QtError('QT_UNKNOWN_EVENT_TYPE', `unknown event type "${env.type}"`, { details: { type: env.type } });
  }
  const data = EVENT_CATALOG[env.type].safeParse(env.data);
  if (!data.success) {
    throw new QtError('QT_ENVELOPE_INVALID', `invalid ${env.type} data: ${z.prettifyError(data.error)}`, {
      details: { issues: data.error.issues },
    });
  }
  if (fast) {
    // The fast check's own copy: nobody else holds it.
    fast.data = data.data;
    return fast as Envelope;
  }
  return { ...env, data: data.data } as Envelope;
}

function schemaHead(value: unknown): z.infer<typeof EnvelopeSchema> {
  const head = EnvelopeSchema.safeParse(value);
  if (head.success) return head.data;
  throw new QtError('QT_ENVELOPE_INVALID', `invalid envelope: ${z.prettifyError(head.error)}`, {
    details: { issues: head.error.issues },
  });
}

/** The regex zod checks a string format with (uuid, datetime), read off the schema itself. */
function formatPattern(schema: z.ZodType): RegExp {
  const pattern = (schema._zod.def as { pattern?: unknown }).pattern;
  if (!(pattern instanceof RegExp)) throw new Error('envelope: zod no longer exposes its format pattern');
  return pattern;
}

const UUID_V7 = formatPattern(EnvelopeSchema.shape.id);
const ISO_DATETIME = formatPattern(EnvelopeSchema.shape.time);
/** The schema's keys. */
const HEAD_KEYS = new Set(Object.keys(EnvelopeSchema.shape));

const text = (v: unknown, max: number): v is string => typeof v === 'string' && v.length >= 1 && v.length <= max;
const positiveInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;

/**
 * The envelope head checked without zod, for the plain case every event of
 * this platform is: a plain object with only the schema's keys, without
 * `replayOf`, each value one the schema accepts (the same patterns, read off
 * the schema). Returns a new object equal to what `EnvelopeSchema.parse`
 * returns, keys in the schema's order (the publisher writes `seq` last, the
 * disk buffer first); anything else returns undefined and goes to the
 * schema, which also words the error.
 * test/events/envelope-fast-path.property.test.ts holds the two equal.
 * Decoding is on every consumer's path, and the schema's parse costs several
 * times this check.
 */
export function plainEnvelopeHead(value: unknown): z.infer<typeof EnvelopeSchema> | undefined {
  if (typeof value !== 'object' || value === null || Object.getPrototypeOf(value) !== Object.prototype) {
    return undefined;
  }
  const v = value as Record<string, unknown>;
  for (const key in v) {
    if (!HEAD_KEYS.has(key) || key === 'replayOf') return undefined;
  }
  const { id, type, source, producer, seq, time, correlationId, causationId, version } = v;
  if (
    !(
      typeof id === 'string' &&
      UUID_V7.test(id) &&
      typeof type === 'string' &&
      TYPE_PATTERN.test(type) &&
      text(source, 64) &&
      text(producer, 128) &&
      KEY_PART_PATTERN.test(producer) &&
      positiveInt(seq) &&
      typeof time === 'string' &&
      ISO_DATETIME.test(time) &&
      text(correlationId, 128) &&
      positiveInt(version) &&
      'data' in v
    )
  ) {
    return undefined;
  }
  if (!('causationId' in v)) return { id, type, source, producer, seq, time, correlationId, version, data: v.data };
  if (!text(causationId, 128)) return undefined;
  return { id, type, source, producer, seq, time, correlationId, causationId, version, data: v.data };
}
