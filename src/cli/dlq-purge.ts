/**
 * `qt dlq purge`: deletes dead letters from the `dlq` stream (XDEL), and
 * their replay records with them. Prints the plan unless `--execute`; with
 * it, deletes exactly the dead letters of the plan it printed and records
 * the purge in the audit trail (docs/cli.md, "qt dlq").
 */
import type { Command } from 'commander';
import { z } from 'zod';
import { addReasonOption, recordAudit } from './audit.js';
import type { CliContext } from './context.js';
import { checkEntryIds, type DeadLetterView, readDeadLetters, scanDeadLetters } from './dlq-letters.js';
import { durationOption } from './duration.js';
import { CliError, EXIT } from './exit-codes.js';
import { type Column, formatDuration, printJson, renderTable } from './output.js';

/** `qt dlq purge --json` (docs/cli.md). */
export const PurgeOutputSchema = z.object({
  /** False for a plan (nothing changed). */
  executed: z.boolean(),
  reason: z.string(),
  /** The dead letters selected: what the plan would delete, or what was deleted. */
  selected: z.array(
    z.object({
      id: z.string(),
      topic: z.string(),
      group: z.string(),
      entryId: z.string(),
      reason: z.string(),
      ageMs: z.number().nonnegative().nullable(),
    }),
  ),
  /** After `--execute`: entries XDEL removed (fewer than selected if some were deleted meanwhile). */
  deleted: z.number().int().nonnegative().nullable(),
  auditEntryId: z.string().nullable(),
});
/** `qt dlq purge --json`. */
export type PurgeOutput = z.infer<typeof PurgeOutputSchema>;

/** Ids per XDEL / HDEL call. */
const CHUNK = 500;
/** At most this many ids in an audit event's details (the count is always complete). */
const AUDIT_LIST_MAX = 100;

interface PurgeOptions {
  readonly topic?: string;
  readonly group?: string;
  readonly olderThan?: number;
  readonly execute?: boolean;
  readonly reason: string;
}

const COLUMNS: Column<PurgeOutput['selected'][number]>[] = [
  { header: 'DLQ ID', value: (l) => l.id },
  { header: 'AGE', value: (l) => formatDuration(l.ageMs), right: true },
  { header: 'TOPIC', value: (l) => l.topic },
  { header: 'ENTRY', value: (l) => l.entryId },
  { header: 'GROUP', value: (l) => l.group, flexible: true },
  { header: 'REASON', value: (l) => l.reason },
];

async function select(ctx: CliContext, ids: readonly string[], options: PurgeOptions): Promise<DeadLetterView[]> {
  const filtered = options.topic !== undefined || options.group !== undefined || options.olderThan !== undefined;
  if (ids.length > 0 && filtered) {
    throw new CliError(EXIT.USAGE, 'give dead letter IDs or --topic/--group/--older-than, not both');
  }
  if (ids.length === 0 && !filtered) {
    throw new CliError(
      EXIT.USAGE,
      'say what to purge: IDs, or --topic, --group, --older-than (every dead letter: --older-than 0s)',
    );
  }
  if (ids.length > 0) return readDeadLetters(ctx, checkEntryIds(ids));
  return scanDeadLetters(ctx, { topic: options.topic, group: options.group, olderThanMs: options.olderThan });
}

/** `qt dlq purge [--topic T] [--group G] [--older-than 7d] [ID...] --reason TEXT [--execute]`. */
export function registerDlqPurge(dlq: Command, context: () => CliContext): void {
  const command = dlq
    .command('purge')
    .description('delete dead letters (and their replay records); prints the plan unless --execute')
    .argument('[ids...]', 'dead letter ids (from qt dlq list)')
    .option('--topic <topic>', 'the dead letters of this topic')
    .option('--group <group>', 'the dead letters of this consumer group')
    .option('--older-than <duration>', 'dead-lettered at least this long ago (7d, 12h, 30m)', durationOption)
    .option('--execute', 'do it; without, print the plan and change nothing');
  addReasonOption(command).action(async (ids: string[], options: PurgeOptions) => {
    const ctx = context();
    const letters = await select(ctx, ids, options);
    const out: PurgeOutput = {
      executed: false,
      reason: options.reason,
      selected: letters.map((l) => ({
        id: l.id,
        topic: l.topic,
        group: l.group,
        entryId: l.entryId,
        reason: l.reason,
        ageMs: l.ageMs,
      })),
      deleted: null,
      auditEntryId: null,
    };
    if (options.execute) {
      const redis = await ctx.redis();
      const chosen = letters.map((l) => l.id);
      let deleted = 0;
      let failure: unknown;
      try {
        for (let at = 0; at < chosen.length; at += CHUNK) {
          const chunk = chosen.slice(at, at + CHUNK);
          deleted += await redis.xdel(ctx.keys.dlq(), ...chunk);
          await redis.hdel(ctx.keys.dlqReplays(), ...chunk);
        }
      } catch (err) {
        failure = new CliError(
          EXIT.REDIS_UNREACHABLE,
          `purging ${ctx.keys.dlq()} failed after ${deleted} deleted: ${(err as Error).message}`,
          { cause: err },
        );
      }
      out.executed = true;
      out.deleted = deleted;
      try {
        out.auditEntryId = await recordAudit(ctx, {
          command: 'dlq purge',
          args: { ids, topic: options.topic, group: options.group, olderThanMs: options.olderThan, execute: true },
          reason: options.reason,
          result: failure === undefined ? 'ok' : 'failed',
          details: {
            selectedCount: chosen.length,
            deleted,
            ids: chosen.slice(0, AUDIT_LIST_MAX),
            ...(failure === undefined ? {} : { error: (failure as Error).message }),
          },
        });
      } catch (err) {
        failure ??= err;
      }
      print(ctx, out);
      if (failure !== undefined) throw failure;
      return;
    }
    print(ctx, out);
  });
}

function print(ctx: CliContext, out: PurgeOutput): void {
  if (ctx.output.json) {
    printJson(ctx.output, PurgeOutputSchema, out);
    return;
  }
  ctx.output.out(
    out.executed
      ? `deleted ${out.deleted} of ${out.selected.length} dead letters from ${ctx.keys.dlq()}${out.auditEntryId ? `; audit event ${out.auditEntryId} on ${ctx.keys.stream('audit')}` : ''}`
      : `plan (nothing changes without --execute): delete ${out.selected.length} dead letters from ${ctx.keys.dlq()}`,
  );
  if (out.selected.length > 0) ctx.output.out(renderTable(ctx.output, COLUMNS, out.selected));
}
