/** The trade store contract (trade-store-contract.ts) on the SQLite store, each test on a file of its own. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteTradeStore } from '../../src/exchange/sqlite-trade-store.js';
import { tradeStoreContract } from './trade-store-contract.js';

tradeStoreContract('sqlite', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'qt-trade-store-'));
  const path = join(dir, 'trades.sqlite');
  let current = new SqliteTradeStore(path);
  await current.open();
  t.teardown(async () => {
    await current.close();
    await rm(dir, { recursive: true, force: true });
  });
  return {
    store: current,
    reopen: async () => {
      await current.close();
      current = new SqliteTradeStore(path);
      return current;
    },
  };
});
