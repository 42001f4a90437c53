import type { Command } from 'commander';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { TOPICS } from '../events/catalog.js';
import { type GroupInfo, groupInfos, groupLag } from '../streams/group-lag.js';
import { DLQ_TOPIC } from '../streams/keys.js';
import { parseFlatRecord } from '../streams/redis-replies.js';
import type { CliContext } from './context.js';
import { durationOption } from './duration.js';
import { noStream, topicKey } from './entries.js';
import { type Column, formatDuration, printJson, renderTable } from './output.js';

/** `--stuck-after` default: a group whose work waited this long while every consumer was idle as long is flagged. */
export const DEFAULT_STUCK_AFTER_MS = 60_000;

/** One consumer of a group (XINFO CONSUMERS). */
export const ConsumerJsonSchema = z.object({
  name: z.string(),
  /** Entries delivered to it and not acked. */
  pending: z.number().int().nonnegative(),
  /** Milliseconds since it last talked to Redis (a blocking read counts). */
  idleMs: z.number().int().nonnegative(),
});

/** One consumer group of a topic stream. */
export const GroupJsonSchema = z.object({
  topic: z.string(),
  key: z.string(),
  group: z.string(),
  consumers: z.array(ConsumerJsonSchema),
  /** Entries delivered and not acked (XPENDING's count). */
  pending: z.number().int().nonnegative(),
  lastDeliveredId: z.string(),
  /** Entries the group has read, as Redis counts them; null when Redis does not know. */
  entriesRead: z.number().int().nonnegative().nullable(),
  /** Entries not yet delivered to the group. */
  lag: z.number().int().nonnegative(),
  /** `redis`: XINFO's `lag`; `counted`: Redis had none (entries were deleted), qt counted; `at-least`: counting stopped at LAG_COUNT_LIMIT. */
  lagSource: z.enum(['redis', 'counted', 'at-least']),
  /** Age of the oldest undelivered entry (from its id's time), in seconds; 0 without lag. */
  lagSeconds: z.number().nonnegative(),
  /** The first entry after `lastDeliveredId`, the next the group will get; null without lag. */
  oldestUndeliveredId: z.string().nullable(),
  /**
   * Not moving: it has work that waited longer than `--stuck-after` (lag whose oldest entry is older, or
   * pending entries) and every consumer (if it has any) has been idle longer than that.
   */
  stuck: z.boolean(),
});
export type GroupJson = z.infer<typeof GroupJsonSchema>;

/** `qt groups --json`: every group of the topic, or of every topic stream (docs/cli.md). */
export const GroupsOutputSchema = z.array(GroupJsonSchema);

/** Reads one group: its consumers, its lag in entries and seconds, and whether it is stuck. */
async function readGroup(
  redis: Redis,
  topic: string,
  key: string,
  info: GroupInfo,
  now: number,
  stuckAfterMs: number,
): Promise<GroupJson> {
  const consumers = ((await redis.xinfo('CONSUMERS', key, info.name)) as unknown[]).map((flat) => {
    const c = parseFlatRecord(flat as unknown[]);
    return { name: String(c.name), pending: Number(c.pending ?? 0), idleMs: Math.max(0, Number(c.idle ?? 0)) };
  });
  const { lag, lagSource, lagMs, oldestUndeliveredId: oldest } = await groupLag(redis, key, info, now);
  // Work that has waited longer than the threshold: undelivered entries that old, or any pending entry
  // (whose consumer, being idle that long, has held it at least as long).
  const waiting = (lag > 0 && lagMs > stuckAfterMs) || info.pending > 0;
  return {
    topic,
    key,
    group: info.name,
    consumers,
    pending: info.pending,
    lastDeliveredId: info.lastDeliveredId,
    entriesRead: info.entriesRead,
    lag,
    lagSource,
    lagSeconds: lagMs / 1_000,
    oldestUndeliveredId: oldest,
    stuck: waiting && consumers.every((c) => c.idleMs > stuckAfterMs),
  };
}

