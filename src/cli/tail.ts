import { type Command, InvalidArgumentError } from 'commander';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { isEventType } from '../events/catalog.js';
import { idTime } from '../streams/group-lag.js';
import type { CliContext } from './context.js';
import { countOption, durationOption } from './duration.js';
import {
  clockTime,
  type DecodedEntry,
  dataSummary,
  decodeStreamEntry,
  EnvelopeJsonSchema,
  idAt,
  noStream,
  shortId,
  topicKey,
  UndecodableJsonSchema,
} from './entries.js';
import { CliError, EXIT } from './exit-codes.js';
import { type Column, formatDuration, type Output, printJsonLine, renderTable } from './output.js';
import { collectWhere, matchesAll, type WhereFilter } from './where.js';

/** `--count` default of `qt tail` without `--since`. */
export const DEFAULT_TAIL_COUNT = 20;

/** At most this many entries are looked at for the backlog (filters can make matches rare); the output says when. */
export const TAIL_SCAN_LIMIT = 100_000;

/** How long one XREAD of `--follow` blocks; SIGINT ends it at once. */
export const FOLLOW_BLOCK_MS = 1_000;

const PAGE = 500;

/**
 * One line of `qt tail --json`, which is NDJSON (one JSON object per line,
 * oldest first; with `--follow`, a line per entry as it arrives): an entry
 * and its envelope, or an entry that is not a valid envelope and why.
 */
export const TailLineSchema = z.union([
  z.object({ id: z.string(), envelope: EnvelopeJsonSchema }),
  UndecodableJsonSchema,
]);
export type TailLine = z.infer<typeof TailLineSchema>;

/** What `qt tail` selects. */
export interface TailQuery {
  readonly topic: string;
  /** Only these types (any of them); empty: all. */
  readonly types: readonly string[];
  readonly where: readonly WhereFilter[];
  /** Only entries at or after this epoch ms (from the entry id's time). */
  readonly sinceMs?: number | undefined;
  /** At most this many of the newest matching entries. */
  readonly count: number;
}

/** Whether an entry is selected: its type (the `type` field of an undecodable one), then the `--where` filters. */
export function selects(entry: DecodedEntry, q: Pick<TailQuery, 'types' | 'where'>): boolean {
  const type = entry.ok ? entry.envelope.type : entry.type;
  if (q.types.length > 0 && (type === null || !q.types.includes(type))) return false;
  // An entry that is not an envelope has no paths to compare: with --where it cannot match.
  if (q.where.length > 0) return entry.ok && matchesAll(entry.envelope, q.where);
  return true;
}

/** The backlog: the newest `count` selected entries up to `end`, oldest first, and whether the scan bound cut it short. */
export async function readBacklog(
  redis: Redis,
  key: string,
  q: TailQuery,
  end = '+',
): Promise<{ entries: DecodedEntry[]; scanned: number; bounded: boolean }> {
  const start = q.sinceMs === undefined ? '-' : idAt(q.sinceMs);
  const picked: DecodedEntry[] = [];
  let cursor = end;
  let scanned = 0;
  const filtered = q.types.length > 0 || q.where.length > 0;
  const pageSize = filtered ? PAGE : Math.min(PAGE, q.count);
  for (;;) {
    const page = await redis.xrevrange(key, cursor, start, 'COUNT', pageSize);
    for (const [id, fields] of page) {
      scanned++;
      const entry = decodeStreamEntry(id, fields);
      if (selects(entry, q)) picked.push(entry);
      if (picked.length >= q.count) return { entries: picked.reverse(), scanned, bounded: false };
    }
    const last = page.at(-1);
    if (page.length < pageSize || last === undefined) return { entries: picked.reverse(), scanned, bounded: false };
    if (scanned >= TAIL_SCAN_LIMIT) return { entries: picked.reverse(), scanned, bounded: true };
    cursor = `(${last[0]}`;
  }
}

/** An entry as a `--json` line. */
export function tailLine(entry: DecodedEntry): TailLine {
  return entry.ok ? { id: entry.id, envelope: entry.envelope } : { id: entry.id, type: entry.type, error: entry.error };
}

/** The table columns; with `fixed`, set widths so batches printed one after another line up. */
export function tailColumns(output: Output, fixed: boolean): Column<DecodedEntry>[] {
  const time = (e: DecodedEntry) =>
    (e.ok ? clockTime(e.envelope.time) : clockTime(idTime(e.id) ?? Number.NaN)).slice(0, 8);
  const w = (n: number) => (fixed ? { width: n } : {});
  // The data column takes what the others leave (at least 20) on a followed table.
  const dataWidth = Math.max(20, output.width - (16 + 8 + 21 + 18 + 8) - 12);
  return [
    { header: 'ID', value: (e) => e.id, ...w(16) },
    { header: 'TIME', value: time, ...w(8) },
    { header: 'TYPE', value: (e) => (e.ok ? e.envelope.type : (e.type ?? '?')), ...w(21) },
    {
      header: 'PRODUCER#SEQ',
      value: (e) => (e.ok ? `${e.envelope.producer}#${e.envelope.seq}` : '-'),
      flexible: true,
      ...w(18),
    },
    { header: 'CORR ID', value: (e) => (e.ok ? shortId(e.envelope.correlationId) : '-'), ...w(8) },
    {
      header: 'DATA',
      // The whole reason is in --json and `qt show`; a table gets its start.
      value: (e) => (e.ok ? dataSummary(e.envelope.data, 120) : `undecodable: ${clip(e.error, 60)}`),
      flexible: true,
      ...w(dataWidth),
    },
  ];
}

