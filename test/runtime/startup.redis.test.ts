/**
 * Start-up and shutdown of real `main` processes (docs/architecture.md §14.1):
 * Redis down at start-up does not stop the platform, and a stop request at
 * any point of start-up is a clean stop that leaves no redis-server behind.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { isRedisReachable } from '../../src/runtime/local-redis.js';
import { decodeEntry } from '../../src/streams/codec.js';
import { createKeys } from '../../src/streams/keys.js';
import { uniquePrefix, waitFor } from '../support/bus.js';
import { getFreePort } from '../support/free-port.js';
import { freePortOffset, type MainProcess, spawnMain } from '../support/main-process.js';
import { startRedis, startSentinelGroup } from '../support/redis-fixture.js';

const TOKEN = 'an-admin-token-for-tests';

async function dataDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'qt-startup-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const said = (run: MainProcess, text: string) => () => run.out().includes(text) || run.child.exitCode !== null;

/**
 * `main` on free ports (none of them a port in `env`'s REDIS_URL), once it
 * printed `until`; started again on new ports when another test took one
 * meanwhile (exit 3, "cannot listen").
 */
async function launch(t: ExecutionContext, args: string[], env: Record<string, string>, until: string) {
  for (let attempt = 1; ; attempt++) {
    const offset = await freePortOffset([Number(new URL(env.REDIS_URL ?? 'redis://x:1').port)]);
    const run = spawnMain(args, { QT_HTTP_PORT_OFFSET: String(offset), QT_ADMIN_TOKEN: TOKEN, ...env });
    t.teardown(() => run.child.kill('SIGKILL'));
    await waitFor(said(run, until), until, 60_000, 5);
    if (run.child.exitCode === 3 && run.out().includes('cannot listen') && attempt < 4) continue;
    return { run, port: (base: number) => base + offset };
  }
}

test.serial(
  'Redis down at start-up: main serves health (DOWN, saying why), buffers, and runs the loop once Redis comes',
  async (t) => {
    const server = await startRedis({ name: 'late-redis', persistence: 'aof' });
    t.teardown(() => server.stop());
    await server.kill();
    const prefix = uniquePrefix('late');
    const { run, port } = await launch(
      t,
      ['--actors=all'],
      {
        REDIS_URL: server.url,
        QT_DATA_DIR: await dataDir(t),
        QT_KEY_PREFIX: prefix,
        QT_FEED_TICKS_PER_SECOND: '20',
      },
      'the actors start when it answers',
    );
    t.is(run.child.exitCode, null, run.out().slice(-2_000));
    const health = await fetch(`http://127.0.0.1:${port(8006)}/health`);
    const body = (await health.json()) as {
      status: string;
      dependencies: Record<string, { status: string; error?: string }>;
    };
    t.is(health.status, 503);
    t.is(body.status, 'DOWN');
    t.is(body.dependencies.redis?.status, 'DOWN');
    t.regex(body.dependencies.actors?.error ?? '', /waiting for redis/);
    const ess = await fetch(`http://127.0.0.1:${port(8003)}/ess`);
    t.is(ess.status, 503, 'a route that needs an actor answers 503 until it runs');

    await new Promise((r) => setTimeout(r, 10_000));
    const redisBackAt = Date.now();
    await server.restart();
    await waitFor(said(run, 'runtime started'), 'the actors started once Redis answered', 60_000);
    t.is(run.child.exitCode, null, run.out().slice(-2_000));

    const redis = server.client();
    const keys = createKeys(prefix);
    const ticks = async () => (await redis.xrange(keys.stream('market'), '-', '+')).map(([, f]) => decodeEntry(f));
    await waitFor(
      async () => (await redis.xlen(keys.stream('order'))) > 0,
      'orders: the whole loop runs',
      120_000,
      200,
    );
    const market = await ticks();
    const ours = market.filter((e) => e.type === 'market.tick');
    const during = ours.filter((e) => Date.parse(e.time) < redisBackAt);
    t.true(during.length > 100, `ticks published while Redis was down reached the stream (${during.length})`);
    t.deepEqual(
      ours.map((e) => e.seq),
      Array.from({ length: ours.length }, (_, i) => i + 1),
      'every tick once, in order: nothing published meanwhile was lost',
    );
    t.log(`${during.length} ticks published during the outage were replayed; ${ours.length} in all`);
    run.child.kill('SIGTERM');
    t.is(await run.exit, 0);
  },
);

