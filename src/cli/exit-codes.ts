/**
 * The exit codes of `qt`, the same for every command (docs/cli.md, "Exit
 * codes"). Scripts and cron branch on these, so they never change meaning.
 */
export const EXIT = {
  /** Done; for `qt check`: healthy. */
  OK: 0,
  /** The command ran and the answer is "no": a refusal (ESS reset in cooldown, a replay already done), or `qt check`: degraded. */
  REFUSED: 1,
  /** Bad usage: unknown command or option, a missing or malformed argument. Usage is printed. */
  USAGE: 2,
  /** Redis could not be reached (or answered with an error). */
  REDIS_UNREACHABLE: 3,
  /** A service's HTTP API could not be reached, or answered 5xx. */
  SERVICE_UNREACHABLE: 4,
  /** What the command names does not exist: a topic, group, entry, correlation id, file. */
  NOT_FOUND: 5,
  /** `qt check`: the system is CRITICAL. */
  CRITICAL: 6,
  /** The PostgreSQL trade store could not be reached (or refused the connection). */
  STORE_UNREACHABLE: 7,
} as const;

/** One of {@link EXIT}'s codes. */
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/**
 * An expected failure of a command: printed as one line (what, where, why),
 * never with a stack trace, and the process exits with `exitCode`.
 */
export class CliError extends Error {
  readonly exitCode: ExitCode;

  constructor(exitCode: ExitCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}
