/**
 * Runs `qt` as an operator does: a child process (`node --import=tsx
 * src/cli/main.ts ARGS`), so exit codes, stdout and stderr are the real
 * ones. Used by every CLI test.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

/** What a finished `qt` run gave. */
export interface QtResult {
  /** The exit code; null when it died of a signal. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options of {@link runQt} and {@link spawnQt}. */
export interface QtOptions {
  /** Killed with SIGKILL after this long (default 30 s); the result then has signal SIGKILL. */
  readonly timeoutMs?: number;
  /** Written to stdin, which is then closed (default: stdin closed at once). */
  readonly input?: string;
}

/**
 * The environment a `qt` child gets: this process's, without the settings
 * that would point it at someone else's Redis or change its output, then
 * `env` on top. `NO_COLOR` keeps tables plain.
 */
export function qtEnv(env: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  for (const key of ['REDIS_URL', 'QT_KEY_PREFIX', 'QT_ADMIN_TOKEN', 'QT_CLI_WIDTH', 'FORCE_COLOR']) delete base[key];
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) delete base[key];
    else base[key] = value;
  }
  return base;
}

/** A running `qt` child: its output so far, and its result once it exits. */
export interface QtProcess {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  readonly result: Promise<QtResult>;
}

/** Starts `qt ARGS` (for a long-running command such as `tail --follow`); see {@link runQt}. */
export function spawnQt(
  args: readonly string[],
  env: Record<string, string | undefined> = {},
  options: QtOptions = {},
): QtProcess {
  const child = spawn(process.execPath, ['--import=tsx', CLI, ...args], {
    env: qtEnv(env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => {
    stdout += String(d);
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr += String(d);
  });
  child.stdin?.end(options.input ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
  const result = once(child, 'close').then(([code, signal]) => {
    clearTimeout(timer);
    return { code: code as number | null, signal: signal as NodeJS.Signals | null, stdout, stderr };
  });
  return { child, stdout: () => stdout, stderr: () => stderr, result };
}

/** Runs `qt ARGS` with `env` on top of {@link qtEnv} and resolves once it exits. */
export function runQt(
  args: readonly string[],
  env: Record<string, string | undefined> = {},
  options: QtOptions = {},
): Promise<QtResult> {
  return spawnQt(args, env, options).result;
}
