/**
 * The audit trail of `qt` (docs/cli.md, "Audit events"): every command that
 * changes something (`dlq replay`, `dlq purge`, `ess trip/reset/flatten`,
 * `policy set`) takes a required `--reason` and, once it has run, leaves one
 * `audit.command_executed` event on the `audit` topic saying who ran what,
 * why, and how it ended. `qt tail audit` shows them.
 */
import { hostname, userInfo } from 'node:os';
import { type Command, InvalidArgumentError } from 'commander';
import { v7 as uuidv7 } from 'uuid';
import { isQtError } from '../errors.js';
import type { EventData } from '../events/catalog.js';
import { RedisPublisher } from '../streams/publisher.js';
import type { CliContext } from './context.js';
import { CliError, EXIT } from './exit-codes.js';

/** How a changing command ended: done, refused (exit 1), or failed part-way. */
export type AuditResult = EventData<'audit.command_executed'>['result'];

/** What {@link recordAudit} records about one command run. */
export interface AuditEntry {
  /** The command as typed after `qt`, e.g. `dlq replay`, `ess trip`. */
  readonly command: string;
  /** Its parsed operands and options (never secrets: no tokens, no URLs with passwords). */
  readonly args: Readonly<Record<string, unknown>>;
  /** The `--reason` given (see {@link addReasonOption}). */
  readonly reason: string;
  readonly result: AuditResult;
  /** What it did, as the command defines it (ids changed, counts, the refusal's reason). */
  readonly details?: Readonly<Record<string, unknown>>;
  /** Who ran it; default {@link cliOperator} (a command with `--operator` passes that). */
  readonly operator?: string;
  /** The event's correlation id, e.g. the one the command sent a service, so both join up; default a new one. */
  readonly correlationId?: string;
}

/** The longest `--reason` accepted (the catalog's limit). */
export const REASON_MAX_LENGTH = 500;

/** The operator's login name: USER, else LOGNAME, else the OS's name for this uid, else `unknown`. */
function userName(env: NodeJS.ProcessEnv): string {
  const named = env.USER || env.LOGNAME;
  if (named) return named;
  try {
    return userInfo().username || 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Who runs `qt`: `user@host`, the operator of its audit events and replays unless a command is told otherwise. */
export function cliOperator(env: NodeJS.ProcessEnv = process.env): string {
  return `${userName(env)}@${hostname()}`;
}

/**
 * The producer id `qt` appends under: `cli.<user>.<host>`, stable per user
 * and host so its seqs continue from run to run, with every character a
 * key part may not hold (src/events/names.ts) replaced by `_`. Two runs at
 * once under one id: the append script refuses the second's batch
 * (QT_PUBLISH_OUT_OF_ORDER), which retries once with the seq read again.
 */
export function cliProducerId(env: NodeJS.ProcessEnv = process.env): string {
  const clean = (s: string) => s.replace(/[^A-Za-z0-9_.-]/g, '_');
  return `cli.${clean(userName(env))}.${clean(hostname())}`.slice(0, 128);
}

/** A commander parser for `--reason`: trimmed, not empty, at most {@link REASON_MAX_LENGTH} characters (else exit 2). */
export function reasonOption(value: string): string {
  const reason = value.trim();
  if (reason.length === 0) throw new InvalidArgumentError('the reason must not be empty');
  if (reason.length > REASON_MAX_LENGTH) {
    throw new InvalidArgumentError(`the reason is ${reason.length} characters; at most ${REASON_MAX_LENGTH}`);
  }
  return reason;
}

/**
 * Adds the required `--reason <text>` option to a changing command: without
 * it commander stops with the usage and exit 2, before anything runs. The
 * action then finds it as `options.reason`.
 */
export function addReasonOption(command: Command): Command {
  return command.requiredOption('--reason <text>', 'why (required; recorded in the audit event)', reasonOption);
}

/**
 * Records one run of a changing command as an `audit.command_executed`
 * event on the `audit` topic (the operator is {@link cliOperator} unless
 * given), published as {@link cliProducerId} through the project's
 * publisher (the append script, with `REDIS_MIN_REPLICAS_ACK` as `main`
 * uses it).
 *
 * Call it once per run, after the change (or the refusal, or the failure):
 * `await recordAudit(ctx, { command: 'ess trip', args: { … }, reason,
 * result: 'ok', details: { … } })`. Resolves with the event's entry id.
 * Throws CliError exit 3 when Redis does not take the event: the command
 * has then run but is not audited, and the message says so.
 */
export async function recordAudit(ctx: CliContext, entry: AuditEntry): Promise<string> {
  const redis = await ctx.redis();
  const data: EventData<'audit.command_executed'> = {
    command: entry.command,
    args: { ...entry.args },
    operator: entry.operator ?? cliOperator(),
    reason: entry.reason,
    result: entry.result,
    details: { ...entry.details },
  };
  const publisher = new RedisPublisher({
    redis,
    keys: ctx.keys,
    producer: cliProducerId(),
    source: 'cli',
    minReplicasAck: ctx.config.redis.minReplicasAck,
    waitTimeoutMs: ctx.config.redis.waitTimeoutMs,
  });
  const correlationId = entry.correlationId ?? uuidv7();
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        const published = await publisher.publish('audit.command_executed', data, { correlationId });
        return published.entryId ?? '';
      } catch (err) {
        // Another `qt` of this user and host appended meanwhile; the publisher reads the seq again.
        if (attempt === 1 && isQtError(err, 'QT_PUBLISH_OUT_OF_ORDER')) continue;
        throw err;
      }
    }
  } catch (err) {
    throw new CliError(
      EXIT.REDIS_UNREACHABLE,
      `qt ${entry.command} ran (${entry.result}) but its audit event was not recorded: ${(err as Error).message}`,
      { cause: err },
    );
  } finally {
    await publisher.close();
  }
}
