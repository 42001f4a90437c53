/**
 * The trade store settings (src/config/trade-store.ts): defaults, the postgres rule, bad values named, the
 * URLs (DATABASE_URL, QT_PG_MIGRATION_URL) never echoed, the migration URL DATABASE_URL by default.
 */
import test from 'ava';
import { loadConfig } from '../../src/config/load.js';
import { postgresSettingsFromEnv } from '../../src/config/trade-store.js';
import { isQtError } from '../../src/errors.js';

function issues(env: Record<string, string>): { key: string; message: string }[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (isQtError(err, 'QT_CONFIG_INVALID'))
      return (err.details as { issues: { key: string; message: string }[] }).issues;
    throw err;
  }
  return [];
}

test('unset, the trade store is SQLite and DATABASE_URL is ignored', (t) => {
  t.deepEqual(loadConfig({}).tradeStore, { kind: 'sqlite' });
  t.deepEqual(loadConfig({ DATABASE_URL: 'postgres://u:p@db:5432/qt' }).tradeStore, { kind: 'sqlite' });
});

test('QT_TRADE_STORE=postgres takes DATABASE_URL and the pool settings, with their defaults', (t) => {
  const url = 'postgresql://qt:s3cret@db.internal:6432/trades?sslmode=require';
  t.deepEqual(loadConfig({ QT_TRADE_STORE: 'postgres', DATABASE_URL: url }).tradeStore, {
    kind: 'postgres',
    postgres: {
      databaseUrl: url,
      migrationUrl: url,
      poolMax: 10,
      connectTimeoutMs: 5_000,
      idleTimeoutMs: 30_000,
      queryTimeoutMs: 10_000,
      retry: { baseMs: 250, maxMs: 10_000 },
    },
  });
  const tuned = loadConfig({
    QT_TRADE_STORE: 'postgres',
    DATABASE_URL: url,
    QT_PG_POOL_MAX: '3',
    QT_PG_CONNECT_TIMEOUT_MS: '250',
    QT_PG_IDLE_TIMEOUT_MS: '1000',
    QT_PG_QUERY_TIMEOUT_MS: '2000',
    QT_PG_RETRY_BASE_MS: '100',
    QT_PG_RETRY_MAX_MS: '3000',
  }).tradeStore;
  t.like(tuned, {
    postgres: {
      poolMax: 3,
      connectTimeoutMs: 250,
      idleTimeoutMs: 1_000,
      queryTimeoutMs: 2_000,
      retry: { baseMs: 100, maxMs: 3_000 },
    },
  });
});

test('QT_TRADE_STORE=dual writes both, reads from SQLite unless QT_TRADE_STORE_READ_FROM says postgres', (t) => {
  const url = 'postgres://qt:s3cret@db:5432/qt';
  t.like(loadConfig({ QT_TRADE_STORE: 'dual', DATABASE_URL: url }).tradeStore, {
    kind: 'dual',
    readFrom: 'sqlite',
    postgres: { databaseUrl: url },
  });
  t.like(loadConfig({ QT_TRADE_STORE: 'dual', DATABASE_URL: url, QT_TRADE_STORE_READ_FROM: 'postgres' }).tradeStore, {
    kind: 'dual',
    readFrom: 'postgres',
  });
  t.deepEqual(issues({ QT_TRADE_STORE: 'dual' }), [
    { key: 'DATABASE_URL', message: 'is required when QT_TRADE_STORE is dual' },
  ]);
  t.deepEqual(
    issues({ QT_TRADE_STORE_READ_FROM: 'mysql' }).map((i) => i.key),
    ['QT_TRADE_STORE_READ_FROM'],
  );
});

test('a retry base above the retry ceiling is named', (t) => {
  t.deepEqual(issues({ QT_PG_RETRY_BASE_MS: '5000', QT_PG_RETRY_MAX_MS: '1000' }), [
    { key: 'QT_PG_RETRY_BASE_MS', message: 'must not be above QT_PG_RETRY_MAX_MS' },
  ]);
});

