/**
 * The PostgreSQL trade store in execution's /health (src/actors/execution/trade-store-health.ts), against a
 * real server of the test's own: OK when it answers, DEGRADED when it answers late (the server SIGSTOPped
 * for 600 ms) or while the writer's writes fail, DOWN when it is SIGKILLed, OK again once restarted; never
 * critical (orders go on without it). The SQLite store is listed only while writes to it fail.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import {
  TRADE_STORE_PING_TIMEOUT_MS,
  TRADE_STORE_SLOW_MS,
  tradeStoreHealth,
} from '../../../src/actors/execution/trade-store-health.js';
import { PostgresTradeStore } from '../../../src/exchange/pg-trade-store.js';
import { SqliteTradeStore } from '../../../src/exchange/sqlite-trade-store.js';
import { startPostgres } from '../../support/pg-fixture.js';

test('postgres in /health: OK, DEGRADED when slow, DOWN when gone, OK when back', async (t) => {
  const server = await startPostgres({ name: 'store-health' });
  const store = new PostgresTradeStore({
    databaseUrl: server.url,
    poolMax: 2,
    connectTimeoutMs: 500,
    idleTimeoutMs: 30_000,
    queryTimeoutMs: 5_000,
  });
  t.teardown(async () => {
    server.resume();
    await store.close();
    await server.stop();
  });
  await store.open();

  const ok = await tradeStoreHealth(store);
  t.like(ok, { postgres: { status: 'OK', critical: false } });
  t.true((ok.postgres?.latency_ms ?? Infinity) <= TRADE_STORE_SLOW_MS);

  server.pause();
  const slow = tradeStoreHealth(store);
  await sleep(600);
  server.resume();
  const degraded = await slow;
  t.like(degraded, { postgres: { status: 'DEGRADED', critical: false } });
  t.true((degraded.postgres?.latency_ms ?? 0) > TRADE_STORE_SLOW_MS);
  t.regex(degraded.postgres?.error ?? '', /answered in \d+ ms \(over 200 ms\)/);

  server.pause();
  const unanswered = await tradeStoreHealth(store);
  server.resume();
  t.deepEqual(unanswered, {
    postgres: {
      status: 'DOWN',
      latency_ms: null,
      critical: false,
      error: `no answer within ${TRADE_STORE_PING_TIMEOUT_MS} ms`,
    },
  });

  await server.kill();
  const down = await tradeStoreHealth(store);
  t.like(down, { postgres: { status: 'DOWN', latency_ms: null, critical: false } });
  t.truthy(down.postgres?.error);

  const failing = {
    written: 3,
    failingSince: Date.parse('2026-01-02T03:04:05.000Z'),
    lastError: 'connect ECONNREFUSED',
  };
  const downAndFailing = await tradeStoreHealth(store, failing);
  t.regex(
    downAndFailing.postgres?.error ?? '',
    /; writes failing since 2026-01-02T03:04:05.000Z \(connect ECONNREFUSED\); the order stream keeps them$/,
  );

  await server.restart();
  t.like(await tradeStoreHealth(store), { postgres: { status: 'OK' } });
  // Answering, but the writer has not yet got a write through: DEGRADED, with why.
  const catchingUp = await tradeStoreHealth(store, failing);
  t.like(catchingUp, { postgres: { status: 'DEGRADED', critical: false } });
  t.regex(catchingUp.postgres?.error ?? '', /^writes failing since /);
});

test('the SQLite store is not a dependency of /health', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'qt-store-health-'));
  const store = new SqliteTradeStore(join(dir, 'trades.sqlite'));
  t.teardown(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  t.deepEqual(await tradeStoreHealth(store), {});
  t.deepEqual(await tradeStoreHealth(store, { written: 1, failingSince: 0, lastError: 'SQLITE_FULL' }), {
    trade_store: {
      status: 'DEGRADED',
      latency_ms: null,
      critical: false,
      error: 'writes failing since 1970-01-01T00:00:00.000Z (SQLITE_FULL); the order stream keeps them',
    },
  });
});
