/**
 * What the changing commands against a service share (`qt ess trip`,
 * `reset`, `flatten`, `qt policy set`; docs/cli.md): who runs them
 * (`--operator`, by default `user@host`), why (`--reason`, required: a
 * command without it is bad usage, exit 2), where (`--url`), and their
 * audit event (src/cli/audit.ts), recorded once each has acted.
 */
import { type Command, Option } from 'commander';
import { type AuditEntry, addReasonOption, cliOperator, recordAudit } from './audit.js';
import type { CliContext } from './context.js';
import { CliError, EXIT } from './exit-codes.js';

/** The options every changing command takes. */
export interface AdminOptions {
  readonly operator: string;
  readonly reason: string;
  readonly url?: string;
}

/** Adds `--operator`, `--reason` (required) and `--url` to a changing command. */
export function withAdminOptions(command: Command, service: string): Command {
  return addReasonOption(
    command.addOption(
      new Option('--operator <name>', 'who runs it, for the service and the audit event').default(
        cliOperator(),
        'user@host',
      ),
    ),
  ).option('--url <url>', `base URL of ${service} (a gateway, another host); default as main listens`);
}

/**
 * Records the audit event of a command that has acted (and printed what it
 * did: the kill switch does not wait on its record). With `failure` (the
 * command's refusal or error) that is what the command exits with, and an
 * audit event Redis did not take is reported on stderr; without, an audit
 * event not taken is exit 3 (src/cli/audit.ts), the command having run.
 */
export async function audited(ctx: CliContext, entry: AuditEntry, failure?: unknown): Promise<void> {
  try {
    await recordAudit(ctx, entry);
  } catch (err) {
    // recordAudit words a publish that failed; a Redis it could not connect to is worded here the same way.
    const message = (err as Error).message;
    const unrecorded = message.includes('audit event')
      ? message
      : `qt ${entry.command} ran (${entry.result}) but its audit event was not recorded: ${message}`;
    if (failure === undefined) throw new CliError(EXIT.REDIS_UNREACHABLE, unrecorded, { cause: err });
    ctx.output.err(`qt: ${unrecorded}`);
  }
  if (failure !== undefined) throw failure;
}

/**
 * Runs a command's request and the reading of its answer; when either
 * throws (unreachable, token refused, a body not understood) the run is
 * audited as `failed` and the error is what the command exits with.
 */
export async function attempt<T>(
  ctx: CliContext,
  record: Omit<AuditEntry, 'result' | 'details'>,
  work: () => Promise<T>,
): Promise<T> {
  try {
    return await work();
  } catch (err) {
    await audited(ctx, { ...record, result: 'failed', details: { error: (err as Error).message } }, err);
    throw err;
  }
}
