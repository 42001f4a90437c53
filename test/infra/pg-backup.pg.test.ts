/**
 * infra/postgres/backup.sh and restore.sh against a real PostgreSQL (test/support/pg-fixture.ts) whose
 * trade store database (schema by the store's migrations, 100k trades) belongs to a role that logs in
 * with a password: backup → drop the database → restore brings every row back (full contents hashed,
 * indexes, the store opens on it), with the times logged; a restore over the live database undoes
 * what changed since; a manifest that disagrees, a damaged dump or a missing manifest fail naming
 * why; a failing backup (unreachable server, wrong password, bad DIR, the disk filling mid-dump) exits
 * non-zero, leaves no dump and removes nothing; retention removes only the script's own old files;
 * the PG* variables work as DATABASE_URL does; the password is never printed.
 */
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import { DEFAULT_PG_CONNECT_TIMEOUT_MS, DEFAULT_PG_IDLE_TIMEOUT_MS } from '../../src/config/trade-store.js';
import { PostgresTradeStore } from '../../src/exchange/pg-trade-store.js';
import { getFreePort } from '../support/free-port.js';
import { type AppRole, createAppRole, superQuery } from '../support/pg-app-role.js';
import {
  BACKUP_SH,
  backupFiles,
  fillTradeStore,
  fingerprint,
  manifestTables,
  RESTORE_SH,
  runScript,
  type ScriptRun,
  sql,
  stampDaysAgo,
  storeAnswer,
} from '../support/pg-backup.js';
import { type PgServer, startPostgres } from '../support/pg-fixture.js';

interface Rig {
  server: PgServer;
  app: AppRole;
  /** The database's fingerprint when the first backup was taken. */
  before: Awaited<ReturnType<typeof fingerprint>>;
}

/** The dump the first test took (kept in the server's dir), for the tests after it. */
let firstDump: string | undefined;

const test = anyTest as TestFn<Rig>;
/** Trades filled in: 25,000 orders of 4 fills in bulk, plus what the store records itself. */
const BULK_ORDERS = 25_000;
const FILLS_PER_ORDER = 4;
const STORE_ANSWERS = 50;
const PASSWORD = 'Back:up@pw/%-9';

function storeAt(databaseUrl: string): PostgresTradeStore {
  return new PostgresTradeStore({
    databaseUrl,
    poolMax: 4,
    connectTimeoutMs: DEFAULT_PG_CONNECT_TIMEOUT_MS,
    idleTimeoutMs: DEFAULT_PG_IDLE_TIMEOUT_MS,
    queryTimeoutMs: 30_000,
  });
}

test.before(async (t) => {
  const server = await startPostgres({ name: 'pg-backup' });
  try {
    const app = await createAppRole(server, { role: 'qt_app', password: PASSWORD, database: 'qt' });
    const started = Date.now();
    const store = storeAt(app.url);
    await store.open();
    for (let i = 0; i < STORE_ANSWERS; i++) await store.record(storeAnswer(i), 'signal', 1_764_500_000_000 + i);
    await store.close();
    await fillTradeStore(app.url, BULK_ORDERS, FILLS_PER_ORDER);
    const before = await fingerprint(app.url);
    const [fsync] = await superQuery<{ fsync: string }>(server, 'SHOW fsync');
    t.log(
      `filled the trade store in ${Date.now() - started} ms: ${JSON.stringify(counts(before))}; fsync ${fsync?.fsync}`,
    );
    t.context = { server, app, before };
  } catch (error) {
    await server.stop();
    throw error;
  }
});
test.after.always((t) => t.context.server?.stop());

function counts(f: Rig['before']): Record<string, number> {
  return Object.fromEntries(
    Object.entries(f).flatMap(([k, v]) => (Array.isArray(v) ? [] : [[`public.${k}`, v.rows] as const])),
  );
}

