/**
 * The Postgres fixture itself: a server of the test's own on a free port (never 5432), data surviving a
 * SIGKILL and restart on the same port, and stop() leaving no process and no dir behind.
 */
import { existsSync } from 'node:fs';
import test from 'ava';
import { pgQuery as query, startPostgres } from './pg-fixture.js';

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('a server of its own: killed, restarted on the same port with its data, stopped without a trace', async (t) => {
  const server = await startPostgres({ name: 'fixture' });
  t.teardown(() => server.stop());
  t.not(server.port, 5432);
  const [me] = await query<{ dir: string; user: string }>(
    server.url,
    "SELECT current_setting('data_directory') AS dir, current_user AS user",
  );
  t.is(me?.dir, `${server.dir}/data`);
  t.is(me?.user, 'postgres');

  const url = await server.createDatabase('fixture_check');
  await query(url, 'CREATE TABLE t (n int); INSERT INTO t VALUES (1), (2)');
  const firstPid = server.pid;
  t.truthy(firstPid);
  await server.kill();
  t.is(server.pid, undefined);
  t.false(running(firstPid!));
  await t.throwsAsync(query(url, 'SELECT 1'));

  const port = server.port;
  await server.restart();
  t.is(server.port, port);
  t.not(server.pid, firstPid);
  t.deepEqual(await query(url, 'SELECT n FROM t ORDER BY n'), [{ n: 1 }, { n: 2 }]);

  const lastPid = server.pid!;
  await server.stop();
  t.false(running(lastPid));
  t.false(existsSync(server.dir));
});
