/**
 * DATABASE_URL at the real pgbouncer (the shipped infra/postgres/pgbouncer.ini, transaction pooling, as
 * test/infra/pgbouncer.pg.test.ts runs it) and QT_PG_MIGRATION_URL at the test PostgreSQL directly, the
 * role logging in with SCRAM: two stores open a new database at once while pgbouncer has it paused
 * (`PAUSE`: a client of it waits, its login too), so migrations that went through pgbouncer would wait;
 * the schema is applied once, no advisory lock is left, the next start-up does not wait, and the records
 * and reads then go through pgbouncer (its clients). `qt trades migrate` copies with pgbouncer paused,
 * `qt trades verify` reads through it; backup.sh and restore.sh connect to QT_PG_MIGRATION_URL (pgbouncer
 * paused). The role's password is in no log line and no output. Skipped when pgbouncer is not installed.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import type pg from 'pg';
import { TradesMigrateOutputSchema, TradesVerifyOutputSchema } from '../../src/cli/trades-report.js';
import { MIGRATION_LOCK_KEY, MIGRATIONS } from '../../src/exchange/pg-migrations.js';
import { SqliteTradeStore } from '../../src/exchange/sqlite-trade-store.js';
import { createLogger, type Logger } from '../../src/log.js';
import { runQt } from '../support/cli.js';
import { type AppRole, createAppRole, superQuery } from '../support/pg-app-role.js';
import { BACKUP_SH, backupFiles, manifestTables, RESTORE_SH, runScript } from '../support/pg-backup.js';
import { type PgServer, startPostgres } from '../support/pg-fixture.js';
import { PGBOUNCER, type Pgbouncer, startPgbouncer } from '../support/pgbouncer.js';
import { answer, client, storeAt } from '../support/pgbouncer-store.js';

interface Rig {
  server: PgServer;
  app: AppRole;
  bouncer: Pgbouncer;
}

const test = anyTest as TestFn<Rig>;
const serial = PGBOUNCER === undefined ? test.serial.skip : test.serial;
if (PGBOUNCER === undefined) test.skip('pgbouncer migration-URL tests: skipped, pgbouncer is not installed', () => {});

/** Databases the trade store first opens with DATABASE_URL at pgbouncer and QT_PG_MIGRATION_URL direct. */
const DATABASES = ['qt_split', 'qt_split_cli'];

test.before(async (t) => {
  if (PGBOUNCER === undefined) return;
  const server = await startPostgres({ name: 'pgbouncer-migration-url' });
  try {
    const app = await createAppRole(server, { role: 'qt_app', password: 'Split:pw@/%-2', database: 'qt' });
    await superQuery(server, `ALTER ROLE qt_app SET statement_timeout = '10s'`);
    for (const db of DATABASES) await superQuery(server, `CREATE DATABASE ${db} OWNER qt_app`);
    const bouncer = await startPgbouncer({
      databases: Object.fromEntries(
        DATABASES.map((db) => [db, `host=${server.host} port=${server.port} dbname=${db}`]),
      ),
      users: [['qt_app', app.scramSecret]],
      settings: { admin_users: 'qt_app' },
    });
    t.context = { server, app, bouncer };
  } catch (error) {
    await server.stop();
    throw error;
  }
});
test.after.always(async (t) => {
  await t.context.bouncer?.stop();
  await t.context.server?.stop();
});

