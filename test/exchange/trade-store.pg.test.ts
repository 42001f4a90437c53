/**
 * The trade store contract (trade-store-contract.ts) on the PostgreSQL store, each test on a database of
 * its own on one server of this file's own (test/support/pg-fixture.ts); then what only PostgreSQL has:
 * the migrations (recorded, indexed, applied once when several stores open at once, a newer schema refused).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { DEFAULT_PG_CONNECT_TIMEOUT_MS, DEFAULT_PG_IDLE_TIMEOUT_MS } from '../../src/config/trade-store.js';
import { MIGRATIONS } from '../../src/exchange/pg-migrations.js';
import { PostgresTradeStore } from '../../src/exchange/pg-trade-store.js';
import { waitFor } from '../support/bus.js';
import { type PgServer, pgQuery as query, startPostgres } from '../support/pg-fixture.js';
import { tradeStoreContract } from './trade-store-contract.js';

let server: PgServer;
let databases = 0;

test.before(async () => {
  server = await startPostgres({ name: 'trade-store' });
});
test.after.always(() => server?.stop());

function storeAt(databaseUrl: string): PostgresTradeStore {
  return new PostgresTradeStore({
    databaseUrl,
    poolMax: 4,
    connectTimeoutMs: DEFAULT_PG_CONNECT_TIMEOUT_MS,
    idleTimeoutMs: DEFAULT_PG_IDLE_TIMEOUT_MS,
    queryTimeoutMs: 10_000,
  });
}

async function freshDatabase(): Promise<string> {
  return server.createDatabase(`trades_${process.pid}_${++databases}`);
}

tradeStoreContract('postgres', async (t) => {
  const url = await freshDatabase();
  let current = storeAt(url);
  await current.open();
  t.teardown(() => current.close());
  return {
    store: current,
    reopen: async () => {
      await current.close();
      current = storeAt(url);
      return current;
    },
  };
});

test('postgres: the migrations are recorded, their tables named orders and trades, with their indexes', async (t) => {
  const url = await freshDatabase();
  const store = storeAt(url);
  t.teardown(() => store.close());
  await store.open();
  const ledger = await query<{ version: number; name: string }>(
    url,
    'SELECT version, name FROM trade_store_migrations ORDER BY version',
  );
  t.deepEqual(
    ledger,
    MIGRATIONS.map((m) => ({ version: m.version, name: m.name })),
  );
  const indexes = await query<{ indexname: string }>(
    url,
    "SELECT indexname FROM pg_indexes WHERE tablename IN ('orders', 'trades') ORDER BY indexname",
  );
  t.deepEqual(
    indexes.map((i) => i.indexname),
    ['orders_by_time', 'orders_pkey', 'trades_by_order', 'trades_by_time', 'trades_pkey'],
  );
});

test('postgres: eight stores opening one database at once apply each migration once', async (t) => {
  const url = await freshDatabase();
  const stores = Array.from({ length: 8 }, () => storeAt(url));
  t.teardown(() => Promise.all(stores.map((s) => s.close())));
  await Promise.all(stores.map((s) => s.open()));
  const [row] = await query<{ n: string }>(url, 'SELECT count(*) AS n FROM trade_store_migrations');
  t.is(Number(row?.n), MIGRATIONS.length);
  t.deepEqual(await stores[7]!.counts(), { orders: 0, trades: 0 });
});

test('postgres: four processes migrating one database at once: one applies each migration, the others find it done', async (t) => {
  const url = await freshDatabase();
  const child = fileURLToPath(new URL('../support/pg-migrate-child.ts', import.meta.url));
  const children = Array.from({ length: 4 }, () => {
    const proc = spawn(process.execPath, ['--import=tsx', child, url], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => {
      out += String(d);
    });
    const exited = once(proc, 'exit').then(([code]) => ({ code: code as number | null, out: () => out }));
    return { proc, exited, out: () => out };
  });
  // All connected first, then all told to go at once: their migrations overlap.
  await waitFor(() => children.every((c) => c.out().startsWith('ready\n')), 'four children connected', 30_000);
  for (const c of children) c.proc.stdin.write('go\n');
  const results = await Promise.all(
    children.map(async (c) => {
      const { code, out } = await c.exited;
      t.is(code, 0, out());
      return JSON.parse(out().split('\n')[1] ?? '') as { applied: number[]; version: number };
    }),
  );
  const versions = MIGRATIONS.map((m) => m.version);
  t.deepEqual(
    results.map((r) => r.applied).sort((x, y) => y.length - x.length),
    [versions, [], [], []],
  );
  t.true(results.every((r) => r.version === versions.at(-1)));
  const [row] = await query<{ n: string }>(url, 'SELECT count(*) AS n FROM trade_store_migrations');
  t.is(Number(row?.n), MIGRATIONS.length);
});

test('postgres: a database at a newer schema version is refused with QT_STORE_INCOMPATIBLE, and left as it is', async (t) => {
  const url = await freshDatabase();
  const first = storeAt(url);
  await first.open();
  await first.close();
  const newer = MIGRATIONS.length + 1;
  await query(url, `INSERT INTO trade_store_migrations (version, name) VALUES (${newer}, 'from a newer build')`);
  const store = storeAt(url);
  t.teardown(() => store.close());
  const err = await t.throwsAsync(store.open(), { code: 'QT_STORE_INCOMPATIBLE' } as never);
  t.regex(err?.message ?? '', new RegExp(`schema version ${newer}; this build knows up to ${MIGRATIONS.length}`));
  const [row] = await query<{ v: number }>(url, 'SELECT max(version) AS v FROM trade_store_migrations');
  t.is(row?.v, newer);
});

test('postgres: a store whose server was SIGKILLed fails its calls, and works once the server is back', async (t) => {
  // A server of its own: the other tests of this file run at the same time.
  const own = await startPostgres({ name: 'trade-store-kill' });
  const store = storeAt(own.url);
  t.teardown(async () => {
    await store.close();
    await own.stop();
  });
  await store.record(
    {
      venue: 'paper',
      venueOrderId: 'v',
      clientOrderId: 'c',
      symbol: 'BTCUSDT',
      side: 'buy',
      type: 'market',
      status: 'filled',
      quantity: 1,
      executedQuantity: 1,
      fills: [],
    },
    'signal',
    1,
  );
  await own.kill();
  await t.throwsAsync(store.counts());
  await own.restart();
  t.deepEqual(await store.counts(), { orders: 1, trades: 0 });
});
