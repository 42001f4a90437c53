/**
 * A Redis and a PostgreSQL server of the test's own, a data dir, and the
 * database's URL with a password in it (trust authentication ignores it; it
 * is there to be looked for in output that must never show it). All three
 * are stopped and removed on teardown.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { uniquePrefix } from './bus.js';
import { type PgServer, startPostgres } from './pg-fixture.js';
import { type RedisServer, startRedis } from './redis-fixture.js';

export interface PgRig {
  readonly redisServer: RedisServer;
  readonly pgServer: PgServer;
  readonly dataDir: string;
  /** `postgres://postgres@…/qt`, for the test's own queries. */
  readonly database: string;
  /** The same with the password in it: what the process under test is given. */
  readonly databaseUrl: string;
  /** A key prefix of this test's own. */
  readonly prefix: string;
}

export async function pgRig(t: ExecutionContext, name: string, password: string): Promise<PgRig> {
  const redisServer = await startRedis({ name });
  const pgServer = await startPostgres({ name });
  const dataDir = await mkdtemp(join(tmpdir(), `qt-${name}-`));
  t.teardown(async () => {
    await redisServer.stop();
    await pgServer.stop();
    await rm(dataDir, { recursive: true, force: true });
  });
  const database = await pgServer.createDatabase('qt');
  const databaseUrl = database.replace('postgres@', `postgres:${password}@`);
  return { redisServer, pgServer, dataDir, database, databaseUrl, prefix: uniquePrefix(name) };
}
