/**
 * The trade store's direct migration URL (QT_PG_MIGRATION_URL, `migrationUrl`) on a real PostgreSQL whose
 * application role logs in with its password: the migrations connect there alone (with the pool's URL
 * reaching nothing, open() still migrates, and the pool's queries fail), the lock is released after; the
 * default (the same URL) migrates on a pooled connection as before; and neither password reaches the logs
 * or the errors, whether the migration URL is unreachable or its password wrong. PgBouncer in front of the
 * pool: test/infra/pgbouncer.pg.test.ts.
 */
import { Writable } from 'node:stream';
import test from 'ava';
import { loadConfig } from '../../src/config/load.js';
import type { VenueOrder } from '../../src/exchange/adapter.js';
import { MIGRATIONS } from '../../src/exchange/pg-migrations.js';
import { PostgresTradeStore, type PostgresTradeStoreOptions } from '../../src/exchange/pg-trade-store.js';
import { createLogger } from '../../src/log.js';
import { getFreePort } from '../support/free-port.js';
import { type AppRole, createAppRole, superQuery } from '../support/pg-app-role.js';
import { type PgServer, startPostgres } from '../support/pg-fixture.js';

const MIGRATION_PW = 'direct-Migr8:pw@/only';
const POOL_PW = 'pooled-Pw-never-logged';
let server: PgServer;
let app: AppRole;
let databases = 0;

test.before(async () => {
  server = await startPostgres({ name: 'migration-url' });
  app = await createAppRole(server, { role: 'qt_app', password: MIGRATION_PW, database: 'qt' });
});
test.after.always(() => server?.stop());

/** A database of its own owned by the role, and the role's direct URL to it. */
async function freshDatabase(): Promise<{ name: string; url: string }> {
  const name = `mig_${process.pid}_${++databases}`;
  await superQuery(server, `CREATE DATABASE ${name} OWNER qt_app`);
  return { name, url: app.url.replace(/\/qt$/, `/${name}`) };
}

