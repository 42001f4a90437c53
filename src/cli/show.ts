import type { Command } from 'commander';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { groupInfos } from '../streams/group-lag.js';
import type { CliContext } from './context.js';
import {
  compareIds,
  type DecodedEntry,
  decodeStreamEntry,
  ENTRY_ID,
  EnvelopeJsonSchema,
  fieldRecord,
  noStream,
  topicKey,
} from './entries.js';
import { CliError, EXIT } from './exit-codes.js';
import { type Column, formatDuration, printJson, renderTable } from './output.js';

/** Where one entry is for one group. */
export const EntryDeliveryJsonSchema = z.object({
  group: z.string(),
  /**
   * `acked`: delivered (id ≤ the group's last-delivered id) and acked, which
   * includes an entry the group dead-lettered or skipped as a duplicate;
   * `pending`: delivered, not acked; `ahead`: not delivered yet.
   */
  status: z.enum(['acked', 'pending', 'ahead']),
  lastDeliveredId: z.string(),
  /** Set when pending: who holds it, since when, how often delivered. */
  consumer: z.string().nullable(),
  idleMs: z.number().int().nonnegative().nullable(),
  deliveries: z.number().int().positive().nullable(),
});
export type EntryDelivery = z.infer<typeof EntryDeliveryJsonSchema>;

/** `qt show --json` (docs/cli.md). */
export const ShowOutputSchema = z.object({
  topic: z.string(),
  key: z.string(),
  id: z.string(),
  /** The decoded envelope; null when the entry is not a valid one (then `error` says why). */
  envelope: EnvelopeJsonSchema.nullable(),
  error: z.string().nullable(),
  /** The entry's fields as stored. */
  fields: z.record(z.string(), z.string()),
  groups: z.array(EntryDeliveryJsonSchema),
});
export type ShowOutput = z.infer<typeof ShowOutputSchema>;

/** Where entry `id` is for every group of the stream: acked, pending (with whom), or ahead. */
export async function deliveries(redis: Redis, key: string, id: string): Promise<EntryDelivery[]> {
  const out: EntryDelivery[] = [];
  for (const g of (await groupInfos(redis, key)) ?? []) {
    const pending = (await redis.call('XPENDING', key, g.name, id, id, '1')) as [string, string, number, number][];
    const p = pending[0];
    const status = p ? 'pending' : compareIds(id, g.lastDeliveredId) <= 0 ? 'acked' : 'ahead';
    out.push({
      group: g.name,
      status,
      lastDeliveredId: g.lastDeliveredId,
      consumer: p ? p[1] : null,
      idleMs: p ? Math.max(0, Number(p[2])) : null,
      deliveries: p ? Math.max(1, Number(p[3])) : null,
    });
  }
  return out;
}

/** One entry decoded, and where it is for each group; an id the stream does not have is exit 5. */
export async function readShow(ctx: CliContext, topic: string, id: string): Promise<ShowOutput> {
  if (!ENTRY_ID.test(id)) throw new CliError(EXIT.USAGE, `"${id}" is not a stream entry id (like 1700000000000-0)`);
  const redis = await ctx.redis();
  const key = topicKey(ctx, topic);
  const found = await redis.xrange(key, id, id);
  const raw = found[0];
  if (raw === undefined) {
    if ((await redis.exists(key)) === 0) throw noStream(topic, key);
    throw new CliError(EXIT.NOT_FOUND, `topic ${topic}: stream ${key} has no entry ${id} (trimmed, or never there)`);
  }
  const entry: DecodedEntry = decodeStreamEntry(raw[0], raw[1]);
  return {
    topic,
    key,
    id: raw[0],
    envelope: entry.ok ? entry.envelope : null,
    error: entry.ok ? null : entry.error,
    fields: fieldRecord(raw[1]),
    groups: await deliveries(redis, key, raw[0]),
  };
}

const COLUMNS: Column<EntryDelivery>[] = [
  { header: 'GROUP', value: (g) => g.group, flexible: true },
  { header: 'STATUS', value: (g) => g.status },
  { header: 'CONSUMER', value: (g) => g.consumer, flexible: true },
  { header: 'IDLE', value: (g) => (g.idleMs === null ? null : formatDuration(g.idleMs)), right: true },
  { header: 'DELIVERIES', value: (g) => g.deliveries, right: true },
  { header: 'LAST DELIVERED', value: (g) => g.lastDeliveredId, flexible: true },
];

/** `qt show TOPIC ID`: one entry decoded, and for each group whether it was acked, is pending (where), or is ahead. */
export function registerShow(program: Command, context: () => CliContext): void {
  program
    .command('show')
    .description(
      'one entry decoded, and for each group of its stream: acked, pending (consumer, idle, deliveries) or ahead',
    )
    .argument('<topic>', 'the topic (dlq for dead letters)')
    .argument('<id>', 'the stream entry id, e.g. 1700000000000-0 (qt tail shows them)')
    .action(async (topic: string, id: string) => {
      const ctx = context();
      const out = await readShow(ctx, topic, id);
      if (ctx.output.json) return printJson(ctx.output, ShowOutputSchema, out);
      const head = out.envelope
        ? JSON.stringify(out.envelope, null, 2)
        : `entry ${out.id} is not a valid envelope: ${out.error}\n${JSON.stringify(out.fields, null, 2)}`;
      ctx.output.out(`${topic} ${out.id}\n${head}`);
      if (out.groups.length === 0) ctx.output.out(`no consumer group reads ${topic}`);
      else ctx.output.out(renderTable(ctx.output, COLUMNS, out.groups));
    });
}