function print(output: Output, entries: readonly DecodedEntry[], columns: Column<DecodedEntry>[], header: boolean) {
  if (output.json) {
    for (const e of entries) printJsonLine(output, TailLineSchema, tailLine(e));
  } else if (entries.length > 0 || header) {
    output.out(renderTable(output, columns, entries, { header }));
  }
}

/** Reads new entries after `lastId` until SIGINT/SIGTERM, on a connection of its own (XREAD BLOCK). */
async function follow(ctx: CliContext, key: string, q: TailQuery, lastId: string, columns: Column<DecodedEntry>[]) {
  const main = await ctx.redis();
  const reader = main.duplicate({ commandTimeout: FOLLOW_BLOCK_MS + 5_000 });
  reader.on('error', () => undefined);
  let stopped = false;
  const stop = () => {
    stopped = true;
    reader.disconnect();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let cursor = lastId;
  try {
    await reader.connect();
    while (!stopped) {
      const reply = (await reader.xread('COUNT', PAGE, 'BLOCK', FOLLOW_BLOCK_MS, 'STREAMS', key, cursor)) as
        | [string, [string, string[]][]][]
        | null;
      const page = reply?.[0]?.[1] ?? [];
      const last = page.at(-1);
      if (last === undefined) continue;
      cursor = last[0];
      const entries = page.map(([id, fields]) => decodeStreamEntry(id, fields)).filter((e) => selects(e, q));
      print(ctx.output, entries, columns, false);
    }
  } catch (err) {
    if (stopped) return;
    throw new CliError(
      EXIT.REDIS_UNREACHABLE,
      `tail --follow ${q.topic}: lost Redis at ${ctx.redisLabel}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    reader.disconnect();
  }
}

/** `qt tail TOPIC`: the newest entries decoded, oldest first; `--follow` keeps printing new ones until Ctrl-C. */
export function registerTail(program: Command, context: () => CliContext): void {
  program
    .command('tail')
    .description('the newest entries of a topic, decoded, oldest first; --follow keeps reading until Ctrl-C')
    .argument('<topic>', 'the topic (market, order, ess, …)')
    .option('--type <type>', 'only this event type, e.g. order.filled (repeatable: any of them)', collectType)
    .option(
      '--where <path=value>',
      'only envelopes whose dotted path equals (=) or differs from (!=) value; repeatable: all must hold',
      collectWhere,
    )
    .option('--since <duration>', 'only entries newer than this, e.g. 10m (by the entry id time)', durationOption)
    .option(
      '--count <n>',
      `at most this many of the newest (default ${DEFAULT_TAIL_COUNT}; with --since: all, up to ${TAIL_SCAN_LIMIT} looked at)`,
      countOption,
    )
    .option('--follow', 'then print new entries as they arrive, until Ctrl-C (exit 0)')
    .action(
      async (
        topic: string,
        opts: { type?: string[]; where?: WhereFilter[]; since?: number; count?: number; follow?: boolean },
      ) => {
        const ctx = context();
        const redis = await ctx.redis();
        const key = topicKey(ctx, topic);
        const now = Date.now();
        const q: TailQuery = {
          topic,
          types: opts.type ?? [],
          where: opts.where ?? [],
          sinceMs: opts.since === undefined ? undefined : now - opts.since,
          count: opts.count ?? (opts.since === undefined ? DEFAULT_TAIL_COUNT : Number.MAX_SAFE_INTEGER),
        };
        if (!opts.follow && (await redis.exists(key)) === 0) throw noStream(topic, key);
        // The backlog ends, and --follow starts, at the newest entry now, so none is shown twice or missed.
        const newest = (await redis.xrevrange(key, '+', '-', 'COUNT', 1))[0]?.[0];
        const backlog =
          newest === undefined ? { entries: [], scanned: 0, bounded: false } : await readBacklog(redis, key, q, newest);
        const columns = tailColumns(ctx.output, opts.follow === true);
        if (backlog.entries.length > 0 || opts.follow) print(ctx.output, backlog.entries, columns, true);
        if (backlog.bounded) {
          ctx.output.err(
            `qt: tail ${topic}: looked at the newest ${backlog.scanned} entries only (the bound); older ones were not searched, narrow with --since`,
          );
        } else if (backlog.entries.length === 0 && !ctx.output.json && !opts.follow) {
          const window = opts.since === undefined ? '' : ` in the last ${formatDuration(opts.since)}`;
          ctx.output.out(`no matching entries on ${topic}${window} (${backlog.scanned} looked at)`);
        }
        if (opts.follow) await follow(ctx, key, q, newest ?? '0-0', columns);
      },
    );
}

function clip(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ');
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

/** Collects repeated `--type` options; a type the catalog does not have is bad usage (exit 2). */
function collectType(type: string, previous: readonly string[] = []): string[] {
  if (!isEventType(type)) {
    throw new InvalidArgumentError(`"${type}" is not an event type of the catalog (docs/events.md), e.g. order.filled`);
  }
  return [...previous, type];
}
