/**
 * infra/postgres/pgbouncer.ini run by the real pgbouncer (test/support/pgbouncer.ts: the shipped file
 * with only the listen port, the server, the auth file and the log/pid paths moved) in front of a test
 * PostgreSQL on which the application role logs in with SCRAM only: every shipped setting is in effect
 * (SHOW CONFIG), a client logs in with the role's password against the SCRAM secret copied from
 * pg_authid and pgbouncer reaches the server with it; a wrong password is refused; the trade store
 * works through it (its queries under transaction pooling, many records at once on few server
 * connections, statement_timeout from the role); the start-up parameter it sends is why the ini ignores
 * statement_timeout; and the migrations' session advisory lock does not hold through transaction
 * pooling (why they connect to QT_PG_MIGRATION_URL, directly: pgbouncer-migration-url.pg.test.ts).
 * Skipped only when pgbouncer is not installed.
 */
import { readFileSync } from 'node:fs';
import anyTest, { type TestFn } from 'ava';
import pg from 'pg';
import { MIGRATION_LOCK_KEY } from '../../src/exchange/pg-migrations.js';
import { type AppRole, createAppRole, superQuery } from '../support/pg-app-role.js';
import { type PgServer, startPostgres } from '../support/pg-fixture.js';
import {
  PGBOUNCER,
  PGBOUNCER_INI,
  type Pgbouncer,
  parseIni,
  pgbouncerVersion,
  startPgbouncer,
} from '../support/pgbouncer.js';
import { answer, client, storeAt } from '../support/pgbouncer-store.js';

interface Rig {
  server: PgServer;
  app: AppRole;
  bouncer: Pgbouncer;
  /** The shipped [pgbouncer] settings. */
  shipped: Map<string, string>;
}

const test = anyTest as TestFn<Rig>;
const serial = PGBOUNCER === undefined ? test.serial.skip : test.serial;
if (PGBOUNCER === undefined) test.skip('pgbouncer tests: skipped, pgbouncer is not installed', () => {});

/** Settings the test changes in the shipped file (where it listens and keeps its files), and an admin. */
const MOVED = new Set(['listen_port', 'auth_file', 'logfile', 'pidfile', 'admin_users']);

function databasesOf(server: PgServer, database: string): Record<string, string> {
  return { [database]: `host=${server.host} port=${server.port} dbname=${database}` };
}

test.before(async (t) => {
  if (PGBOUNCER === undefined) return;
  const server = await startPostgres({ name: 'pgbouncer' });
  try {
    const app = await createAppRole(server, { role: 'qt_app', password: 'Pool:ed@pw/%-1', database: 'qt' });
    await superQuery(server, `ALTER ROLE qt_app SET statement_timeout = '10s'`);
    // The schema first, directly: migrations do not go through the pooler.
    const direct = storeAt(app.url);
    await direct.open();
    await direct.close();
    const bouncer = await startPgbouncer({
      databases: databasesOf(server, 'qt'),
      users: [['qt_app', app.scramSecret]],
      settings: { admin_users: 'qt_app' },
    });
    const shipped = parseIni(readFileSync(PGBOUNCER_INI, 'utf8')).get('pgbouncer') as Map<string, string>;
    t.context = { server, app, bouncer, shipped };
    t.log(`${pgbouncerVersion()} on port ${bouncer.port}, PostgreSQL on ${server.port}`);
  } catch (error) {
    await server.stop();
    throw error;
  }
});
test.after.always(async (t) => {
  await t.context.bouncer?.stop();
  await t.context.server?.stop();
});

