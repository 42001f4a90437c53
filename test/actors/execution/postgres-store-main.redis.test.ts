/**
 * A real `main` with QT_TRADE_STORE=postgres, on a real Redis and a PostgreSQL of the test's own: the loop's
 * fills land in the `trades` table (as many as the `order` stream's `order.filled`, after a clean stop),
 * `/trades` reads them from there, no `trades.sqlite` is made, execution's `/health` lists `postgres`
 * (DOWN while the server is SIGKILLed, the service DEGRADED, not DOWN: orders go on without it; OK once it
 * is back), `/trades` answers 503 meanwhile, and the password of DATABASE_URL never appears in the output.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import pg from 'pg';
import { TRADE_STORE_FILE } from '../../../src/exchange/sqlite-trade-store.js';
import { decodeEntry } from '../../../src/streams/codec.js';
import { createKeys } from '../../../src/streams/keys.js';
import { waitFor } from '../../support/bus.js';
import { startMain } from '../../support/main-process.js';
import { pgRig } from '../../support/pg-rig.js';

const PASSWORD = 'pw-that-must-never-be-logged';

interface Health {
  status: string;
  dependencies: Record<string, { status: string; critical: boolean; error?: string }>;
}

test('main on the PostgreSQL trade store: fills recorded there, served, in /health; the password never logged', async (t) => {
  const { redisServer, pgServer, dataDir, database, databaseUrl, prefix } = await pgRig(t, 'pg-main', PASSWORD);
  const started = await startMain(t, ['--actors=all'], {
    REDIS_URL: redisServer.url,
    QT_DATA_DIR: dataDir,
    QT_KEY_PREFIX: prefix,
    QT_FEED_TICKS_PER_SECOND: '20',
    QT_TRADE_STORE: 'postgres',
    DATABASE_URL: databaseUrl,
    QT_PG_CONNECT_TIMEOUT_MS: '500',
  });
  const base = `http://127.0.0.1:${started.port(8002)}`;
  const health = async () => {
    const res = await fetch(`${base}/health`);
    return { code: res.status, body: (await res.json()) as Health };
  };

  await waitFor(
    async () => ((await (await fetch(`${base}/trades`)).json()) as unknown[]).length >= 2,
    'two trades served by /trades',
    90_000,
  );
  t.like((await health()).body, { status: 'OK', dependencies: { postgres: { status: 'OK', critical: false } } });

  await pgServer.kill();
  const down = await health();
  t.is(down.code, 200);
  t.like(down.body, { status: 'DEGRADED', dependencies: { postgres: { status: 'DOWN', critical: false } } });
  const unavailable = await fetch(`${base}/trades`);
  t.is(unavailable.status, 503);
  t.like(await unavailable.json(), { error: 'trade store unavailable', store: 'postgres' });
  await pgServer.restart();
  await waitFor(async () => (await health()).body.dependencies.postgres?.status === 'OK', 'postgres OK again', 30_000);

  started.run.child.kill('SIGTERM');
  t.is(await started.run.exit, 0);

  const client = new pg.Client({ connectionString: database });
  await client.connect();
  const { rows } = await client.query<{ n: string }>('SELECT count(*) AS n FROM trades');
  await client.end();
  const redis = redisServer.client();
  const entries = await redis.xrange(createKeys(prefix).stream('order'), '-', '+');
  const filled = entries.map(([, f]) => decodeEntry(f)).filter((e) => e.type === 'order.filled').length;
  t.log(`${filled} order.filled in the stream, ${rows[0]?.n} rows in trades`);
  t.true(filled >= 2);
  t.is(Number(rows[0]?.n), filled);
  t.false(existsSync(join(dataDir, TRADE_STORE_FILE)));
  t.false(started.run.out().includes(PASSWORD), 'the DATABASE_URL password is in the output');
});