/** A logger writing JSON lines into a string. */
function captured(): { log: Logger; text: () => string; records: () => Record<string, unknown>[] } {
  let text = '';
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString('utf8');
      done();
    },
  });
  const lines = () => text.split('\n').filter((l) => l.trim() !== '');
  return {
    log: createLogger({ level: 'debug', destination }),
    text: () => text,
    records: () => lines().map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

const directUrl = (rig: Rig, database: string) => rig.app.url.replace(/\/qt$/, `/${database}`);
const pooledUrl = (rig: Rig, database: string) => rig.bouncer.urlOf(database, 'qt_app', rig.app.password);

/** Either spelling of the role's password in `text`. */
const leaks = (rig: Rig, text: string) =>
  [rig.app.password, encodeURIComponent(rig.app.password)].filter((p) => text.includes(p));

/** Runs one command on pgbouncer's admin console (PAUSE db, RESUME db, SHOW ...). */
async function adminCommand<R extends pg.QueryResultRow>(rig: Rig, command: string): Promise<R[]> {
  const admin = await client(rig.bouncer.urlOf('pgbouncer', 'qt_app', rig.app.password));
  try {
    return (await admin.query<R>(command)).rows;
  } finally {
    await admin.end();
  }
}

/** Pauses `database` in pgbouncer (a client of it waits, for its login too, until RESUME); resumed at teardown. */
async function pause(t: ExecutionContext<Rig>, database: string): Promise<() => Promise<void>> {
  let paused = true;
  const resume = async () => {
    if (!paused) return;
    paused = false;
    await adminCommand(t.context, `RESUME ${database}`);
  };
  t.teardown(resume);
  await adminCommand(t.context, `PAUSE ${database}`);
  return resume;
}

/** `work`, or a failure naming `what` if it has not settled in `ms` (a hang guard, not a timing check). */
async function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still waiting after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([work, guard]);
  } finally {
    clearTimeout(timer);
  }
}

/** Advisory locks held in `database` right now, by anyone. */
async function advisoryLocks(rig: Rig, database: string): Promise<number> {
  const rows = await superQuery<{ n: number }>(
    rig.server,
    `SELECT count(*)::int AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database
     WHERE l.locktype = 'advisory' AND d.datname = $1`,
    [database],
  );
  return rows[0]?.n ?? -1;
}

async function ledger(rig: Rig, database: string): Promise<number[]> {
  const rows = await superQuery<{ version: number }>(
    rig.server,
    'SELECT version FROM trade_store_migrations ORDER BY version',
    [],
    database,
  );
  return rows.map((r) => r.version);
}

serial(
  'DATABASE_URL at pgbouncer, QT_PG_MIGRATION_URL direct: two stores migrate once, no lock left, the next start-up does not wait',
  async (t) => {
    t.timeout(120_000);
    const rig = t.context;
    const database = 'qt_split';
    const logs = captured();
    const open = (startup: number) =>
      storeAt(pooledUrl(rig, database), {
        migrationUrl: directUrl(rig, database),
        log: logs.log.child({ startup }),
      });
    const applied = (startup: number) =>
      logs
        .records()
        .filter((r) => r.msg === 'trade store: schema ready' && r.startup === startup)
        .map((r) => r.applied);
    const a = open(1);
    const b = open(2);
    t.teardown(() => a.close());
    t.teardown(() => b.close());

    // pgbouncer paused for this database: migrations that went through it would wait until RESUME.
    const resume = await pause(t, database);
    await within(Promise.all([a.open(), b.open()]), 30_000, 'the migrations went through the paused pgbouncer');
    t.deepEqual(
      [...applied(1), ...applied(2)].sort((x, y) => String(x).length - String(y).length),
      [[], MIGRATIONS.map((m) => m.version)],
      'one store applied the migrations, the other found nothing to do',
    );
    t.deepEqual(
      await ledger(rig, database),
      MIGRATIONS.map((m) => m.version),
    );
    t.is(await advisoryLocks(rig, database), 0, 'the migration lock is released');
    await resume();

    // The queries go through pgbouncer.
    const answers = Array.from({ length: 20 }, (_, i) => answer(i));
    await Promise.all(answers.map((x, i) => (i % 2 === 0 ? a : b).record(x, 'signal', 1_764_590_000_000 + i)));
    t.deepEqual(await a.counts(), { orders: 20, trades: 40 });
    t.deepEqual(await b.counts(), { orders: 20, trades: 40 });
    const clients = await adminCommand<{ database: string; user: string }>(rig, 'SHOW CLIENTS');
    t.true(
      clients.filter((c) => c.database === database && c.user === 'qt_app').length >= 2,
      'both stores’ pools are pgbouncer clients',
    );
    t.is(await advisoryLocks(rig, database), 0, 'nor did the queries leave a lock');
    await a.close();
    await b.close();

    // The next start-up: nothing holds the lock, it does not wait and has nothing to apply.
    const c = open(3);
    t.teardown(() => c.close());
    await within(c.open(), 30_000, 'the next start-up waited for the migration lock');
    t.deepEqual(applied(3), [[]]);
    t.deepEqual(
      (await c.trades(2)).map((r) => r.tradeId),
      ['t-19-2', 't-19-1'],
    );
    const direct = await client(directUrl(rig, database));
    try {
      const { rows } = await direct.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS ok', [
        MIGRATION_LOCK_KEY,
      ]);
      t.true(rows[0]?.ok, 'a direct session takes the migration lock at once');
      await direct.query('SELECT pg_advisory_unlock($1::bigint)', [MIGRATION_LOCK_KEY]);
    } finally {
      await direct.end();
    }

    const ready = logs.records().find((r) => r.msg === 'trade store: schema ready');
    t.regex(String(ready?.migrationsAt), new RegExp(`:redacted@127\\.0\\.0\\.1:${rig.server.port}/${database}$`));
    t.regex(String(ready?.url), new RegExp(`:redacted@127\\.0\\.0\\.1:${rig.bouncer.port}/${database}$`));
    t.deepEqual(leaks(rig, logs.text()), [], 'no password in the logs');
  },
);

