/**
 * An application role with a password on a test PostgreSQL (test/support/pg-fixture.ts), as in
 * production: the fixture trusts every local login, so this puts a `scram-sha-256` line for the role
 * ahead of the trust lines in the server's pg_hba.conf and reloads it. The role then logs in with its
 * password only, which is what the backup scripts and PgBouncer must get right.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { PgServer } from './pg-fixture.js';

/** A role of {@link createAppRole} and its database. */
export interface AppRole {
  readonly role: string;
  readonly password: string;
  readonly database: string;
  /** `postgres://ROLE:PASSWORD@host:port/DATABASE`, the password percent-encoded. */
  readonly url: string;
  /** The role's SCRAM secret as PostgreSQL stores it (`pg_authid.rolpassword`). */
  readonly scramSecret: string;
}

/** Runs `sql` as the superuser on `database` of `server`. */
export async function superQuery<R extends pg.QueryResultRow>(
  server: PgServer,
  sql: string,
  params: unknown[] = [],
  database = 'postgres',
): Promise<R[]> {
  const client = new pg.Client({ connectionString: server.urlOf(database) });
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/** Creates `role` (LOGIN, the password), a database it owns, and makes the server ask it for its password. */
export async function createAppRole(
  server: PgServer,
  options: { role: string; password: string; database: string },
): Promise<AppRole> {
  const { role, password, database } = options;
  if (!/^[a-z_][a-z0-9_]*$/.test(role) || !/^[a-z_][a-z0-9_]*$/.test(database)) {
    throw new Error(`pg-app-role: bad role or database name ${role} ${database}`);
  }
  const hba = join(server.dir, 'data', 'pg_hba.conf');
  const text = await readFile(hba, 'utf8');
  const line = `host all ${role} 127.0.0.1/32 scram-sha-256\nlocal all ${role} scram-sha-256\n`;
  // writeFile on the existing file keeps its owner (the server's user).
  await writeFile(hba, `${line}${text}`);
  const client = new pg.Client({ connectionString: server.url });
  await client.connect();
  try {
    await client.query(`SET password_encryption = 'scram-sha-256'`);
    await client.query(`CREATE ROLE ${role} LOGIN PASSWORD ${client.escapeLiteral(password)}`);
    await client.query(`CREATE DATABASE ${database} OWNER ${role}`);
    await client.query('SELECT pg_reload_conf()');
    const { rows } = await client.query<{ secret: string }>(
      'SELECT rolpassword AS secret FROM pg_authid WHERE rolname = $1',
      [role],
    );
    const url = `postgres://${role}:${encodeURIComponent(password)}@${server.host}:${server.port}/${database}`;
    await untilPasswordAsked(url.replace(encodeURIComponent(password), 'not-the-password'));
    return { role, password, database, url, scramSecret: rows[0]?.secret ?? '' };
  } finally {
    await client.end();
  }
}

/** pg_reload_conf() only signals the postmaster: waits until a wrong password is refused. */
async function untilPasswordAsked(wrongUrl: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const client = new pg.Client({ connectionString: wrongUrl });
    const refused = await client.connect().then(
      () => false,
      (err: { code?: string }) => err.code === '28P01',
    );
    await client.end().catch(() => {});
    if (refused) return;
    if (Date.now() > deadline) throw new Error('pg-app-role: the server still lets the role in without its password');
    await sleep(50);
  }
}
