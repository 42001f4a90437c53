/**
 * The `qt dlq replay` command: selects dead letters, prints the plan
 * (src/cli/dlq-replay.ts decides it), and with `--execute` carries it out
 * and records it in the audit trail (docs/cli.md, "qt dlq").
 */
import type { Command } from 'commander';
import { addReasonOption, cliOperator, cliProducerId, recordAudit } from './audit.js';
import type { CliContext } from './context.js';
import { checkEntryIds, type DeadLetterView, readDeadLetters, scanDeadLetters } from './dlq-letters.js';
import { executeReplay, planReplay, type ReplayItem, type ReplayOutput, ReplayOutputSchema } from './dlq-replay.js';
import { CliError, EXIT } from './exit-codes.js';
import { type Column, printJson, renderTable } from './output.js';

/** At most this many ids per list in an audit event's details (the counts are always complete). */
const AUDIT_LIST_MAX = 100;

interface ReplayOptions {
  readonly all?: boolean;
  readonly topic?: string;
  readonly group?: string;
  readonly execute?: boolean;
  readonly force?: boolean;
  readonly reason: string;
}

/** What an item came to, in words: the plan's action, or after `--execute` what was done. */
function status(item: ReplayItem, executed: boolean): string {
  if (item.action === 'refuse') return 'refused';
  if (!executed) return 'replay';
  return item.replayEntryId === null ? 'not done' : 'replayed';
}

function detail(item: ReplayItem, executed: boolean): string {
  if (item.action === 'refuse') return item.why ?? '';
  if (item.replayEntryId !== null) return `entry ${item.replayEntryId} (seq ${item.seq}) on ${item.stream}`;
  return executed ? 'stopped before it (see the error)' : `append to ${item.stream} for group ${item.group} only`;
}

function columns(executed: boolean): Column<ReplayItem>[] {
  return [
    { header: 'DLQ ID', value: (i) => i.dlqEntryId },
    { header: 'TOPIC', value: (i) => i.topic },
    { header: 'ENTRY', value: (i) => i.entryId },
    { header: 'GROUP', value: (i) => i.group },
    { header: 'TYPE', value: (i) => i.type ?? '(invalid)' },
    { header: 'BEFORE', value: (i) => i.previousReplays, right: true },
    { header: executed ? 'RESULT' : 'ACTION', value: (i) => status(i, executed) },
    { header: executed ? 'DETAIL' : 'WHAT / WHY', value: (i) => detail(i, executed), flexible: true },
  ];
}

/** The summary line above the table. */
function headline(ctx: CliContext, out: ReplayOutput): string {
  const skipped =
    out.alreadyReplayed > 0 ? `; ${out.alreadyReplayed} replayed before left out (--force includes them)` : '';
  if (!out.executed) {
    const toReplay = out.items.length - out.refused;
    return `plan (nothing changes without --execute): ${toReplay} to replay as producer ${out.producer}, ${out.refused} refused${skipped}`;
  }
  const audit = out.auditEntryId ? `; audit event ${out.auditEntryId} on ${ctx.keys.stream('audit')}` : '';
  return `replayed ${out.replayed}, refused ${out.refused}, as producer ${out.producer}${skipped}${audit}`;
}

function print(ctx: CliContext, out: ReplayOutput): void {
  if (ctx.output.json) {
    printJson(ctx.output, ReplayOutputSchema, out);
    return;
  }
  ctx.output.out(headline(ctx, out));
  if (out.items.length > 0) ctx.output.out(renderTable(ctx.output, columns(out.executed), out.items));
}

/** Which dead letters the operands and options name; exit 2 for a contradictory selection. */
async function select(ctx: CliContext, ids: readonly string[], options: ReplayOptions): Promise<DeadLetterView[]> {
  if (ids.length > 0 && options.all) throw new CliError(EXIT.USAGE, 'give dead letter IDs or --all, not both');
  if (ids.length === 0 && !options.all) {
    throw new CliError(EXIT.USAGE, 'name the dead letters to replay (IDs from qt dlq list), or pass --all');
  }
  if (ids.length > 0 && (options.topic !== undefined || options.group !== undefined)) {
    throw new CliError(EXIT.USAGE, '--topic and --group narrow --all; with IDs, the IDs alone say what to replay');
  }
  return ids.length > 0
    ? readDeadLetters(ctx, checkEntryIds(ids))
    : scanDeadLetters(ctx, { topic: options.topic, group: options.group });
}