async function tempDir(t: ExecutionContext, name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `qt-${name}-`));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** The run's output holds the password neither as given nor percent-encoded. */
function noPassword(t: ExecutionContext, run: ScriptRun, what: string): void {
  const out = `${run.stdout}${run.stderr}`;
  t.false(out.includes(PASSWORD) || out.includes(encodeURIComponent(PASSWORD)), `${what}: the password is printed`);
}

async function recreate(server: PgServer, database: string): Promise<void> {
  await superQuery(server, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  await superQuery(server, `CREATE DATABASE ${database} OWNER qt_app`);
}

test.serial('backup → drop the database → restore: every row back, indexes too, the store opens on it', async (t) => {
  t.timeout(180_000);
  const { server, app, before } = t.context;
  const dir = await tempDir(t, 'backup');
  const backup = await runScript(BACKUP_SH, [dir], { DATABASE_URL: app.url });
  t.is(backup.status, 0, backup.stderr);
  noPassword(t, backup, 'backup');
  const files = await backupFiles(dir);
  t.is(files.length, 2, files.join(', '));
  const [dumpName, manifestName] = files as [string, string];
  t.regex(dumpName, /^trade-store-\d{8}T\d{6}Z\.dump$/);
  t.is(manifestName, dumpName.replace(/\.dump$/, '.manifest'));
  const dump = join(dir, dumpName);
  t.is((await stat(dump)).mode & 0o777, 0o600, 'the dump is readable by its owner only');
  const manifest = await readFile(join(dir, manifestName), 'utf8');
  t.deepEqual(manifestTables(manifest), counts(before), 'the manifest counts every table');
  const reader = storeAt(app.url);
  const newest = await reader.trades(5);
  await reader.close();

  await recreate(server, 'qt');
  const tables = await superQuery(server, `SELECT tablename FROM pg_tables WHERE schemaname = 'public'`, [], 'qt');
  t.deepEqual(tables, [], 'the database is empty');
  const restore = await runScript(RESTORE_SH, [dump], { DATABASE_URL: app.url });
  t.is(restore.status, 0, restore.stderr);
  noPassword(t, restore, 'restore');
  t.regex(restore.stdout, /restore: OK, 3 tables as in the manifest/);
  t.deepEqual(await fingerprint(app.url), before, 'every row of every table, and every index, as backed up');
  const store = storeAt(app.url);
  t.teardown(() => store.close());
  await store.open();
  t.deepEqual(await store.trades(5), newest);
  const size = (await stat(dump)).size;
  t.log(
    `${JSON.stringify(counts(before))}: backup ${backup.ms} ms (${(size / 1e6).toFixed(1)} MB), restore ${restore.ms} ms`,
  );
  t.log(restore.stdout.trim());
  // Kept for the next tests: copied out of this test's dir.
  const keep = join(server.dir, 'kept');
  await mkdir(keep, { recursive: true });
  for (const f of [dumpName, manifestName]) await copyFile(join(dir, f), join(keep, f));
  firstDump = join(keep, dumpName);
});

test.serial(
  'a restore over the live database undoes what changed since; a table made since is left and named',
  async (t) => {
    const { app, before } = t.context;
    const dump = firstDump;
    if (dump === undefined) return t.fail('no dump from the first test');
    await sql(
      app.url,
      `DELETE FROM trades WHERE trade_id LIKE '50000000%';
     UPDATE orders SET status = 'canceled' WHERE client_order_id = 'c-1';
     INSERT INTO orders SELECT 'after', venue, venue_order_id, symbol, side, type, quantity, price, status,
       executed_qty, average_price, purpose, created_at, updated_at FROM orders WHERE client_order_id = 'c-2';
     CREATE TABLE made_since (x int); INSERT INTO made_since VALUES (1), (2);`,
    );
    t.notDeepEqual(await fingerprint(app.url), before);
    const restore = await runScript(RESTORE_SH, [dump], { DATABASE_URL: app.url });
    t.is(restore.status, 0, restore.stderr);
    t.deepEqual(await fingerprint(app.url), before);
    t.regex(restore.stdout, /note: public\.made_since \(2 rows\) is not in the backup; left as it was/);
    await sql(app.url, 'DROP TABLE made_since');
  },
);

test.serial(
  'a restore whose manifest disagrees exits 1 naming each difference; a damaged dump or none manifest is refused untouched',
  async (t) => {
    const { app, before } = t.context;
    const dump = firstDump;
    if (dump === undefined) return t.fail('no dump from the first test');
    const dir = await tempDir(t, 'restore-bad');
    const copy = join(dir, 'trade-store-20250101T020000Z.dump');
    await copyFile(dump, copy);
    const manifest = await readFile(dump.replace(/\.dump$/, '.manifest'), 'utf8');
    const trades = counts(before)['public.trades'] as number;
    await writeFile(
      copy.replace(/\.dump$/, '.manifest'),
      `${manifest.replace(`table\tpublic.trades\t${trades}`, `table\tpublic.trades\t${trades + 1}`)}table\tpublic.gone\t5\n`,
    );
    const wrong = await runScript(RESTORE_SH, [copy], { DATABASE_URL: app.url });
    t.is(wrong.status, 1);
    t.regex(wrong.stderr, new RegExp(`public\\.trades: ${trades} rows restored, the manifest says ${trades + 1}`));
    t.regex(wrong.stderr, /public\.gone: missing after the restore, the manifest says 5 rows/);
    t.regex(wrong.stderr, /MISMATCH: 2 of 4 tables differ from the manifest/);

    // A damaged dump: refused by its sha256 before anything is restored (the change below stays).
    await superQuery(t.context.server, `DELETE FROM trades WHERE trade_id = 't-1-1'`, [], 'qt');
    const bytes = await readFile(dump);
    const middle = Math.floor(bytes.length / 2);
    bytes.writeUInt8((bytes.readUInt8(middle) ^ 0xff) & 0xff, middle);
    await writeFile(copy, bytes);
    await writeFile(copy.replace(/\.dump$/, '.manifest'), manifest);
    const damaged = await runScript(RESTORE_SH, [copy], { DATABASE_URL: app.url });
    t.is(damaged.status, 1);
    t.regex(damaged.stderr, /sha256 [0-9a-f]{64} differs from the manifest's [0-9a-f]{64} .*nothing restored/);
    t.is(((await fingerprint(app.url)).trades as { rows: number }).rows, trades - 1, 'the database was not touched');

    await rm(copy.replace(/\.dump$/, '.manifest'));
    const alone = await runScript(RESTORE_SH, [copy], { DATABASE_URL: app.url });
    t.is(alone.status, 1);
    t.regex(alone.stderr, /its manifest .* is missing; refusing to restore a dump without one/);
    const usage = await runScript(RESTORE_SH, [], { DATABASE_URL: app.url });
    t.is(usage.status, 2);
    t.regex(usage.stderr, /usage: .*restore\.sh FILE\.dump/);
    // Back as backed up, for the tests after this one.
    t.is((await runScript(RESTORE_SH, [dump], { DATABASE_URL: app.url })).status, 0);
  },
);

test.serial('a failing backup exits non-zero, leaves no dump and removes no old one', async (t) => {
  const { server, app } = t.context;
  const closed = await getFreePort();
  const notADir = join(await tempDir(t, 'backup-file'), 'a-file');
  await writeFile(notADir, '');
  const cases: [string, Record<string, string>, string, RegExp, number | undefined][] = [
    [
      'unreachable server',
      { DATABASE_URL: `postgres://qt_app:${encodeURIComponent(PASSWORD)}@127.0.0.1:${closed}/qt` },
      '',
      /Connection refused/,
      undefined,
    ],
    [
      'wrong password',
      { DATABASE_URL: app.url.replace(encodeURIComponent(PASSWORD), 'wrong') },
      '',
      /password authentication failed for user "qt_app"/,
      undefined,
    ],
    ['bad DIR', { DATABASE_URL: app.url }, join(notADir, 'backups'), /cannot create the backup directory/, undefined],
    ['the disk filling mid-dump', { DATABASE_URL: app.url }, '', /File size limit exceeded/, 256],
  ];
  for (const [what, env, badDir, message, limitKb] of cases) {
    const dir = badDir === '' ? await tempDir(t, 'backup-fail') : badDir;
    const old = `trade-store-${stampDaysAgo(30)}`;
    if (badDir === '') for (const ext of ['dump', 'manifest']) await writeFile(join(dir, `${old}.${ext}`), 'old');
    const run = await runScript(BACKUP_SH, [dir], env, { fileSizeLimitKb: limitKb });
    t.not(run.status, 0, what);
    t.regex(run.stderr, message, what);
    noPassword(t, run, what);
    if (badDir !== '') continue;
    t.regex(run.stderr, /FAILED \(exit \d+\); no backup written/, what);
    t.deepEqual(await backupFiles(dir), [`${old}.dump`, `${old}.manifest`], `${what}: nothing new, nothing removed`);
  }
  t.truthy(server.pid, 'the server still runs');
});

test.serial('retention removes only its own backups older than QT_BACKUP_RETENTION_DAYS', async (t) => {
  const { app } = t.context;
  const dir = await tempDir(t, 'retention');
  const old = `trade-store-${stampDaysAgo(20)}`;
  const recent = `trade-store-${stampDaysAgo(13)}`;
  const mine = [`${old}.dump`, `${old}.manifest`, `.${old}.dump.partial`];
  const kept = [
    `${recent}.dump`,
    `${recent}.manifest`,
    'notes.txt',
    `${old}.dump.bak`,
    `other-${stampDaysAgo(20)}.dump`,
    `x${old}.manifest`,
  ];
  for (const f of [...mine, ...kept]) await writeFile(join(dir, f), 'x');
  const directory = `trade-store-${stampDaysAgo(40)}.dump`;
  await mkdir(join(dir, directory));
  const run = await runScript(BACKUP_SH, [dir], { DATABASE_URL: app.url, QT_BACKUP_RETENTION_DAYS: '14' });
  t.is(run.status, 0, run.stderr);
  t.regex(run.stdout, /retention 14 days: removed 3 files older than \d{8}T\d{6}Z/);
  const left = await readdir(dir);
  for (const f of mine) t.false(left.includes(f), `${f} removed`);
  for (const f of kept) t.true(left.includes(f), `${f} kept`);
  t.true(left.includes(directory), 'a directory is never removed');
  t.is(
    left.filter((f) => f !== directory && /^trade-store-\d{8}T\d{6}Z\.(dump|manifest)$/.test(f)).length,
    4,
    'the new pair is there',
  );

  for (const bad of ['0', 'abc', '-3', '1.5']) {
    const refused = await runScript(BACKUP_SH, [dir], { DATABASE_URL: app.url, QT_BACKUP_RETENTION_DAYS: bad });
    t.is(refused.status, 2, bad);
    t.regex(refused.stderr, /QT_BACKUP_RETENTION_DAYS must be a whole number of days, 1 or more/);
  }
  t.is((await readdir(dir)).length, left.length, 'a refused run writes nothing');
});

test.serial(
  'the PG* variables instead of DATABASE_URL; DIR from QT_BACKUP_DIR or var/backups; bad settings exit 2',
  async (t) => {
    const { server, app, before } = t.context;
    const cwd = await tempDir(t, 'backup-cwd');
    const pgEnv = {
      PGHOST: server.host,
      PGPORT: String(server.port),
      PGUSER: 'qt_app',
      PGPASSWORD: PASSWORD,
      PGDATABASE: 'qt',
    };
    const byDefault = await runScript(BACKUP_SH, [], pgEnv, { cwd });
    t.is(byDefault.status, 0, byDefault.stderr);
    const dumps = (await backupFiles(join(cwd, 'var/backups'))).filter((f) => f.endsWith('.dump'));
    t.is(dumps.length, 1, 'DIR defaults to var/backups in the working directory');
    const byEnv = await runScript(BACKUP_SH, [], { ...pgEnv, QT_BACKUP_DIR: join(cwd, 'elsewhere') }, { cwd });
    t.is(byEnv.status, 0, byEnv.stderr);
    t.is((await backupFiles(join(cwd, 'elsewhere'))).length, 2, 'QT_BACKUP_DIR');

    await superQuery(server, 'CREATE DATABASE qt_copy OWNER qt_app');
    const copy = app.url.replace(/\/qt$/, '/qt_copy');
    const restore = await runScript(RESTORE_SH, [join(cwd, 'var/backups', dumps[0] as string)], {
      ...pgEnv,
      PGDATABASE: 'qt_copy',
    });
    t.is(restore.status, 0, restore.stderr);
    t.regex(restore.stdout, /into database qt_copy/);
    t.deepEqual(await fingerprint(copy), before);

    const refusals: [Record<string, string>, RegExp][] = [
      [{}, /set DATABASE_URL, or PGDATABASE and the other PG\* variables/],
      [{ DATABASE_URL: 'mysql://x@h/db' }, /DATABASE_URL must be a postgres:\/\/ or postgresql:\/\/ URL/],
      [{ DATABASE_URL: `postgres://qt_app@h/qt?password=${PASSWORD}` }, /not as password=/],
      [{ DATABASE_URL: app.url, QT_BACKUP_LOCK_TIMEOUT: 'soon' }, /QT_BACKUP_LOCK_TIMEOUT must be like 60s/],
    ];
    for (const [env, message] of refusals) {
      const run = await runScript(BACKUP_SH, [join(cwd, 'refused')], env);
      t.is(run.status, 2, JSON.stringify(env));
      t.regex(run.stderr, message);
      noPassword(t, run, message.source);
    }
    t.deepEqual(await backupFiles(join(cwd, 'refused')), [], 'nothing written');
  },
);

test.serial(
  'rows written while the backup runs: the manifest counts exactly what the dump holds (one snapshot)',
  async (t) => {
    const { server, app } = t.context;
    const dir = await tempDir(t, 'backup-live');
    let writing = true;
    let batches = 0;
    const writer = (async () => {
      while (writing) {
        await sql(
          app.url,
          `INSERT INTO trades (venue, trade_id, client_order_id, symbol, side, price, quantity, fee, fee_asset, recorded_at)
         SELECT 'paper', 'live-' || $1::int || '-' || g, 'c-1', 'BTCUSDT', 'buy', 65000, 0.01, 0, 'USDT', 1764600000000
         FROM generate_series(1, 50) AS g`,
          [batches],
        );
        batches++;
      }
    })();
    const [{ n: atStart } = { n: 0 }] = await sql<{ n: number }>(app.url, 'SELECT count(*)::int AS n FROM trades');
    const backup = await runScript(BACKUP_SH, [dir], { DATABASE_URL: app.url });
    writing = false;
    await writer;
    t.is(backup.status, 0, backup.stderr);
    const [{ n: atEnd } = { n: 0 }] = await sql<{ n: number }>(app.url, 'SELECT count(*)::int AS n FROM trades');
    const files = await backupFiles(dir);
    const inManifest = manifestTables(await readFile(join(dir, files[1] as string), 'utf8'))['public.trades'] as number;
    t.log(`trades: ${atStart} when the backup started, ${inManifest} in its snapshot, ${atEnd} when it ended`);
    t.true(atEnd > atStart, 'rows were written while the backup ran');
    t.true(inManifest >= atStart && inManifest <= atEnd, 'the snapshot is one taken during the run');
    await superQuery(server, 'CREATE DATABASE qt_live OWNER qt_app');
    const restore = await runScript(RESTORE_SH, [join(dir, files[0] as string)], {
      DATABASE_URL: app.url.replace(/\/qt$/, '/qt_live'),
    });
    t.is(restore.status, 0, `${restore.stdout}${restore.stderr}`);
    await sql(app.url, `DELETE FROM trades WHERE trade_id LIKE 'live-%'`);
  },
);