/**
 * Every group of `topic`, or of every topic stream (and the dlq) when
 * `topic` is undefined. A named topic whose stream does not exist is exit 5.
 */
export async function readGroups(
  ctx: CliContext,
  topic: string | undefined,
  options: { readonly stuckAfterMs: number; readonly now?: number },
): Promise<GroupJson[]> {
  const redis = await ctx.redis();
  const now = options.now ?? Date.now();
  const out: GroupJson[] = [];
  for (const t of topic === undefined ? [...TOPICS, DLQ_TOPIC] : [topic]) {
    const key = topicKey(ctx, t);
    const infos = await groupInfos(redis, key);
    if (infos === null) {
      if (topic !== undefined) throw noStream(t, key);
      continue;
    }
    for (const info of infos) out.push(await readGroup(redis, t, key, info, now, options.stuckAfterMs));
  }
  return out;
}

const GROUP_COLUMNS: Column<GroupJson>[] = [
  { header: 'TOPIC', value: (g) => g.topic },
  { header: 'GROUP', value: (g) => g.group, flexible: true },
  { header: 'CONS', value: (g) => g.consumers.length, right: true },
  { header: 'PENDING', value: (g) => g.pending, right: true },
  { header: 'LAG', value: (g) => (g.lagSource === 'at-least' ? `≥${g.lag}` : g.lag), right: true },
  { header: 'LAG AGE', value: (g) => (g.lag > 0 ? formatDuration(g.lagSeconds * 1_000) : '-'), right: true },
  { header: 'LAST DELIVERED', value: (g) => g.lastDeliveredId, flexible: true },
  { header: 'READ', value: (g) => g.entriesRead, right: true },
  { header: 'STATE', value: (g) => (g.stuck ? 'STUCK' : 'ok') },
];

interface ConsumerRow {
  readonly topic: string;
  readonly group: string;
  readonly name: string;
  readonly pending: number;
  readonly idleMs: number;
}

const CONSUMER_COLUMNS: Column<ConsumerRow>[] = [
  { header: 'TOPIC', value: (c) => c.topic },
  { header: 'GROUP', value: (c) => c.group, flexible: true },
  { header: 'CONSUMER', value: (c) => c.name, flexible: true },
  { header: 'PENDING', value: (c) => c.pending, right: true },
  { header: 'IDLE', value: (c) => formatDuration(c.idleMs), right: true },
];

/** `qt groups [TOPIC]`: each group's consumers, pending, lag (entries and seconds), and a stuck flag. */
export function registerGroups(program: Command, context: () => CliContext): void {
  program
    .command('groups')
    .description('consumer groups: consumers, pending, lag in entries and seconds, stuck groups flagged')
    .argument('[topic]', 'one topic (default: every topic stream and the dlq)')
    .option(
      '--stuck-after <duration>',
      `flag a group whose work (lag, pending) waited longer than this while every consumer was idle as long (default ${formatDuration(DEFAULT_STUCK_AFTER_MS)})`,
      durationOption,
    )
    .action(async (topic: string | undefined, opts: { stuckAfter?: number }) => {
      const ctx = context();
      const groups = await readGroups(ctx, topic, { stuckAfterMs: opts.stuckAfter ?? DEFAULT_STUCK_AFTER_MS });
      if (ctx.output.json) return printJson(ctx.output, GroupsOutputSchema, groups);
      if (groups.length === 0)
        return ctx.output.out(topic ? `topic ${topic} has no consumer groups` : 'no consumer groups');
      ctx.output.out(renderTable(ctx.output, GROUP_COLUMNS, groups));
      const consumers = groups.flatMap((g) => g.consumers.map((c) => ({ topic: g.topic, group: g.group, ...c })));
      if (consumers.length > 0) ctx.output.out(`\n${renderTable(ctx.output, CONSUMER_COLUMNS, consumers)}`);
    });
}
