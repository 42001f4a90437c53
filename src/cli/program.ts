/**
 * The `qt` program (docs/cli.md): streams, groups, pending entries,
 * tail/show/trace, the DLQ, the disk buffer, the ESS, the risk policy,
 * health and the trade store. One file per command under src/cli/; each registers itself here.
 * Expected failures are one line and a documented exit code
 * (src/cli/exit-codes.ts), never a stack trace.
 */
import { Command, CommanderError } from 'commander';
import { isRedisUnreachable } from '../http/error-reply.js';
import { registerBuffer } from './buffer.js';
import { registerCheck } from './check.js';
import { CliContext, type GlobalOptions } from './context.js';
import { registerDlq } from './dlq.js';
import { registerEntries } from './entries-control.js';
import { registerEss } from './ess.js';
import { CliError, EXIT } from './exit-codes.js';
import { registerGroups } from './groups.js';
import { registerHealth } from './health.js';
import { registerPending } from './pending.js';
import { registerPolicy } from './policy.js';
import { registerRestart } from './restart.js';
import { registerShow } from './show.js';
import { registerStreams } from './streams.js';
import { registerTail } from './tail.js';
import { registerTrace } from './trace.js';
import { registerTrades } from './trades.js';

/** Builds the `qt` program; `context()` gives each command its CliContext (made once, on first use). */
export function buildCli(env: NodeJS.ProcessEnv = process.env): { program: Command; close(): Promise<void> } {
  let ctx: CliContext | undefined;
  const program = new Command('qt')
    .description(
      'Quantum Trader operator CLI: inspect streams and groups, manage the DLQ, the disk buffer, the ESS and the risk policy.',
    )
    .option('--redis <url>', 'Redis URL (default: REDIS_URL, as main uses; Sentinel settings from the environment)')
    .option('--prefix <prefix>', 'key prefix (default: QT_KEY_PREFIX or "qt")')
    .option('--json', 'machine-readable output (schemas in docs/cli.md)')
    .option('--token-file <file>', 'file holding the admin token (default: QT_ADMIN_TOKEN)')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text) });
  const context = () => {
    ctx ??= new CliContext(program.opts<GlobalOptions>(), env);
    return ctx;
  };
  registerStreams(program, context);
  registerDlq(program, context);
  registerBuffer(program, context);
  registerGroups(program, context);
  registerPending(program, context);
  registerTail(program, context);
  registerShow(program, context);
  registerTrace(program, context);
  registerEss(program, context);
  registerPolicy(program, context);
  registerEntries(program, context);
  registerRestart(program, context);
  registerHealth(program, context);
  registerCheck(program, context);
  registerTrades(program, context);
  return { program, close: async () => ctx?.close() };
}

/** Runs `qt ARGS`; resolves with the exit code. */
export async function runCli(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { program, close } = buildCli(env);
  // Subcommands inherit exitOverride so bad usage surfaces as a CommanderError.
  for (const sub of program.commands) sub.exitOverride();
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return Number(process.exitCode ?? EXIT.OK);
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help'
        ? EXIT.OK
        : EXIT.USAGE;
    }
    if (err instanceof CliError) {
      process.stderr.write(`qt: ${err.message}\n`);
      return err.exitCode;
    }
    if (isRedisUnreachable(err)) {
      // Redis went away in the middle of a command (connecting is checked in CliContext).
      process.stderr.write(`qt: lost Redis during the command: ${(err as Error).message}\n`);
      return EXIT.REDIS_UNREACHABLE;
    }
    process.stderr.write(`qt: unexpected error: ${(err as Error).message}\n`);
    return 1;
  } finally {
    await close();
  }
}
