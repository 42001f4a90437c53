import type { Command } from 'commander';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { TOPICS } from '../events/catalog.js';
import type { Envelope } from '../events/envelope.js';
import { FIELD_ENVELOPE } from '../streams/codec.js';
import { DLQ_TOPIC } from '../streams/keys.js';
import type { CliContext } from './context.js';
import { countOption, durationOption } from './duration.js';
import {
  clockTime,
  compareIds,
  dataSummary,
  decodeStreamEntry,
  EnvelopeJsonSchema,
  fieldRecord,
  idAt,
  shortId,
  topicKey,
} from './entries.js';
import { CliError, EXIT } from './exit-codes.js';
import { type Column, formatDuration, printJson, renderTable } from './output.js';

/** `--since` default of `qt trace`. */
export const DEFAULT_TRACE_SINCE_MS = 3_600_000;

/** `--max-entries` default: entries looked at per stream, newest first; the output says when a stream had more. */
export const DEFAULT_TRACE_MAX_ENTRIES = 200_000;

const PAGE = 1_000;

/** One event of a trace. */
export const TraceEventJsonSchema = z.object({
  topic: z.string(),
  entryId: z.string(),
  /** 0 for an event whose cause is not in the trace (the origin, or a cause outside the window). */
  depth: z.number().int().nonnegative(),
  /** The trace event this one hangs under: its cause, or for a dead letter the event it is a copy of. */
  parent: z.object({ topic: z.string(), entryId: z.string() }).nullable(),
  envelope: EnvelopeJsonSchema,
  /** Set on an entry of the dlq stream: where the dead letter came from. */
  deadLetter: z
    .object({ topic: z.string(), entryId: z.string(), group: z.string(), reason: z.string(), error: z.string() })
    .nullable(),
});
export type TraceEvent = z.infer<typeof TraceEventJsonSchema>;

/** `qt trace --json` (docs/cli.md): the events in causation-tree order (each cause before what it caused, siblings by time). */
export const TraceOutputSchema = z.object({
  correlationId: z.string(),
  sinceMs: z.number().int().nonnegative(),
  /** What was searched: per stream, entries looked at and whether `--max-entries` stopped the search. */
  streams: z.array(z.object({ topic: z.string(), scanned: z.number().int().nonnegative(), bounded: z.boolean() })),
  events: z.array(TraceEventJsonSchema),
});
export type TraceOutput = z.infer<typeof TraceOutputSchema>;

interface Found {
  readonly topic: string;
  readonly entryId: string;
  readonly envelope: Envelope;
  readonly deadLetter: TraceEvent['deadLetter'];
}

/** Text as it appears inside a JSON string, `levels` times over (a dead letter's fields are JSON inside JSON). */
function escaped(text: string, levels: number): string {
  let s = text;
  for (let i = 0; i < levels; i++) s = JSON.stringify(s).slice(1, -1);
  return s;
}

/** The events of one stream carrying `correlationId`, newest entries first, at most `max` looked at. */
async function scanStream(
  redis: Redis,
  topic: string,
  key: string,
  correlationId: string,
  since: string,
  max: number,
): Promise<{ found: Found[]; scanned: number; bounded: boolean }> {
  const dlq = topic === DLQ_TOPIC;
  // A cheap substring test first: only entries that mention the id are parsed.
  const needle = escaped(correlationId, dlq ? 2 : 1);
  const found: Found[] = [];
  let cursor = '+';
  let scanned = 0;
  for (;;) {
    const want = Math.min(PAGE, max - scanned);
    const page = await redis.xrevrange(key, cursor, since, 'COUNT', want);
    for (const [id, fields] of page) {
      scanned++;
      const f = fieldRecord(fields);
      const text = dlq ? f.raw : f[FIELD_ENVELOPE];
      if (text === undefined || !text.includes(needle)) continue;
      const hit = dlq ? deadLetterOf(id, f) : withEnvelope(topic, id, fields);
      if (hit && hit.envelope.correlationId === correlationId) found.push(hit);
    }
    const last = page.at(-1);
    if (last === undefined || page.length < want) return { found, scanned, bounded: false };
    if (scanned >= max) {
      const more = await redis.xrevrange(key, `(${last[0]}`, since, 'COUNT', 1);
      return { found, scanned, bounded: more.length > 0 };
    }
    cursor = `(${last[0]}`;
  }
}

