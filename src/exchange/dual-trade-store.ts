/**
 * Both trade stores at once (`QT_TRADE_STORE=dual`, docs/trade-store.md): the
 * mode of a move from SQLite to PostgreSQL. Every write goes to both, SQLite
 * first; reads come from the one `QT_TRADE_STORE_READ_FROM` names. A write
 * that fails on either store fails as a whole and is tried again by the
 * trade-store writer; the store that had taken it takes it again unchanged
 * (the writes are idempotent), so a retry leaves both stores equal.
 */
import type { VenueOrder } from './adapter.js';
import type { StoredOrder, StoredTrade, TradeStore } from './trade-store.js';

/** Writes both stores, reads one. */
export class DualTradeStore implements TradeStore {
  readonly kind = 'dual';
  readonly sqlite: TradeStore;
  readonly postgres: TradeStore;
  readonly readFrom: 'sqlite' | 'postgres';
  #closed: Promise<void> | undefined;

  constructor(options: { sqlite: TradeStore; postgres: TradeStore; readFrom: 'sqlite' | 'postgres' }) {
    this.sqlite = options.sqlite;
    this.postgres = options.postgres;
    this.readFrom = options.readFrom;
  }

  get #reads(): TradeStore {
    return this.readFrom === 'sqlite' ? this.sqlite : this.postgres;
  }

  async open(): Promise<void> {
    await this.sqlite.open();
    await this.postgres.open();
  }

  async record(order: VenueOrder, purpose: string, now: number): Promise<void> {
    await this.sqlite.record(order, purpose, now);
    await this.postgres.record(order, purpose, now);
  }

  orders(limit?: number): Promise<StoredOrder[]> {
    return this.#reads.orders(limit);
  }

  trades(limit?: number): Promise<StoredTrade[]> {
    return this.#reads.trades(limit);
  }

  counts(): Promise<{ orders: number; trades: number }> {
    return this.#reads.counts();
  }

  /** PostgreSQL's answer: the SQLite file is local and always answers. */
  ping(): Promise<void> {
    return this.postgres.ping();
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      const results = await Promise.allSettled([this.sqlite.close(), this.postgres.close()]);
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
    })();
    return this.#closed;
  }
}