test.serial('a stop at any point of start-up is clean: exit 0, no redis-server left behind', async (t) => {
  for (const point of ['started a local redis-server', 'http listening', 'runtime started']) {
    const redisPort = await getFreePort();
    const url = `redis://127.0.0.1:${redisPort}`;
    const { run } = await launch(
      t,
      ['--actors=all'],
      {
        REDIS_URL: url,
        QT_LOCAL_REDIS: 'always',
        QT_DATA_DIR: await dataDir(t),
        QT_KEY_PREFIX: uniquePrefix('stop'),
      },
      point,
    );
    run.child.kill('SIGTERM');
    const code = await run.exit;
    t.is(code, 0, `SIGTERM after "${point}": ${run.out().slice(-1_500)}`);
    t.false(await isRedisReachable(url, 500), `no redis-server left on ${url} after a stop at "${point}"`);
    // The launch line names the child's pid apart from the process's own (once a duplicate `pid` key).
    const line = run
      .out()
      .split('\n')
      .find((l) => l.includes('"started a local redis-server"'));
    const launched = JSON.parse(line ?? '{}') as { pid?: number; redisPid?: number };
    t.is(launched.pid, run.child.pid, 'pid is main');
    t.true(Number.isInteger(launched.redisPid) && launched.redisPid !== launched.pid, 'redisPid is the child');
    t.is((line?.match(/"pid":/g) ?? []).length, 1, 'one pid key');
  }
});

test.serial('POST /admin/shutdown while the actors wait for Redis stops the process', async (t) => {
  const dead = `redis://127.0.0.1:${await getFreePort()}`;
  const { run, port } = await launch(
    t,
    ['--actors=risk-safety'],
    {
      REDIS_URL: dead,
      QT_DATA_DIR: await dataDir(t),
      QT_KEY_PREFIX: uniquePrefix('admin-stop'),
    },
    'the actors start when it answers',
  );
  const reply = await fetch(`http://127.0.0.1:${port(8003)}/admin/shutdown`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  t.is(reply.status, 202);
  t.is(await run.exit, 0);
  t.false(run.out().includes('runtime started'));
});

test.serial('with the embedded Redis, the process exits promptly after "stopped"', async (t) => {
  const url = `redis://127.0.0.1:${await getFreePort()}`;
  const { run } = await launch(
    t,
    ['--actors=marketdata'],
    {
      REDIS_URL: url,
      QT_LOCAL_REDIS: 'always',
      QT_DATA_DIR: await dataDir(t),
      QT_KEY_PREFIX: uniquePrefix('exit'),
    },
    'runtime started',
  );
  run.child.kill('SIGTERM');
  await waitFor(said(run, '"stopped"'), 'stopped', 20_000, 2);
  const stoppedAt = Date.now();
  t.is(await run.exit, 0);
  const exitMs = Date.now() - stoppedAt;
  t.log(`exit ${exitMs} ms after "stopped"`);
  // Before the fix this was the local redis-server's uncleared 10 s SIGKILL timer.
  t.true(exitMs < 3_000, `exited ${exitMs} ms after "stopped"`);
});

test.serial(
  'Sentinels down at start-up: main starts, and its actors start once a sentinel names the master',
  async (t) => {
    const group = await startSentinelGroup({ replicas: 1, sentinels: 1, quorum: 1 });
    t.teardown(() => group.stop());
    for (const s of group.sentinels) await s.kill();
    const prefix = uniquePrefix('late-sentinel');
    const { run, port } = await launch(
      t,
      ['--actors=marketdata,ai-engine'],
      {
        REDIS_SENTINELS: group.sentinelAddrs.map((s) => `${s.host}:${s.port}`).join(','),
        REDIS_MASTER_NAME: group.masterName,
        QT_DATA_DIR: await dataDir(t),
        QT_KEY_PREFIX: prefix,
        QT_FEED_TICKS_PER_SECOND: '20',
      },
      'the actors start when it answers',
    );
    t.is(run.child.exitCode, null, run.out().slice(-2_000));
    const health = await fetch(`http://127.0.0.1:${port(8001)}/health`);
    t.is(health.status, 503, 'DOWN while no sentinel answers');
    await new Promise((r) => setTimeout(r, 3_000));
    for (const s of group.sentinels) await s.restart();
    await waitFor(said(run, 'runtime started'), 'the actors started once a sentinel answered', 60_000);
    t.is(run.child.exitCode, null, run.out().slice(-2_000));
    const master = group.master.client();
    const keys = createKeys(prefix);
    await waitFor(async () => (await master.xlen(keys.stream('market'))) > 60, 'buffered ticks replayed', 30_000, 100);
    const seqs = (await master.xrange(keys.stream('market'), '-', '+')).map(([, f]) => decodeEntry(f).seq);
    t.deepEqual(
      seqs,
      Array.from({ length: seqs.length }, (_, i) => i + 1),
      'every tick once, in order',
    );
    run.child.kill('SIGTERM');
    t.is(await run.exit, 0);
  },
);
