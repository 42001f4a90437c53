/**
 * What the read commands (groups, pending, tail, show, trace) share about
 * stream entries: which key a topic names, entry ids as times and their
 * order, and an entry decoded or, when it is not a valid envelope, why not.
 */
import { z } from 'zod';
import { isQtError } from '../errors.js';
import { type Envelope, EnvelopeSchema } from '../events/envelope.js';
import { decodeEntry, FIELD_TYPE } from '../streams/codec.js';
import { assertKeyPart, DLQ_TOPIC } from '../streams/keys.js';
import type { CliContext } from './context.js';
import { CliError, EXIT } from './exit-codes.js';

/** A stream entry id as Redis writes it: `<ms>-<seq>`. */
export const ENTRY_ID = /^\d+-\d+$/;

/** The `--json` form of an envelope: as the catalog defines it, `data` left as it is. */
export const EnvelopeJsonSchema = EnvelopeSchema;

/** The stream key of `topic` (`dlq` is the dead letters); a malformed topic is bad usage (exit 2). */
export function topicKey(ctx: CliContext, topic: string): string {
  if (topic === DLQ_TOPIC) return ctx.keys.dlq();
  try {
    assertKeyPart('topic', topic);
  } catch (err) {
    if (isQtError(err, 'QT_KEY_PART_INVALID')) throw new CliError(EXIT.USAGE, err.message);
    throw err;
  }
  return ctx.keys.stream(topic);
}

/** Exit 5: the stream of `topic` does not exist. */
export function noStream(topic: string, key: string): CliError {
  return new CliError(EXIT.NOT_FOUND, `topic ${topic}: stream ${key} does not exist`);
}

/** `[ms, seq]` of an entry id, for ordering (bigints: the seq part may exceed 2^53). */
function idParts(id: string): [bigint, bigint] {
  const [ms = '0', seq = '0'] = id.split('-');
  return [BigInt(ms), BigInt(seq)];
}

/** Orders two entry ids: negative when `a` comes first, 0 when equal. */
export function compareIds(a: string, b: string): number {
  const [am, as] = idParts(a);
  const [bm, bs] = idParts(b);
  if (am !== bm) return am < bm ? -1 : 1;
  return as === bs ? 0 : as < bs ? -1 : 1;
}

/** The first entry id at or after epoch ms `at`, for XRANGE bounds. */
export function idAt(at: number): string {
  return `${Math.max(0, Math.floor(at))}-0`;
}

/** A flat `[k1, v1, ...]` field list as an object. */
export function fieldRecord(fields: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) out[fields[i] as string] = fields[i + 1] as string;
  return out;
}

/** One entry of a topic stream: its envelope, or why it is not one. */
export type DecodedEntry =
  | { readonly id: string; readonly ok: true; readonly envelope: Envelope }
  | { readonly id: string; readonly ok: false; readonly type: string | null; readonly error: string };

/** Decodes an entry; never throws (an entry that is not an envelope says why). */
export function decodeStreamEntry(id: string, fields: readonly string[] | null): DecodedEntry {
  if (fields === null) return { id, ok: false, type: null, error: 'the entry was deleted' };
  try {
    return { id, ok: true, envelope: decodeEntry(fields) };
  } catch (err) {
    const type = fieldRecord(fields)[FIELD_TYPE] ?? null;
    return { id, ok: false, type, error: (err as Error).message.split('\n').join(' ') };
  }
}

/** `--json` of an entry that is not a valid envelope. */
export const UndecodableJsonSchema = z.object({
  id: z.string(),
  /** The entry's `type` field, when it has one. */
  type: z.string().nullable(),
  /** Why it is not a valid envelope (the consumer dead-letters it with this reason). */
  error: z.string(),
});

/**
 * A correlation or event id for a table: whole when up to 12 characters,
 * else its last 8 (a UUIDv7 starts with its time, which ids made together
 * share; it ends with random bits).
 */
export function shortId(id: string | undefined): string {
  if (id === undefined) return '-';
  return id.length <= 12 ? id : id.slice(-8);
}

/** `HH:MM:SS.mmm` (UTC) of an ISO time or epoch ms. */
export function clockTime(time: string | number): string {
  const d = new Date(time);
  return Number.isNaN(d.getTime()) ? '-' : d.toISOString().slice(11, 23);
}

/** An event's `data` in one line: `key=value` pairs, numbers to 8 significant digits, nested values as JSON. */
export function dataSummary(data: unknown, max = 200): string {
  let text: string;
  if (data === null || typeof data !== 'object' || Array.isArray(data)) text = JSON.stringify(data) ?? '';
  else {
    text = Object.entries(data as Record<string, unknown>)
      .map(([k, v]) => `${k}=${scalar(v)}`)
      .join(' ');
  }
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function scalar(v: unknown): string {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(8)));
  if (typeof v === 'string') return /[\s=]/.test(v) || v === '' ? JSON.stringify(v) : v;
  return JSON.stringify(v) ?? String(v);
}
