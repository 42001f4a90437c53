/**
 * `qt entries pause|resume|status` (docs/operations.md, "Pausing entries"):
 * the operator control that stops new entries while exits and cancels go
 * on. Not the ESS: nothing is tripped, nothing cancelled. `pause` and
 * `resume` publish `risk.entries_paused` / `risk.entries_resumed` on the
 * `risk` stream (pre-trade applies them in order with the rest of its
 * inputs) and leave an audit event; `status` reads what pre-trade last
 * applied, from its snapshot.
 */
import type { Command } from 'commander';
import { z } from 'zod';
import { RedisPublisher } from '../streams/publisher.js';
import { audited } from './admin-command.js';
import { addReasonOption, cliOperator, cliProducerId } from './audit.js';
import type { CliContext } from './context.js';
import { printJson } from './output.js';

/** `qt entries status --json`. */
export const EntriesStatusSchema = z.object({
  paused: z.boolean(),
  /** False when pre-trade never committed a snapshot (nothing applied yet: not paused). */
  known: z.boolean(),
});

async function publish(ctx: CliContext, paused: boolean, operator: string, reason: string): Promise<string> {
  const publisher = new RedisPublisher({
    redis: await ctx.redis(),
    keys: ctx.keys,
    producer: cliProducerId(),
    source: 'cli',
  });
  try {
    const type = paused ? 'risk.entries_paused' : 'risk.entries_resumed';
    const published = await publisher.publish(type, { operator, reason });
    return published.entryId ?? '';
  } finally {
    await publisher.close();
  }
}

/** Registers `qt entries`. */
export function registerEntries(program: Command, context: () => CliContext): void {
  const entries = program
    .command('entries')
    .description('pause or resume new entries (exits and cancels go on); not the ESS');
  for (const [name, paused] of [
    ['pause', true],
    ['resume', false],
  ] as const) {
    addReasonOption(
      entries
        .command(name)
        .description(
          paused ? 'stop new entries: pre-trade rejects them with ENTRIES_PAUSED' : 'allow new entries again',
        )
        .option('--operator <name>', 'who runs it', cliOperator()),
    ).action(async (options: { reason: string; operator: string }) => {
      const ctx = context();
      const entryId = await publish(ctx, paused, options.operator, options.reason);
      ctx.output.out(`entries ${paused ? 'paused' : 'resumed'} (${entryId})`);
      await audited(ctx, {
        command: `entries ${name}`,
        args: {},
        operator: options.operator,
        reason: options.reason,
        result: 'ok',
        details: { entryId },
      });
    });
  }
  entries
    .command('status')
    .description('whether pre-trade has new entries paused')
    .action(async () => {
      const ctx = context();
      const raw = await (await ctx.redis()).get(ctx.keys.actorSnapshot('pretrade'));
      const context_ =
        raw === null ? undefined : (JSON.parse(raw) as { context?: { entriesPaused?: boolean } }).context;
      const status = { paused: context_?.entriesPaused === true, known: raw !== null };
      if (ctx.output.json) return printJson(ctx.output, EntriesStatusSchema, status);
      ctx.output.out(status.paused ? 'entries paused' : 'entries allowed');
    });
}
