/**
 * Dead letters as the `qt dlq` commands see them: read from the `dlq`
 * stream (src/streams/dlq.ts writes them), the raw entry decoded when it is
 * a valid envelope, and the record of their replays (`keys.dlqReplays()`).
 */
import { InvalidArgumentError } from 'commander';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { type Envelope, EnvelopeSchema } from '../events/envelope.js';
import { decodeEntry } from '../streams/codec.js';
import { parseFlatRecord } from '../streams/redis-replies.js';
import type { CliContext } from './context.js';
import { CliError, EXIT } from './exit-codes.js';

/** A stream entry id as Redis writes it: `<ms>-<seq>`. */
export const ENTRY_ID = /^\d+-\d+$/;

/** What the replay record of one dead letter holds (JSON in the `dlqReplays` hash, field = dlq entry id). */
export const ReplayRecordSchema = z.object({
  /** Replays so far (a `--force` replay adds one). */
  count: z.number().int().positive(),
  /** `appending` while the replay is being appended (or if `qt` died meanwhile), then `appended`. */
  state: z.enum(['appending', 'appended']),
  at: z.iso.datetime({ offset: false }),
  operator: z.string(),
  reason: z.string(),
  producer: z.string(),
  seq: z.number().int().positive().nullable(),
  /** The replay's entry id in the topic stream. */
  entryId: z.string().nullable(),
});
/** The replay record of one dead letter. */
export type ReplayRecord = z.infer<typeof ReplayRecordSchema>;

/** One dead letter (`qt dlq list/show --json`). */
export const DeadLetterSchema = z.object({
  /** Its id in the `dlq` stream. */
  id: z.string(),
  /** When it was dead-lettered (the `time` field), else from its id. */
  time: z.string().nullable(),
  ageMs: z.number().nonnegative().nullable(),
  topic: z.string(),
  /** The original entry's id in the topic stream. */
  entryId: z.string(),
  group: z.string(),
  consumer: z.string(),
  deliveries: z.number().int().nonnegative(),
  reason: z.string(),
  error: z.string(),
  /** The original entry's fields, unchanged. */
  raw: z.array(z.string()),
  /** The raw entry decoded, when it is a valid envelope; else null and `invalid` says why. */
  envelope: EnvelopeSchema.nullable(),
  invalid: z.string().nullable(),
  replays: ReplayRecordSchema.nullable(),
});
/** One dead letter. */
export type DeadLetterView = z.infer<typeof DeadLetterSchema>;

const StoredLetterSchema = z.object({
  topic: z.string().default(''),
  entryId: z.string().default(''),
  group: z.string().default(''),
  consumer: z.string().default(''),
  deliveries: z.coerce.number().int().nonnegative().catch(0),
  reason: z.string().default(''),
  error: z.string().default(''),
  raw: z.string().default('[]'),
  time: z.string().optional(),
});

