import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

/** A running `main` (through tsx), with its combined output and exit code. */
export interface MainProcess {
  readonly child: ChildProcess;
  /** Everything printed so far (stdout and stderr). */
  out(): string;
  readonly exit: Promise<number | null>;
}

/** Starts `node src/main.ts ARGS` with JSON logs and the given environment on top of this one. */
export function spawnMain(args: string[], env: Record<string, string>): MainProcess {
  const child = spawn(process.execPath, ['--import=tsx', MAIN, ...args], {
    env: { ...process.env, QT_LOG_PRETTY: 'false', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const collect = (d: Buffer) => {
    out += String(d);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exit = once(child, 'exit').then(([code]) => code as number | null);
  return { child, out: () => out, exit };
}