/** A logger writing into a string. */
function captured(): {
  log: ReturnType<typeof createLogger>;
  text: () => string;
  records: () => Record<string, unknown>[];
} {
  let text = '';
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString('utf8');
      done();
    },
  });
  return {
    log: createLogger({ level: 'debug', destination }),
    text: () => text,
    records: () =>
      text
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

function storeOf(options: Pick<PostgresTradeStoreOptions, 'databaseUrl' | 'migrationUrl' | 'log'>): PostgresTradeStore {
  return new PostgresTradeStore({
    poolMax: 2,
    connectTimeoutMs: 2_000,
    idleTimeoutMs: 30_000,
    queryTimeoutMs: 10_000,
    ...options,
  });
}

async function nowhere(password: string, database = 'qt'): Promise<{ url: string; port: number }> {
  const port = await getFreePort();
  return { url: `postgres://qt_app:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`, port };
}

/** Whether `text` holds either form of either password. */
function leaks(text: string): string[] {
  return [MIGRATION_PW, encodeURIComponent(MIGRATION_PW), POOL_PW].filter((p) => text.includes(p));
}

const answer: VenueOrder = {
  venue: 'paper',
  venueOrderId: 'v-1',
  clientOrderId: 'c-1',
  symbol: 'BTCUSDT',
  side: 'buy',
  type: 'market',
  status: 'filled',
  quantity: 0.5,
  executedQuantity: 0.5,
  averagePrice: 60_000,
  fills: [{ tradeId: 't-1', price: 60_000, quantity: 0.5, fee: 0.01, feeAsset: 'USDT' }],
};

async function ledger(database: string): Promise<number[]> {
  const rows = await superQuery<{ version: number }>(
    server,
    'SELECT version FROM trade_store_migrations ORDER BY version',
    [],
    database,
  );
  return rows.map((r) => r.version);
}

async function advisoryLocks(): Promise<number> {
  const rows = await superQuery<{ n: number }>(
    server,
    `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory'`,
  );
  return rows[0]?.n ?? -1;
}

test.serial(
  'the migrations connect to migrationUrl alone: the pool’s URL reaches nothing, open() migrates',
  async (t) => {
    const db = await freshDatabase();
    const pool = await nowhere(POOL_PW, db.name);
    const logs = captured();
    const store = storeOf({ databaseUrl: pool.url, migrationUrl: db.url, log: logs.log });
    t.teardown(() => store.close());
    await store.open();
    t.deepEqual(
      await ledger(db.name),
      MIGRATIONS.map((m) => m.version),
    );
    t.is(await advisoryLocks(), 0, 'the migration lock is released');
    // Everything else goes through the pool, which reaches nothing.
    const err = await t.throwsAsync(store.counts());
    t.regex(err?.message ?? '', /ECONNREFUSED/);
    const ready = logs.records().find((r) => r.msg === 'trade store: schema ready');
    t.like(ready, { applied: MIGRATIONS.map((m) => m.version), store: 'postgres' });
    t.regex(
      String(ready?.migrationsAt),
      new RegExp(`^postgres://qt_app:redacted@127\\.0\\.0\\.1:${server.port}/${db.name}$`),
    );
    t.regex(String(ready?.url), new RegExp(`^postgres://qt_app:redacted@127\\.0\\.0\\.1:${pool.port}/`));
    t.deepEqual(leaks(logs.text() + (err?.message ?? '') + (err?.stack ?? '')), []);
  },
);

test.serial(
  'the default (migrationUrl = databaseUrl, from the config) migrates on a pooled connection, as before',
  async (t) => {
    const db = await freshDatabase();
    const config = loadConfig({ QT_TRADE_STORE: 'postgres', DATABASE_URL: db.url }).tradeStore;
    if (config.kind !== 'postgres') return t.fail(config.kind);
    t.is(config.postgres.migrationUrl, db.url);
    const logs = captured();
    const store = new PostgresTradeStore({ ...config.postgres, log: logs.log });
    t.teardown(() => store.close());
    await store.record(answer, 'signal', 1_764_590_000_000);
    t.deepEqual(await store.counts(), { orders: 1, trades: 1 });
    t.deepEqual(
      await ledger(db.name),
      MIGRATIONS.map((m) => m.version),
    );
    t.is(await advisoryLocks(), 0);
    const ready = logs.records().find((r) => r.msg === 'trade store: schema ready');
    t.truthy(ready);
    t.false('migrationsAt' in (ready ?? {}), 'no separate migration connection');
    t.deepEqual(leaks(logs.text()), []);
  },
);

test.serial(
  'the migration URL’s password never reaches logs or errors: unreachable, or the password wrong',
  async (t) => {
    const db = await freshDatabase();
    const logs = captured();
    const texts: string[] = [];
    const collect = (err: Error | undefined) => {
      texts.push(`${err?.message} ${err?.stack} ${JSON.stringify(err)}`);
    };

    // Unreachable: open() and every call that needs it fail with the connection's error; the pool is fine.
    const gone = await nowhere(MIGRATION_PW, db.name);
    const unreachable = storeOf({ databaseUrl: db.url, migrationUrl: gone.url, log: logs.log });
    t.teardown(() => unreachable.close());
    for (const call of [() => unreachable.open(), () => unreachable.record(answer, 'signal', 1)]) {
      const err = await t.throwsAsync(call());
      t.regex(err?.message ?? '', /ECONNREFUSED/);
      collect(err);
    }

    // The password wrong: refused by the server, which names the role, not the password.
    const wrong = storeOf({
      databaseUrl: db.url,
      migrationUrl: db.url.replace(encodeURIComponent(MIGRATION_PW), encodeURIComponent(POOL_PW)),
      log: logs.log,
    });
    t.teardown(() => wrong.close());
    const refused = await t.throwsAsync<Error & { code?: string }>(wrong.open());
    t.is(refused?.code, '28P01');
    t.regex(refused?.message ?? '', /password authentication failed for user "qt_app"/);
    collect(refused);
    t.deepEqual(
      await superQuery(server, `SELECT 1 FROM pg_tables WHERE tablename = 'orders'`, [], db.name),
      [],
      'nothing migrated',
    );

    // With the right URL (another spelling of the same database: a connection of its own) it migrates and records.
    const right = storeOf({ databaseUrl: db.url, migrationUrl: `${db.url}?sslmode=disable`, log: logs.log });
    t.teardown(() => right.close());
    await right.record(answer, 'signal', 1_764_590_000_000);
    t.deepEqual(await right.counts(), { orders: 1, trades: 1 });

    t.true(logs.text().includes('redacted'), 'the URLs were logged, redacted');
    t.deepEqual(leaks(logs.text() + texts.join('\n')), []);
  },
);