function withEnvelope(topic: string, entryId: string, fields: string[]): Found | undefined {
  const e = decodeStreamEntry(entryId, fields);
  return e.ok ? { topic, entryId, envelope: e.envelope, deadLetter: null } : undefined;
}

function deadLetterOf(entryId: string, f: Record<string, string>): Found | undefined {
  let original: unknown;
  try {
    original = JSON.parse(f.raw ?? '');
  } catch {
    return undefined;
  }
  if (!Array.isArray(original) || !original.every((x) => typeof x === 'string')) return undefined;
  const e = decodeStreamEntry(f.entryId ?? entryId, original as string[]);
  if (!e.ok) return undefined;
  const deadLetter = {
    topic: f.topic ?? '?',
    entryId: f.entryId ?? '?',
    group: f.group ?? '?',
    reason: f.reason ?? '?',
    error: f.error ?? '',
  };
  return { topic: DLQ_TOPIC, entryId, envelope: e.envelope, deadLetter };
}

/** Time order: the envelope's time, then the entry id's, then the topic. */
function byTime(a: Found, b: Found): number {
  if (a.envelope.time !== b.envelope.time) return a.envelope.time < b.envelope.time ? -1 : 1;
  const ids = compareIds(a.entryId, b.entryId);
  return ids !== 0 ? ids : a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0;
}

/**
 * Arranges the events as their causation tree: each under the event its
 * `causationId` names (a dead letter under the event it copies), roots and
 * siblings in time order, depth-first.
 */
export function causationTree(found: readonly Found[]): TraceEvent[] {
  const sorted = [...found].sort(byTime);
  const byEventId = new Map<string, Found>();
  for (const f of sorted) if (f.deadLetter === null && !byEventId.has(f.envelope.id)) byEventId.set(f.envelope.id, f);
  const parentOf = (f: Found): Found | undefined => {
    const original = f.deadLetter ? byEventId.get(f.envelope.id) : undefined;
    if (original) return original;
    const cause = f.envelope.causationId;
    const p = cause === undefined ? undefined : byEventId.get(cause);
    return p === f ? undefined : p;
  };
  const children = new Map<Found, Found[]>();
  const roots: Found[] = [];
  for (const f of sorted) {
    const p = parentOf(f);
    if (p === undefined) roots.push(f);
    else children.set(p, [...(children.get(p) ?? []), f]);
  }
  const out: TraceEvent[] = [];
  const seen = new Set<Found>();
  const walk = (f: Found, depth: number, parent: Found | undefined) => {
    if (seen.has(f)) return;
    seen.add(f);
    out.push({
      topic: f.topic,
      entryId: f.entryId,
      depth,
      parent: parent ? { topic: parent.topic, entryId: parent.entryId } : null,
      envelope: f.envelope,
      deadLetter: f.deadLetter,
    });
    for (const c of children.get(f) ?? []) walk(c, depth + 1, f);
  };
  for (const r of roots) walk(r, 0, undefined);
  // A causation cycle (ids reused by hand) has no root: list what it left out at the top level.
  for (const f of sorted) walk(f, 0, undefined);
  return out;
}