/** `qt dlq replay ID... | --all [--topic T] [--group G] --reason TEXT [--execute] [--force]`. */
export function registerDlqReplay(dlq: Command, context: () => CliContext): void {
  const command = dlq
    .command('replay')
    .description(
      'put dead letters back before the group that dead-lettered them (its handler sees each once more); prints the plan unless --execute',
    )
    .argument('[ids...]', 'dead letter ids (from qt dlq list)')
    .option('--all', 'every dead letter not replayed yet (narrowed by --topic / --group)')
    .option('--topic <topic>', 'with --all: only dead letters of this topic')
    .option('--group <group>', 'with --all: only dead letters of this group')
    .option('--execute', 'do it; without, print the plan and change nothing')
    .option('--force', 'replay dead letters that were replayed before, again');
  addReasonOption(command).action(async (ids: string[], options: ReplayOptions) => {
    const ctx = context();
    let letters = await select(ctx, ids, options);
    const force = options.force === true;
    let alreadyReplayed = 0;
    if (options.all && !force) {
      alreadyReplayed = letters.filter((l) => l.replays !== null).length;
      letters = letters.filter((l) => l.replays === null);
    }
    const items = await planReplay(ctx, letters, force);
    const out: ReplayOutput = {
      executed: false,
      producer: cliProducerId(),
      operator: cliOperator(),
      reason: options.reason,
      items,
      replayed: 0,
      refused: items.filter((i) => i.action === 'refuse').length,
      alreadyReplayed,
      auditEntryId: null,
    };
    let failure: unknown;
    if (options.execute) {
      try {
        await executeReplay(ctx, items, new Map(letters.map((l) => [l.id, l])), { reason: options.reason, force });
      } catch (err) {
        failure = err;
      }
      out.executed = true;
      out.replayed = items.filter((i) => i.replayEntryId !== null).length;
      out.refused = items.filter((i) => i.action === 'refuse').length;
      try {
        out.auditEntryId = await recordAudit(ctx, {
          command: 'dlq replay',
          args: { ids, all: options.all === true, topic: options.topic, group: options.group, force, execute: true },
          reason: options.reason,
          result: failure !== undefined ? 'failed' : out.refused > 0 ? 'refused' : 'ok',
          details: auditDetails(out, failure),
        });
      } catch (err) {
        failure ??= err;
      }
    }
    print(ctx, out);
    if (failure !== undefined) throw failure;
    const refused = items.filter((i) => i.action === 'refuse');
    if (refused.length > 0) {
      const first = refused[0] as ReplayItem;
      ctx.output.err(
        `qt: ${refused.length} of ${items.length} dead letters ${out.executed ? 'were' : 'would be'} refused; ${first.dlqEntryId}: ${first.why}`,
      );
      process.exitCode = EXIT.REFUSED;
    }
  });
}

/** What a replay did, for its audit event: the replays and refusals (each list capped), and why it stopped. */
function auditDetails(out: ReplayOutput, failure: unknown): Record<string, unknown> {
  const replayed = out.items.filter((i) => i.replayEntryId !== null);
  const refused = out.items.filter((i) => i.action === 'refuse');
  return {
    producer: out.producer,
    replayedCount: replayed.length,
    refusedCount: refused.length,
    alreadyReplayed: out.alreadyReplayed,
    replayed: replayed.slice(0, AUDIT_LIST_MAX).map((i) => ({
      dlqEntryId: i.dlqEntryId,
      topic: i.topic,
      group: i.group,
      entryId: i.entryId,
      replayEntryId: i.replayEntryId,
      seq: i.seq,
    })),
    refused: refused.slice(0, AUDIT_LIST_MAX).map((i) => ({ dlqEntryId: i.dlqEntryId, why: i.why })),
    ...(failure === undefined ? {} : { error: (failure as Error).message }),
  };
}
