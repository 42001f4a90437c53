/**
 * Shared fixtures of the disk buffer tests: a temp dir per test, file
 * hashes, event factories and a child process running the buffer.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import type { BufferedEvent } from '../../src/buffer/types.js';

/** A fresh directory removed when the test ends; returns the path of a buffer file inside it. */
export function tempBufferPath(t: ExecutionContext, name = 'buffer.db'): string {
  const dir = mkdtempSync(join(tmpdir(), 'qt-buffer-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, name);
}

/** An event whose body carries `n`, so order can be checked after a round trip. */
export function event(topic: string, n: number, seq: number | null = null): BufferedEvent {
  return { topic, type: `${topic}.tested`, seq, body: JSON.stringify({ n, topic }) };
}

/** The `n` carried in a row's body. */
export function nOf(row: { body: string }): number {
  return (JSON.parse(row.body) as { n: number }).n;
}

/** SHA-256 of a file's bytes. */
export function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Names of the files in a directory, sorted. */
export function filesIn(dir: string): string[] {
  return readdirSync(dir).sort();
}

/** Polls `predicate` until it is true; throws with `what` after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** A child process running test/buffer/buffer-child.ts, with its stdout collected. */
export interface Child {
  readonly process: ChildProcess;
  /** Everything the child printed so far. */
  output(): string;
  /** Resolves with the exit code (or signal) once the child has exited. */
  readonly exited: Promise<number | NodeJS.Signals | null>;
}

/** Starts `buffer-child.ts <mode> <path>`; the child is SIGKILLed at test end if still alive. */
export function startChild(t: ExecutionContext, mode: 'hold' | 'append' | 'open', path: string): Child {
  const script = fileURLToPath(new URL('./buffer-child.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import=tsx', script, mode, path], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => {
    out += d;
  });
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? signal));
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return { process: child, output: () => out, exited };
}