/** The dead letter of one `dlq` stream entry; a dead letter whose fields are damaged still shows, with `invalid` set. */
export function parseDeadLetter(id: string, fields: readonly string[], now = Date.now()): DeadLetterView {
  const stored = StoredLetterSchema.parse(parseFlatRecord(fields));
  let raw: string[] = [];
  let envelope: Envelope | null = null;
  let invalid: string | null = null;
  const parsedRaw = z.array(z.string()).safeParse(safeJson(stored.raw));
  if (parsedRaw.success) {
    raw = parsedRaw.data;
    try {
      envelope = decodeEntry(raw);
    } catch (err) {
      invalid = (err as Error).message;
    }
  } else {
    invalid = 'the dead letter\'s "raw" field is not a JSON array of strings';
  }
  const at =
    stored.time !== undefined && Number.isFinite(Date.parse(stored.time)) ? Date.parse(stored.time) : idTime(id);
  return {
    id,
    time: stored.time ?? (at === null ? null : new Date(at).toISOString()),
    ageMs: at === null ? null : Math.max(0, now - at),
    topic: stored.topic,
    entryId: stored.entryId,
    group: stored.group,
    consumer: stored.consumer,
    deliveries: stored.deliveries,
    reason: stored.reason,
    error: stored.error,
    raw,
    envelope,
    invalid,
    replays: null,
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The millisecond timestamp of an entry id. */
export function idTime(id: string): number | null {
  const ms = Number(id.split('-')[0]);
  return Number.isFinite(ms) ? ms : null;
}

/** A commander parser for one dead letter id: exit 2 with the usage unless it is `<ms>-<seq>`. */
export function entryIdArgument(id: string): string {
  if (!ENTRY_ID.test(id)) throw new InvalidArgumentError(`"${id}" is not a stream entry id (like 1700000000000-0)`);
  return id;
}

/** Checks ids given as variadic operands (commander's parser would have to accumulate them); exit 2 on a bad one. */
export function checkEntryIds(ids: readonly string[]): string[] {
  for (const id of ids) {
    if (!ENTRY_ID.test(id)) throw new CliError(EXIT.USAGE, `"${id}" is not a stream entry id (like 1700000000000-0)`);
  }
  return [...ids];
}

/** Which dead letters a command is about. */
export interface LetterFilter {
  readonly topic?: string | undefined;
  readonly group?: string | undefined;
  /** Only those dead-lettered at least this long ago. */
  readonly olderThanMs?: number | undefined;
}

/** True when `letter` passes `filter`. */
export function matches(letter: DeadLetterView, filter: LetterFilter, now = Date.now()): boolean {
  if (filter.topic !== undefined && letter.topic !== filter.topic) return false;
  if (filter.group !== undefined && letter.group !== filter.group) return false;
  if (filter.olderThanMs !== undefined) {
    const at = idTime(letter.id);
    if (at === null || now - at < filter.olderThanMs) return false;
  }
  return true;
}

/** Entries read per XRANGE call while scanning the dlq stream. */
const PAGE = 500;

/**
 * Dead letters passing `filter`, oldest first (or newest first), at most
 * `limit`; pages through the dlq stream, so a large one costs several calls
 * but never one huge reply.
 */
export async function scanDeadLetters(
  ctx: CliContext,
  filter: LetterFilter,
  options: { newestFirst?: boolean; limit?: number } = {},
): Promise<DeadLetterView[]> {
  const redis = await ctx.redis();
  const key = ctx.keys.dlq();
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  const out: DeadLetterView[] = [];
  const now = Date.now();
  let bound = options.newestFirst ? '+' : '-';
  for (;;) {
    const page = options.newestFirst
      ? await redis.xrevrange(key, bound, '-', 'COUNT', PAGE)
      : await redis.xrange(key, bound, '+', 'COUNT', PAGE);
    for (const [id, fields] of page) {
      const letter = parseDeadLetter(id, fields, now);
      if (matches(letter, filter, now)) out.push(letter);
      if (out.length >= limit) return withReplays(redis, ctx, out);
    }
    if (page.length < PAGE) return withReplays(redis, ctx, out);
    const last = page.at(-1)?.[0] as string;
    bound = `(${last}`;
  }
}

/** The dead letters of `ids`, in that order; exit 5 naming the first that is not in the dlq stream. */
export async function readDeadLetters(ctx: CliContext, ids: readonly string[]): Promise<DeadLetterView[]> {
  const redis = await ctx.redis();
  const out: DeadLetterView[] = [];
  const now = Date.now();
  for (const id of new Set(ids)) {
    const [entry] = await redis.xrange(ctx.keys.dlq(), id, id);
    if (!entry) throw new CliError(EXIT.NOT_FOUND, `no dead letter ${id} in ${ctx.keys.dlq()}`);
    out.push(parseDeadLetter(entry[0], entry[1], now));
  }
  return withReplays(redis, ctx, out);
}

/** Fills in each letter's replay record. */
async function withReplays(redis: Redis, ctx: CliContext, letters: DeadLetterView[]): Promise<DeadLetterView[]> {
  if (letters.length === 0) return letters;
  const records = await redis.hmget(ctx.keys.dlqReplays(), ...letters.map((l) => l.id));
  return letters.map((l, i) => ({ ...l, replays: parseReplayRecord(records[i] ?? null) }));
}

/** A stored replay record, or null when there is none (or it is unreadable: then it does not count). */
export function parseReplayRecord(text: string | null): ReplayRecord | null {
  if (text === null) return null;
  const parsed = ReplayRecordSchema.safeParse(safeJson(text));
  return parsed.success ? parsed.data : null;
}