/** Server connections of the application role to its database right now (what pgbouncer holds open). */
async function serverConnections(rig: Rig): Promise<number> {
  const rows = await superQuery<{ n: number }>(
    rig.server,
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = 'qt_app' AND backend_type = 'client backend'`,
  );
  return rows[0]?.n ?? 0;
}

test('the shipped ini: transaction pooling on loopback, SCRAM against an auth file, pool sizes that fit', (t) => {
  const ini = parseIni(readFileSync(PGBOUNCER_INI, 'utf8'));
  const s = ini.get('pgbouncer') as Map<string, string>;
  t.is(s.get('pool_mode'), 'transaction');
  t.is(s.get('listen_addr'), '127.0.0.1');
  t.is(s.get('listen_port'), '6432');
  t.is(s.get('auth_type'), 'scram-sha-256');
  t.is(s.get('auth_file'), '/etc/pgbouncer/userlist.txt');
  const n = (k: string) => Number(s.get(k));
  t.true(n('default_pool_size') >= 10, 'execution’s pool (QT_PG_POOL_MAX 10) gets as many server connections');
  t.true(n('default_pool_size') + n('reserve_pool_size') <= n('max_db_connections'));
  t.true(n('max_db_connections') <= 50, 'leaves PostgreSQL’s default max_connections (100) room for direct ones');
  t.true(n('max_client_conn') >= 100);
  t.true(n('query_wait_timeout') > 0 && n('idle_transaction_timeout') > 0);
  t.deepEqual(s.get('ignore_startup_parameters')?.split(','), ['extra_float_digits', 'statement_timeout']);
  t.deepEqual([...(ini.get('databases')?.keys() ?? [])], ['qt']);
});

serial('pgbouncer runs the shipped settings: SHOW CONFIG has every one the test did not move', async (t) => {
  const { bouncer, app, shipped } = t.context;
  const admin = await client(bouncer.urlOf('pgbouncer', 'qt_app', app.password));
  try {
    const { rows } = await admin.query<{ key: string; value: string }>('SHOW CONFIG');
    const config = new Map(rows.map((r) => [r.key, r.value]));
    let checked = 0;
    for (const [key, value] of shipped) {
      if (MOVED.has(key)) continue;
      t.is(config.get(key), value, key);
      checked++;
    }
    t.true(checked >= 20, `${checked} settings checked`);
  } finally {
    await admin.end();
  }
});

serial(
  'a client logs in with the role’s password (SCRAM), pgbouncer reaches the server with it; a wrong one is refused',
  async (t) => {
    const { bouncer, app } = t.context;
    const c = await client(bouncer.urlOf('qt', 'qt_app', app.password));
    try {
      const { rows } = await c.query<{ user: string; db: string; port: number; timeout: string }>(
        `SELECT current_user AS user, current_database() AS db, inet_server_port() AS port,
         current_setting('statement_timeout') AS timeout`,
      );
      t.deepEqual(rows[0], { user: 'qt_app', db: 'qt', port: t.context.server.port, timeout: '10s' });
    } finally {
      await c.end();
    }
    const wrong = new pg.Client({ connectionString: bouncer.urlOf('qt', 'qt_app', 'not-the-password') });
    wrong.on('error', () => {});
    const err = await t.throwsAsync(wrong.connect());
    t.regex(err?.message ?? '', /SASL authentication failed|password authentication failed/);
    await wrong.end().catch(() => {});
  },
);

serial(
  'the trade store through pgbouncer: 60 answers recorded at once on at most 12 server connections, read back as written',
  async (t) => {
    const rig = t.context;
    const { bouncer, app } = rig;
    const pooled = storeAt(bouncer.urlOf('qt', 'qt_app', app.password), { poolMax: 30 });
    t.teardown(() => pooled.close());
    const answers = Array.from({ length: 60 }, (_, i) => answer(i));
    let most = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        most = Math.max(most, await serverConnections(rig));
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    // Twice each: the second is the idempotent repeat.
    await Promise.all([...answers, ...answers].map((a, i) => pooled.record(a, 'signal', 1_764_590_000_000 + (i % 60))));
    sampling = false;
    await sampler;
    const limit = Number(rig.shipped.get('default_pool_size')) + Number(rig.shipped.get('reserve_pool_size'));
    t.log(`most server connections seen: ${most} (30 clients, limit ${limit})`);
    t.true(most >= 1 && most <= limit, `server connections ${most}`);
    t.deepEqual(await pooled.counts(), { orders: 60, trades: 120 });
    const direct = storeAt(app.url);
    t.teardown(() => direct.close());
    t.deepEqual(await pooled.trades(500), await direct.trades(500));
    t.deepEqual(await pooled.orders(500), await direct.orders(500));
    const newest = await pooled.trades(2);
    t.deepEqual(
      newest.map((r) => r.tradeId),
      ['t-59-2', 't-59-1'],
    );
  },
);

serial(
  'without ignore_startup_parameters, the store’s connection (statement_timeout in its start-up) is refused',
  async (t) => {
    const { server, app } = t.context;
    const strict = await startPgbouncer({
      databases: databasesOf(server, 'qt'),
      users: [['qt_app', app.scramSecret]],
      settings: { ignore_startup_parameters: null },
    });
    t.teardown(() => strict.stop());
    const store = storeAt(strict.urlOf('qt', 'qt_app', app.password));
    t.teardown(() => store.close());
    const err = await t.throwsAsync(store.counts());
    t.regex(err?.message ?? '', /unsupported startup parameter: statement_timeout/);
  },
);

serial(
  'the migrations’ session advisory lock does not hold through transaction pooling; directly it does',
  async (t) => {
    const { bouncer, app } = t.context;
    const through = () => client(bouncer.urlOf('qt', 'qt_app', app.password));
    const a = await through();
    const b = await through();
    const c = await through();
    const d = await client(app.url);
    const e = await client(app.url);
    t.teardown(async () => {
      for (const x of [a, b, c, d, e]) await x.end().catch(() => {});
      // The lock left on a server connection of pgbouncer: ended with that connection.
      await superQuery(
        t.context.server,
        `SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND pid <> pg_backend_pid()`,
      );
    });
    const tryLock = async (x: pg.Client) =>
      (await x.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS ok', [MIGRATION_LOCK_KEY])).rows[0]
        ?.ok;
    // Directly: A holds it, another session cannot take it.
    await d.query('SELECT pg_advisory_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
    t.false(await tryLock(e), 'directly, a second session waits');
    await d.query('SELECT pg_advisory_unlock($1::bigint)', [MIGRATION_LOCK_KEY]);

    // Through pgbouncer: A's lock stays with the server connection its statement ran on, which goes back
    // to the pool; B's next statement is lent the same one and "takes" the lock A holds.
    await a.query('SELECT pg_advisory_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
    t.true(await tryLock(b), 'through pgbouncer, a second client gets the lock the first holds');
    t.false(await tryLock(e), 'the lock is held, by a pooled server connection');
    // While C holds that server connection in a transaction, A's unlock runs on another: it unlocks nothing.
    await c.query('BEGIN');
    await c.query('SELECT 1');
    const unlocked = await a.query<{ ok: boolean }>('SELECT pg_advisory_unlock($1::bigint) AS ok', [
      MIGRATION_LOCK_KEY,
    ]);
    t.false(unlocked.rows[0]?.ok, 'A’s unlock ran on a server connection that does not hold the lock');
    await c.query('COMMIT');
    t.false(await tryLock(e), 'and the lock is still held, though every client thinks it released it');
  },
);