test('postgres without DATABASE_URL, an unknown store and bad pool settings are named, each', (t) => {
  t.deepEqual(issues({ QT_TRADE_STORE: 'postgres' }), [
    { key: 'DATABASE_URL', message: 'is required when QT_TRADE_STORE is postgres' },
  ]);
  t.deepEqual(
    issues({ QT_TRADE_STORE: 'mysql', QT_PG_POOL_MAX: '0', QT_PG_CONNECT_TIMEOUT_MS: 'soon' })
      .map((i) => i.key)
      .sort(),
    ['QT_PG_CONNECT_TIMEOUT_MS', 'QT_PG_POOL_MAX', 'QT_TRADE_STORE'],
  );
});

test('a DATABASE_URL that is not a postgres URL is named without repeating it (it carries the password)', (t) => {
  for (const url of ['mysql://qt:hunter2pw@db/qt', 'hunter2pw']) {
    let message = '';
    try {
      loadConfig({ QT_TRADE_STORE: 'postgres', DATABASE_URL: url });
    } catch (err) {
      message = (err as Error).message + JSON.stringify((err as { details?: unknown }).details);
    }
    t.regex(message, /DATABASE_URL: must be a postgres:\/\/ or postgresql:\/\/ URL/);
    t.false(message.includes('hunter2pw'));
  }
});

test('QT_PG_MIGRATION_URL: the migrations’ direct URL, DATABASE_URL when unset (main and qt trades alike)', (t) => {
  const pooled = 'postgres://qt_app:s3cret@127.0.0.1:6432/qt';
  const direct = 'postgresql://qt_app:s3cret@db.internal:5432/qt?sslmode=require';
  for (const kind of ['postgres', 'dual'] as const) {
    t.like(loadConfig({ QT_TRADE_STORE: kind, DATABASE_URL: pooled, QT_PG_MIGRATION_URL: direct }).tradeStore, {
      kind,
      postgres: { databaseUrl: pooled, migrationUrl: direct },
    });
    t.like(loadConfig({ QT_TRADE_STORE: kind, DATABASE_URL: pooled }).tradeStore, {
      postgres: { databaseUrl: pooled, migrationUrl: pooled },
    });
  }
  t.like(postgresSettingsFromEnv({ DATABASE_URL: pooled, QT_PG_MIGRATION_URL: direct }), {
    ok: true,
    config: { databaseUrl: pooled, migrationUrl: direct },
  });
  t.like(postgresSettingsFromEnv({ DATABASE_URL: pooled }), { ok: true, config: { migrationUrl: pooled } });
  // With SQLite it is ignored, like DATABASE_URL; alone it does not stand in for DATABASE_URL.
  t.deepEqual(loadConfig({ QT_PG_MIGRATION_URL: direct }).tradeStore, { kind: 'sqlite' });
  t.deepEqual(issues({ QT_TRADE_STORE: 'postgres', QT_PG_MIGRATION_URL: direct }), [
    { key: 'DATABASE_URL', message: 'is required when QT_TRADE_STORE is postgres' },
  ]);
});

test('a QT_PG_MIGRATION_URL that is not a postgres URL is QT_CONFIG_INVALID naming it, never repeating it', (t) => {
  const good = 'postgres://qt_app:pooled-pw@127.0.0.1:6432/qt';
  for (const bad of ['mysql://qt:hunter2pw@db/qt', 'hunter2pw', 'postgres//qt:hunter2pw@db/qt']) {
    for (const store of ['postgres', 'sqlite']) {
      const err = t.throws(() => loadConfig({ QT_TRADE_STORE: store, DATABASE_URL: good, QT_PG_MIGRATION_URL: bad }));
      t.true(isQtError(err, 'QT_CONFIG_INVALID'), String(err));
      const text = (err?.message ?? '') + JSON.stringify((err as { details?: unknown }).details);
      t.regex(text, /QT_PG_MIGRATION_URL: must be a postgres:\/\/ or postgresql:\/\/ URL/);
      t.false(text.includes('hunter2pw'), bad);
      t.false(text.includes('pooled-pw'));
    }
    const cli = postgresSettingsFromEnv({ DATABASE_URL: good, QT_PG_MIGRATION_URL: bad });
    t.false(cli.ok);
    const text = JSON.stringify(cli);
    t.regex(text, /QT_PG_MIGRATION_URL: must be a postgres/);
    t.false(text.includes('hunter2pw'));
  }
});
