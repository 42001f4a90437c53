/**
 * What the PgBouncer tests (test/infra/pgbouncer*.pg.test.ts) open and write
 * through it: a PostgreSQL trade store at a URL, a plain client, and venue
 * answers to record.
 */
import pg from 'pg';
import { DEFAULT_PG_CONNECT_TIMEOUT_MS, DEFAULT_PG_IDLE_TIMEOUT_MS } from '../../src/config/trade-store.js';
import type { VenueOrder } from '../../src/exchange/adapter.js';
import { PostgresTradeStore } from '../../src/exchange/pg-trade-store.js';
import type { Logger } from '../../src/log.js';

/** A trade store on `databaseUrl` (its migrations on `migrationUrl` when given), 4 connections unless told. */
export function storeAt(
  databaseUrl: string,
  more: { readonly poolMax?: number; readonly migrationUrl?: string; readonly log?: Logger } = {},
): PostgresTradeStore {
  return new PostgresTradeStore({
    poolMax: 4,
    ...more,
    databaseUrl,
    connectTimeoutMs: DEFAULT_PG_CONNECT_TIMEOUT_MS,
    idleTimeoutMs: DEFAULT_PG_IDLE_TIMEOUT_MS,
    queryTimeoutMs: 10_000,
  });
}

/** A connected client; its connection errors are the test's to see through its calls, not the process's. */
export async function client(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => {});
  await c.connect();
  return c;
}

/** The venue's answer for order `i`: filled in two trades, on one of two symbols. */
export function answer(i: number): VenueOrder {
  return {
    venue: 'paper',
    venueOrderId: `v-${i}`,
    clientOrderId: `c-${String(i).padStart(4, '0')}`,
    symbol: i % 2 === 0 ? 'BTCUSDT' : 'ETHUSDT',
    side: i % 3 === 0 ? 'sell' : 'buy',
    type: 'limit',
    status: 'filled',
    quantity: 0.5,
    price: 60_000 + i,
    executedQuantity: 0.5,
    averagePrice: 60_000 + i + 0.25,
    fills: [1, 2].map((k) => ({
      tradeId: `t-${i}-${k}`,
      price: 60_000 + i + k / 10,
      quantity: 0.25,
      fee: 0.015,
      feeAsset: 'USDT',
    })),
  };
}
