import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import test from 'ava';
import { type RedisServer, startRedis, startSentinelGroup } from './redis-fixture.js';

/** Resolves true if something accepts TCP connections on 127.0.0.1:port. */
function portAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function withServer(
  options: Parameters<typeof startRedis>[0],
  body: (server: RedisServer) => Promise<void>,
): Promise<void> {
  const server = await startRedis(options);
  try {
    await body(server);
  } finally {
    await server.stop();
  }
}

test('plain server: set/get, kill refuses connections, restart keeps port and loses data', async (t) => {
  await withServer({ name: 'plain' }, async (server) => {
    t.not(server.port, 6379);
    t.is(server.host, '127.0.0.1');
    t.is(server.url, `redis://127.0.0.1:${server.port}`);
    t.true(existsSync(server.dir));
    const pid = server.pid;
    t.is(typeof pid, 'number');

    const client = server.client();
    t.is(await client.set('k', 'v'), 'OK');
    t.is(await client.get('k'), 'v');

    await server.kill();
    t.false(processAlive(pid!));
    t.false(await portAccepts(server.port));
    await t.throwsAsync(client.get('k'));

    await server.restart();
    t.not(server.pid, pid);
    const fresh = server.client();
    t.is(await fresh.ping(), 'PONG');
    t.is(await fresh.get('k'), null, "persistence 'none' comes back empty");
  });
});

test('aof server: data survives kill + restart', async (t) => {
  await withServer({ name: 'aof', persistence: 'aof' }, async (server) => {
    t.not(server.port, 6379);
    const client = server.client();
    await client.set('durable', '1');
    await client.rpush('list', 'a', 'b');

    await server.kill();
    t.false(await portAccepts(server.port));
    await server.restart();

    const again = server.client();
    t.is(await again.get('durable'), '1');
    t.deepEqual(await again.lrange('list', 0, -1), ['a', 'b']);
  });
});

test('stop disconnects clients, kills the server, removes the dir and is idempotent', async (t) => {
  const server = await startRedis({ args: ['--maxmemory', '10mb'] });
  t.not(server.port, 6379);
  const client = server.client();
  t.deepEqual(await client.config('GET', 'maxmemory'), ['maxmemory', String(10 * 1024 * 1024)], 'extra args applied');
  const pid = server.pid!;

  await server.stop();
  t.is(client.status, 'end');
  t.false(existsSync(server.dir));
  t.false(processAlive(pid));
  t.false(await portAccepts(server.port));
  await t.notThrowsAsync(server.stop());
  t.throws(() => server.client());
});

test('fixture-owned arguments are rejected', async (t) => {
  await t.throwsAsync(startRedis({ args: ['--port', '6379'] }), { message: /--port is managed by the fixture/ });
});

test.serial('sentinel group: failover to a replica after the master is killed', async (t) => {
  const started = Date.now();
  const group = await startSentinelGroup();
  try {
    t.is(group.replicas.length, 2);
    t.is(group.sentinels.length, 3);
    t.is(group.sentinelAddrs.length, 3);
    const all = [group.master, ...group.replicas, ...group.sentinels];
    t.false(
      all.some((s) => s.port === 6379 || s.port === 26379),
      'never the default ports',
    );
    t.is(new Set(all.map((s) => s.port)).size, all.length, 'every node has its own port');

    t.deepEqual(await group.currentMaster(), { host: '127.0.0.1', port: group.master.port });

    await group.master.kill();
    const failoverStarted = Date.now();
    const next = await group.waitForFailover(group.master.port, 15_000);
    t.log(`startup ${failoverStarted - started} ms, failover ${Date.now() - failoverStarted} ms`);
    t.not(next.port, group.master.port);
    const promoted = group.replicas.find((r) => r.port === next.port);
    t.truthy(promoted, 'the new master is one of the replicas');

    const role = (await promoted!.client().role()) as unknown[];
    t.is(role[0], 'master');
  } finally {
    await group.stop();
  }
  for (const s of [group.master, ...group.replicas, ...group.sentinels]) t.false(existsSync(s.dir));
});
