/**
 * `qt dlq`: the dead letters (docs/cli.md, "qt dlq"). `list` and `show`
 * read the `dlq` stream; `replay` (src/cli/dlq-replay-command.ts) and
 * `purge` (src/cli/dlq-purge.ts) change it, each with a plan first.
 */
import type { Command } from 'commander';
import { z } from 'zod';
import type { CliContext } from './context.js';
import {
  DeadLetterSchema,
  type DeadLetterView,
  entryIdArgument,
  readDeadLetters,
  scanDeadLetters,
} from './dlq-letters.js';
import { registerDlqPurge } from './dlq-purge.js';
import { registerDlqReplay } from './dlq-replay-command.js';
import { countOption } from './duration.js';
import { type Column, formatDuration, printJson, renderTable } from './output.js';

/** `qt dlq list --json`: the dead letters shown, newest first, and how many the stream holds. */
export const DlqListOutputSchema = z.object({
  /** Entries in the dlq stream (all topics and groups). */
  total: z.number().int().nonnegative(),
  letters: z.array(DeadLetterSchema),
});
/** `qt dlq list --json`. */
export type DlqListOutput = z.infer<typeof DlqListOutputSchema>;

/** `qt dlq show ID --json`: one dead letter. */
export const DlqShowOutputSchema = DeadLetterSchema;

/** How a dead letter's replays read in a table. */
export function replaysText(letter: DeadLetterView): string {
  const r = letter.replays;
  if (r === null) return 'no';
  return r.state === 'appended' ? `${r.count}×` : `${r.count}× (unfinished)`;
}

/** A long error cut for a table cell (`qt dlq show` and `--json` have it whole). */
const cut = (text: string, max = 40) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

const LIST_COLUMNS: Column<DeadLetterView>[] = [
  { header: 'DLQ ID', value: (l) => l.id },
  { header: 'AGE', value: (l) => formatDuration(l.ageMs), right: true },
  { header: 'TOPIC', value: (l) => l.topic },
  { header: 'GROUP', value: (l) => l.group },
  { header: 'CONSUMER', value: (l) => l.consumer, flexible: true },
  { header: 'DELIV', value: (l) => l.deliveries, right: true },
  { header: 'REASON', value: (l) => l.reason },
  { header: 'TYPE', value: (l) => l.envelope?.type ?? '(invalid)' },
  { header: 'REPLAYED', value: replaysText },
  { header: 'ERROR', value: (l) => cut(l.error), flexible: true },
];

/** Prints one dead letter for people: its fields, its replays, then the raw entry and the envelope. */
function showText(ctx: CliContext, l: DeadLetterView): void {
  const r = l.replays;
  const lines = [
    `dead letter ${l.id} (${formatDuration(l.ageMs)} ago${l.time ? `, ${l.time}` : ''})`,
    `topic       ${l.topic}`,
    `entry       ${l.entryId}`,
    `group       ${l.group}`,
    `consumer    ${l.consumer}`,
    `deliveries  ${l.deliveries}`,
    `reason      ${l.reason}`,
    `error       ${l.error}`,
    `replayed    ${
      r === null
        ? 'no'
        : `${r.count === 1 ? 'once' : `${r.count} times`}, last at ${r.at} by ${r.operator} as ${r.entryId ?? '(unfinished)'} (seq ${r.seq ?? '-'} of ${r.producer}): ${r.reason}`
    }`,
    `raw         ${JSON.stringify(l.raw)}`,
    l.envelope === null ? `envelope    not valid: ${l.invalid}` : 'envelope',
  ];
  ctx.output.out(lines.join('\n'));
  if (l.envelope !== null) ctx.output.out(JSON.stringify(l.envelope, null, 2));
}

/** `qt dlq list|show|replay|purge`. */
export function registerDlq(program: Command, context: () => CliContext): void {
  const dlq = program.command('dlq').description('dead letters: list, show, replay to the group that failed, purge');
  dlq
    .command('list')
    .description('dead letters, newest first: topic, group, consumer, deliveries, reason, type, replays, error')
    .option('--topic <topic>', 'only dead letters of this topic')
    .option('--group <group>', 'only dead letters of this consumer group')
    .option('--count <n>', 'show at most n (default 50)', countOption, 50)
    .action(async (options: { topic?: string; group?: string; count: number }) => {
      const ctx = context();
      const redis = await ctx.redis();
      const letters = await scanDeadLetters(
        ctx,
        { topic: options.topic, group: options.group },
        { newestFirst: true, limit: options.count },
      );
      const total = await redis.xlen(ctx.keys.dlq());
      if (ctx.output.json) {
        printJson(ctx.output, DlqListOutputSchema, { total, letters });
        return;
      }
      if (letters.length === 0) {
        ctx.output.out(
          `no dead letters${options.topic || options.group ? ' match' : ''} (${total} in ${ctx.keys.dlq()})`,
        );
        return;
      }
      ctx.output.out(renderTable(ctx.output, LIST_COLUMNS, letters));
      ctx.output.out(`${letters.length} shown of ${total} in ${ctx.keys.dlq()}`);
    });
  dlq
    .command('show')
    .description('one dead letter in full: its fields, replays, the raw entry and the envelope (when valid)')
    .argument('<id>', 'the dead letter id in the dlq stream (from qt dlq list)', entryIdArgument)
    .action(async (id: string) => {
      const ctx = context();
      const [letter] = await readDeadLetters(ctx, [id]);
      if (ctx.output.json) printJson(ctx.output, DlqShowOutputSchema, letter as DeadLetterView);
      else showText(ctx, letter as DeadLetterView);
    });
  registerDlqReplay(dlq, context);
  registerDlqPurge(dlq, context);
}
