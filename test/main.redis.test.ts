/**
 * `node main --actors=…` as an operator runs it: exit codes, messages, clean
 * shutdown, and one process per disk buffer file.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { waitFor } from './support/bus.js';
import { type RedisServer, startRedis } from './support/redis-fixture.js';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

let server: RedisServer;
test.before(async () => {
  server = await startRedis({ name: 'main' });
});
test.after.always(() => server?.stop());

interface Run {
  child: ChildProcess;
  out: () => string;
  exit: Promise<number | null>;
}

function runMain(args: string[], env: Record<string, string> = {}): Run {
  const child = spawn(process.execPath, ['--import=tsx', MAIN, ...args], {
    env: { ...process.env, QT_LOG_PRETTY: 'false', REDIS_URL: server.url, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d) => {
    out += String(d);
  });
  child.stderr?.on('data', (d) => {
    out += String(d);
  });
  const exit = once(child, 'exit').then(([code]) => code as number | null);
  return { child, out: () => out, exit };
}

test('--help prints usage and exits 0', async (t) => {
  const run = runMain(['--help']);
  t.is(await run.exit, 0);
  t.regex(run.out(), /--actors <list>/);
  t.regex(run.out(), /risk-safety/);
});

test('an unknown service exits 2 and lists the valid names', async (t) => {
  const run = runMain(['--actors=execution,warp-drive']);
  t.is(await run.exit, 2);
  t.regex(run.out(), /unknown service\(s\): warp-drive/);
  t.regex(run.out(), /valid: all, marketdata, ai-engine/);
});

test('bad usage exits 2', async (t) => {
  const run = runMain(['--duration', 'soon']);
  t.is(await run.exit, 2);
  t.regex(run.out(), /must be a positive number of seconds/);
});

test('invalid settings exit 2 naming each key, without a stack trace', async (t) => {
  const run = runMain(['--actors=all'], { QT_MAX_DELIVERIES: 'many', QT_BUFFER_WHEN_FULL: 'drop' });
  t.is(await run.exit, 2);
  t.regex(run.out(), /QT_MAX_DELIVERIES/);
  t.regex(run.out(), /QT_BUFFER_WHEN_FULL/);
  t.notRegex(run.out(), /\n\s+at /, 'no stack trace');
});

test('SIGTERM shuts down cleanly with exit 0; a second process on the same buffer is refused', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'qt-main-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const env = { QT_DATA_DIR: dataDir, QT_PRODUCER_ID: 'main-test' };
  const first = runMain(['--actors=execution'], env);
  t.teardown(() => first.child.kill('SIGKILL'));
  await waitFor(() => first.out().includes('runtime started'), 'first process started', 20_000);

  const second = runMain(['--actors=execution'], env);
  t.is(await second.exit, 3);
  t.regex(second.out(), /QT_BUFFER_LOCKED/);
  t.regex(second.out(), /main-test\.sqlite is locked by another process/);

  first.child.kill('SIGTERM');
  t.is(await first.exit, 0);
  t.regex(first.out(), /"msg":"stopped"/);
});
