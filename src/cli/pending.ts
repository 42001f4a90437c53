import type { Command } from 'commander';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { assertKeyPart } from '../streams/keys.js';
import { isNoGroupError } from '../streams/redis-replies.js';
import type { CliContext } from './context.js';
import { countOption, durationOption } from './duration.js';
import { fieldRecord, noStream, topicKey } from './entries.js';
import { CliError, EXIT } from './exit-codes.js';
import { type Column, formatDuration, printJson, renderTable } from './output.js';

/** `--count` default of `qt pending`. */
export const DEFAULT_PENDING_COUNT = 100;

/** One pending entry (XPENDING's extended form). */
export const PendingEntryJsonSchema = z.object({
  id: z.string(),
  consumer: z.string(),
  /** Milliseconds since it was last delivered. */
  idleMs: z.number().int().nonnegative(),
  /** Times it was delivered (the first delivery counts). */
  deliveries: z.number().int().positive(),
  /** The entry's `type` field; null when the entry was deleted from the stream. */
  type: z.string().nullable(),
});

/** `qt pending --json` (docs/cli.md). */
export const PendingOutputSchema = z.object({
  topic: z.string(),
  key: z.string(),
  group: z.string(),
  /** Every pending entry of the group, whatever the filters. */
  total: z.number().int().nonnegative(),
  /** Oldest first, at most `--count`, filtered by `--min-idle` and `--consumer`. */
  entries: z.array(PendingEntryJsonSchema),
});
export type PendingOutput = z.infer<typeof PendingOutputSchema>;

/** What `qt pending` reads. */
export interface PendingQuery {
  readonly topic: string;
  readonly group: string;
  readonly minIdleMs?: number | undefined;
  readonly consumer?: string | undefined;
  readonly count: number;
}

/** Exit 5 for a missing stream or group, else the error as it is. */
export async function notFoundOr(
  redis: Redis,
  err: unknown,
  topic: string,
  key: string,
  group: string,
): Promise<never> {
  if (!isNoGroupError(err)) throw err;
  if ((await redis.exists(key)) === 0) throw noStream(topic, key);
  throw new CliError(EXIT.NOT_FOUND, `topic ${topic}: stream ${key} has no consumer group ${group}`);
}

/** A group's pending entries, oldest first (XPENDING with IDLE), each with its type. */
export async function readPending(ctx: CliContext, q: PendingQuery): Promise<PendingOutput> {
  const redis = await ctx.redis();
  const key = topicKey(ctx, q.topic);
  usableName('group', q.group);
  if (q.consumer !== undefined) usableName('consumer', q.consumer);
  let summary: unknown[];
  let rows: [string, string, number, number][];
  try {
    summary = (await redis.xpending(key, q.group)) as unknown[];
    const idle = q.minIdleMs === undefined ? [] : ['IDLE', String(q.minIdleMs)];
    const args = [key, q.group, ...idle, '-', '+', String(q.count), ...(q.consumer === undefined ? [] : [q.consumer])];
    rows = (await redis.call('XPENDING', ...args)) as [string, string, number, number][];
  } catch (err) {
    return notFoundOr(redis, err, q.topic, key, q.group);
  }
  const pipeline = redis.pipeline();
  for (const [id] of rows) pipeline.xrange(key, id, id);
  const found = (await pipeline.exec()) ?? [];
  const entries = rows.map(([id, consumer, idle, deliveries], i) => {
    const entry = (found[i]?.[1] as [string, string[]][] | undefined)?.[0];
    return {
      id,
      consumer,
      idleMs: Math.max(0, Number(idle)),
      deliveries: Math.max(1, Number(deliveries)),
      type: entry ? (fieldRecord(entry[1]).type ?? null) : null,
    };
  });
  return { topic: q.topic, key, group: q.group, total: Number(summary[0] ?? 0), entries };
}

/** A group or consumer name must be one the runtime could have made; anything else is bad usage. */
function usableName(kind: string, name: string): void {
  try {
    assertKeyPart(kind, name);
  } catch (err) {
    throw new CliError(EXIT.USAGE, (err as Error).message);
  }
}

const COLUMNS: Column<PendingOutput['entries'][number]>[] = [
  { header: 'ENTRY', value: (e) => e.id },
  { header: 'TYPE', value: (e) => e.type ?? '(deleted)', flexible: true },
  { header: 'CONSUMER', value: (e) => e.consumer, flexible: true },
  { header: 'IDLE', value: (e) => formatDuration(e.idleMs), right: true },
  { header: 'DELIVERIES', value: (e) => e.deliveries, right: true },
];

/** `qt pending TOPIC GROUP`: entries delivered and not acked: who has them, for how long, how often delivered. */
export function registerPending(program: Command, context: () => CliContext): void {
  program
    .command('pending')
    .description('pending entries of a group: entry id, type, consumer, idle time, deliveries (oldest first)')
    .argument('<topic>', 'the topic (dlq for dead letters)')
    .argument('<group>', 'the consumer group (an actor is its own group)')
    .option('--min-idle <duration>', 'only entries idle at least this long, e.g. 30s', durationOption)
    .option('--consumer <name>', 'only entries held by this consumer')
    .option('--count <n>', `at most this many (default ${DEFAULT_PENDING_COUNT})`, countOption)
    .action(async (topic: string, group: string, opts: { minIdle?: number; consumer?: string; count?: number }) => {
      const ctx = context();
      const out = await readPending(ctx, {
        topic,
        group,
        minIdleMs: opts.minIdle,
        consumer: opts.consumer,
        count: opts.count ?? DEFAULT_PENDING_COUNT,
      });
      if (ctx.output.json) return printJson(ctx.output, PendingOutputSchema, out);
      if (out.entries.length > 0) ctx.output.out(renderTable(ctx.output, COLUMNS, out.entries));
      const filters = [
        opts.minIdle === undefined ? '' : `idle ≥ ${formatDuration(opts.minIdle)}`,
        opts.consumer === undefined ? '' : `consumer ${opts.consumer}`,
      ].filter(Boolean);
      const which = filters.length > 0 ? ` (${filters.join(', ')})` : '';
      ctx.output.out(`${out.total} pending in group ${group} of ${topic}; ${out.entries.length} shown${which}`);
    });
}
