import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { Config } from '../config/load.js';
import type { Logger } from '../log.js';
import type { Keys } from '../streams/keys.js';
import type { ExchangeAdapter } from './adapter.js';
import { createBinanceAdapter } from './binance/binance-adapter.js';
import { BINANCE_MAINNET_URL, BINANCE_TESTNET_URL } from './binance/endpoints.js';
import { DualTradeStore } from './dual-trade-store.js';
import { PaperExchange } from './paper-exchange.js';
import { PostgresTradeStore } from './pg-trade-store.js';
import { SqliteTradeStore, TRADE_STORE_FILE } from './sqlite-trade-store.js';
import type { TradeStore } from './trade-store.js';

/** The paper account's file name under the data directory. */
export const PAPER_EXCHANGE_FILE = 'paper-exchange.sqlite';

/** What a venue may need besides its settings. */
export interface VenueDeps {
  readonly redis: Redis;
  readonly keys: Keys;
  readonly log: Logger;
  /** The paper account's clock (order and fill times, epoch ms); default `Date.now`. */
  readonly now?: () => number;
}

/**
 * The configured venue (`QT_EXCHANGE`), as a factory of the latest-price
 * function: the paper exchange fills against it, a real venue ignores it.
 */
export function venueFromConfig(
  config: Config,
  deps: VenueDeps,
): (priceOf: (symbol: string) => number | undefined) => ExchangeAdapter {
  const { exchange } = config;
  switch (exchange.venue) {
    case 'paper':
      return (priceOf) =>
        new PaperExchange({
          path: join(config.dataDir, PAPER_EXCHANGE_FILE),
          priceOf,
          feeRate: exchange.paper.feeRate,
          slippageBps: exchange.paper.slippageBps,
          startingBalances: exchange.paper.balances,
          ...(deps.now ? { now: deps.now } : {}),
        });
    case 'binance':
    case 'binance-testnet': {
      const venue = exchange.venue;
      // The config rules require both credentials for a Binance venue.
      const apiKey = exchange.apiKey ?? '';
      const apiSecret = exchange.apiSecret ?? '';
      return () =>
        createBinanceAdapter({
          baseUrl: exchange.baseUrl ?? (venue === 'binance' ? BINANCE_MAINNET_URL : BINANCE_TESTNET_URL),
          apiKey,
          apiSecret,
          venue,
          redis: deps.redis,
          keys: deps.keys,
          log: deps.log,
        });
    }
  }
}

/** The configured trade store (`QT_TRADE_STORE`): SQLite under the data directory, PostgreSQL, or both. */
export function tradeStoreFromConfig(config: Config, deps: { readonly log: Logger }): TradeStore {
  const store = config.tradeStore;
  const sqlite = () => new SqliteTradeStore(join(config.dataDir, TRADE_STORE_FILE));
  switch (store.kind) {
    case 'sqlite':
      return sqlite();
    case 'postgres':
      return new PostgresTradeStore({ ...store.postgres, log: deps.log });
    case 'dual':
      return new DualTradeStore({
        sqlite: sqlite(),
        postgres: new PostgresTradeStore({ ...store.postgres, log: deps.log }),
        readFrom: store.readFrom,
      });
  }
}
