/**
 * `npm start` behaves like the process it starts (docs/architecture.md §14.1):
 * node is npm's direct child, so a supervisor's SIGTERM to npm, or a Ctrl-C
 * at the terminal (SIGINT to the whole foreground group), stops main cleanly,
 * the local redis-server last, and npm exits 0 with it.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { isRedisReachable } from '../../src/runtime/local-redis.js';
import { uniquePrefix, waitFor } from '../support/bus.js';
import { getFreePort } from '../support/free-port.js';
import { freePortOffset } from '../support/main-process.js';

const ROOT = resolve(import.meta.dirname, '../..');

test.before(() => {
  // npm ci builds dist/ (the prepare step); a checkout without it builds here.
  if (!existsSync(join(ROOT, 'dist', 'main.js'))) execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'ignore' });
});

/**
 * `npm start` (the build step skipped: dist/ is built) in a process group of
 * its own, like a terminal's job; started again on new ports when another
 * test took one meanwhile (exit 3, "cannot listen").
 */
async function npmStart(t: ExecutionContext) {
  for (let attempt = 1; ; attempt++) {
    const run = await npmStartOnce(t);
    if (run.out().includes('runtime started') || attempt >= 4 || !run.out().includes('cannot listen')) return run;
  }
}

async function npmStartOnce(t: ExecutionContext) {
  const dir = await mkdtemp(join(tmpdir(), 'qt-npm-start-'));
  const redisPort = await getFreePort();
  const offset = await freePortOffset([redisPort]);
  const npm: ChildProcess = spawn('npm', ['start', '--ignore-scripts'], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      QT_LOCAL_REDIS: 'always',
      QT_DATA_DIR: dir,
      QT_KEY_PREFIX: uniquePrefix('npm'),
      QT_HTTP_PORT_OFFSET: String(offset),
      QT_LOG_PRETTY: 'false',
    },
  });
  let out = '';
  npm.stdout?.on('data', (d: Buffer) => {
    out += String(d);
  });
  npm.stderr?.on('data', (d: Buffer) => {
    out += String(d);
  });
  const exit = once(npm, 'exit').then(([code, signal]) => ({ code: code as number | null, signal }));
  t.teardown(async () => {
    try {
      process.kill(-(npm.pid as number), 'SIGKILL');
    } catch {
      // already gone
    }
    await rm(dir, { recursive: true, force: true });
  });
  await waitFor(() => out.includes('runtime started') || npm.exitCode !== null, 'runtime started', 90_000, 50);
  const node = Number(/"pid":(\d+)/.exec(out)?.[1]);
  return { npm, node, out: () => out, exit, redisUrl: `redis://127.0.0.1:${redisPort}` };
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test.serial("node runs as npm start's direct child; SIGTERM to npm stops it cleanly and npm exits 0", async (t) => {
  const run = await npmStart(t);
  t.is(run.npm.exitCode, null, run.out().slice(-2_000));
  const parent = Number(execFileSync('ps', ['-o', 'ppid=', '-p', String(run.node)], { encoding: 'utf8' }).trim());
  t.is(parent, run.npm.pid as number, 'no shell between npm and node');
  run.npm.kill('SIGTERM');
  const { code } = await run.exit;
  await waitFor(() => !alive(run.node), 'node gone', 20_000);
  t.is(code, 0, run.out().slice(-1_500));
  t.true(run.out().includes('"msg":"stopped"'));
  t.false(await isRedisReachable(run.redisUrl, 500), 'the local redis-server was stopped');
});

test.serial('Ctrl-C (SIGINT to the whole group): main stops the local redis-server last, npm exits 0', async (t) => {
  const run = await npmStart(t);
  t.is(run.npm.exitCode, null, run.out().slice(-2_000));
  process.kill(-(run.npm.pid as number), 'SIGINT');
  const { code } = await run.exit;
  await waitFor(() => !alive(run.node), 'node gone', 20_000);
  t.is(code, 0, run.out().slice(-1_500));
  t.true(run.out().includes('"msg":"stopped"'));
  t.false(run.out().includes('blocking read lost'), 'Redis did not die under the runtime');
  t.false(await isRedisReachable(run.redisUrl, 500), 'the local redis-server was stopped');
});