/** Every event carrying `correlationId` on every topic stream and the dlq since `sinceMs` ago; none is exit 5. */
export async function readTrace(
  ctx: CliContext,
  correlationId: string,
  options: { readonly sinceMs: number; readonly maxEntries: number; readonly now?: number },
): Promise<TraceOutput> {
  const redis = await ctx.redis();
  const since = idAt((options.now ?? Date.now()) - options.sinceMs);
  const streams: TraceOutput['streams'] = [];
  const found: Found[] = [];
  for (const topic of [...TOPICS, DLQ_TOPIC]) {
    const scan = await scanStream(redis, topic, topicKey(ctx, topic), correlationId, since, options.maxEntries);
    streams.push({ topic, scanned: scan.scanned, bounded: scan.bounded });
    found.push(...scan.found);
  }
  if (found.length === 0) {
    const looked = streams.reduce((n, s) => n + s.scanned, 0);
    const cut = streams.filter((s) => s.bounded).map((s) => s.topic);
    const note = cut.length > 0 ? `; ${cut.join(', ')} had more than --max-entries ${options.maxEntries}` : '';
    throw new CliError(
      EXIT.NOT_FOUND,
      `no event carries correlation id ${correlationId} in the last ${formatDuration(options.sinceMs)} (${looked} entries looked at on ${streams.length} streams${note})`,
    );
  }
  return { correlationId, sinceMs: options.sinceMs, streams, events: causationTree(found) };
}

const COLUMNS: Column<TraceEvent>[] = [
  { header: 'TIME', value: (e) => clockTime(e.envelope.time) },
  // The tree: each event under its cause, one step further in.
  { header: 'EVENT', value: (e) => `${e.depth === 0 ? '' : `${'  '.repeat(e.depth - 1)}└─ `}${e.envelope.type}` },
  { header: 'SOURCE', value: (e) => e.envelope.source, flexible: true },
  { header: 'ENTRY', value: (e) => `${e.topic} ${e.entryId}`, flexible: true },
  {
    header: 'DATA',
    value: (e) =>
      e.deadLetter
        ? `dead letter (${e.deadLetter.reason} in ${e.deadLetter.group}): ${e.deadLetter.error}`
        : dataSummary(e.envelope.data, 160),
    flexible: true,
  },
];

/** `qt trace CORRELATION_ID`: one request or tick through every service, as its causation tree. */
export function registerTrace(program: Command, context: () => CliContext): void {
  program
    .command('trace')
    .description('every event of one correlation id on every topic stream and the dlq, as its causation tree')
    .argument('<correlation-id>', "the id (X-Correlation-ID of a request, or an event's correlationId)")
    .option(
      '--since <duration>',
      `search entries this recent (default ${formatDuration(DEFAULT_TRACE_SINCE_MS)})`,
      durationOption,
    )
    .option(
      '--max-entries <n>',
      `look at most at this many of the newest entries per stream (default ${DEFAULT_TRACE_MAX_ENTRIES})`,
      countOption,
    )
    .action(async (correlationId: string, opts: { since?: number; maxEntries?: number }) => {
      const ctx = context();
      const out = await readTrace(ctx, correlationId, {
        sinceMs: opts.since ?? DEFAULT_TRACE_SINCE_MS,
        maxEntries: opts.maxEntries ?? DEFAULT_TRACE_MAX_ENTRIES,
      });
      const cut = out.streams.filter((s) => s.bounded);
      if (ctx.output.json) return printJson(ctx.output, TraceOutputSchema, out);
      const topics = new Set(out.events.map((e) => e.topic));
      ctx.output.out(
        `correlation id ${correlationId}: ${out.events.length} events on ${topics.size} streams in the last ${formatDuration(out.sinceMs)}`,
      );
      ctx.output.out(renderTable(ctx.output, COLUMNS, out.events));
      const ids = new Set(out.events.map((e) => e.envelope.id));
      for (const e of out.events) {
        const cause = e.envelope.causationId;
        if (e.depth === 0 && cause !== undefined && !ids.has(cause)) {
          ctx.output.out(
            `${e.envelope.type} ${e.topic} ${e.entryId}: its cause ${shortId(cause)} is not in this trace`,
          );
        }
      }
      for (const s of cut) {
        ctx.output.out(
          `${s.topic}: only the newest ${s.scanned} entries were searched (--max-entries); older ones were not`,
        );
      }
    });
}
