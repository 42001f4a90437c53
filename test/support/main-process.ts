import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import { freeServiceOffset } from '../../scripts/simulate/ports.js';
import { waitFor } from './bus.js';

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

/** A `main` that reported "runtime started", and where its services listen. */
export interface StartedMain {
  readonly run: MainProcess;
  /** The port a service's base port (docs/architecture.md §3) is shifted to. */
  port(base: number): number;
}

/**
 * Starts `main --actors=…` on free ports and waits until it reports
 * "runtime started"; fails the test if it exits instead. Each service keeps
 * its own port, so a port another test holds can make `main` exit 3
 * ("cannot listen"): it is then started again on a new offset, a few times.
 * The process is SIGKILLed on teardown (after a clean exit that is a no-op).
 */
export async function startMain(
  t: ExecutionContext,
  args: string[],
  env: Record<string, string>,
  timeoutMs = 90_000,
): Promise<StartedMain> {
  for (let attempt = 1; ; attempt++) {
    const offset = await freePortOffset();
    const run = spawnMain(args, { ...env, QT_HTTP_PORT_OFFSET: String(offset) });
    t.teardown(() => run.child.kill('SIGKILL'));
    const spawnedAt = Date.now();
    try {
      await waitFor(() => run.out().includes('runtime started') || run.child.exitCode !== null, 'started', timeoutMs);
    } catch (err) {
      t.log(run.out().slice(-3_000));
      throw err;
    }
    if (run.child.exitCode === 3 && run.out().includes('cannot listen') && attempt < 4) continue;
    if (run.child.exitCode !== null) throw new Error(`main exited ${run.child.exitCode} at start:\n${run.out()}`);
    t.log(`${args.join(' ')}: started in ${Date.now() - spawnedAt} ms`);
    return { run, port: (base) => base + offset };
  }
}

/**
 * A port offset at which every service's port (docs/architecture.md §3) is
 * free right now, and none is one of `avoid` (e.g. a Redis port the test
 * chose). Ports are only free at the moment of the check: callers still
 * retry when `main` exits 3 ("cannot listen").
 */
export function freePortOffset(avoid: readonly number[] = []): Promise<number> {
  // Below the kernel's ephemeral range, so no outgoing connection of another
  // test can take a service's port between this check and main's listen.
  return freeServiceOffset(avoid);
}