serial(
  '`qt trades migrate` with DATABASE_URL at pgbouncer and QT_PG_MIGRATION_URL direct copies with pgbouncer paused; verify goes through it',
  async (t) => {
    t.timeout(120_000);
    const rig = t.context;
    const database = 'qt_split_cli';
    const dir = await mkdtemp(join(tmpdir(), 'qt-pgbouncer-cli-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'trades.sqlite');
    const sqlite = new SqliteTradeStore(file);
    for (let i = 0; i < 5; i++) await sqlite.record(answer(i), 'signal', 1_764_590_000_000 + i);
    await sqlite.close();
    const env = {
      DATABASE_URL: pooledUrl(rig, database),
      QT_PG_MIGRATION_URL: directUrl(rig, database),
      QT_PG_CONNECT_TIMEOUT_MS: '2000',
    };

    const resume = await pause(t, database);
    const migrated = await runQt(['--json', 'trades', 'migrate', '--from', file], env, { timeoutMs: 30_000 });
    await resume();
    t.is(migrated.code, 0, `${migrated.signal ?? ''} ${migrated.stderr}`);
    const report = TradesMigrateOutputSchema.parse(JSON.parse(migrated.stdout));
    t.true(report.verified);
    t.is(report.database, `127.0.0.1:${rig.server.port}/${database}`, 'migrate connected directly');
    t.like(report.copied, { orders: { read: 5, inserted: 5 }, trades: { read: 10, inserted: 10 } });
    t.is(await advisoryLocks(rig, database), 0, 'its locks (schema, copy) are released');

    const verified = await runQt(['--json', 'trades', 'verify', '--sqlite', file], env, { timeoutMs: 30_000 });
    t.is(verified.code, 0, verified.stderr);
    const comparison = TradesVerifyOutputSchema.parse(JSON.parse(verified.stdout));
    t.true(comparison.equal);
    t.is(comparison.database, `127.0.0.1:${rig.bouncer.port}/${database}`, 'verify went through pgbouncer');
    t.deepEqual(leaks(rig, migrated.stdout + migrated.stderr + verified.stdout + verified.stderr), []);
  },
);

serial('backup.sh and restore.sh connect to QT_PG_MIGRATION_URL: both pass with pgbouncer paused', async (t) => {
  t.timeout(120_000);
  const rig = t.context;
  const database = 'qt_split_cli';
  const dir = await mkdtemp(join(tmpdir(), 'qt-pgbouncer-backup-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const env = { DATABASE_URL: pooledUrl(rig, database), QT_PG_MIGRATION_URL: directUrl(rig, database) };
  const resume = await pause(t, database);
  const backup = await within(runScript(BACKUP_SH, [dir], env), 60_000, 'the backup went through pgbouncer');
  t.is(backup.status, 0, backup.stderr);
  const [dump, manifest] = await backupFiles(dir);
  t.like(manifestTables(await readFile(join(dir, manifest as string), 'utf8')), {
    'public.orders': 5,
    'public.trades': 10,
  });
  const restore = await within(
    runScript(RESTORE_SH, [join(dir, dump as string)], env),
    60_000,
    'the restore went through pgbouncer',
  );
  t.is(restore.status, 0, restore.stderr);
  t.regex(restore.stdout + restore.stderr, /restore: OK/);
  await resume();
  t.deepEqual(leaks(rig, backup.stdout + backup.stderr + restore.stdout + restore.stderr), []);
});
