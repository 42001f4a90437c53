/**
 * Two trade stores side by side (docs/trade-store.md, "Moving from SQLite"):
 * each one's counts and sums (trade quantity, notional = Σ price × quantity,
 * fees per fee asset, orders' executed quantity), and every row that is in
 * one store only or differs between them. Both are walked in key order at
 * once (a merge, a page at a time), so memory does not grow with the stores,
 * and the sums are added in the same order on both sides: equal rows give
 * bit-equal sums.
 */
import type { StoredOrder, StoredTrade } from './trade-store.js';
import {
  allOrders,
  allTrades,
  compareKeys,
  compareTradeKeys,
  DEFAULT_PAGE_SIZE,
  type TradeRowSource,
} from './trade-store-rows.js';

/** A store's counts and sums. */
export interface StoreSummary {
  readonly orders: number;
  readonly trades: number;
  /** Σ trade quantity. */
  readonly quantity: number;
  /** Σ trade price × quantity. */
  readonly notional: number;
  /** Σ trade fee, per fee asset. */
  readonly fees: Readonly<Record<string, number>>;
  /** Σ order executed quantity. */
  readonly executedQuantity: number;
}

/** One row that is not the same in both stores. */
export interface RowDifference {
  readonly table: 'orders' | 'trades';
  /** The row's key: client order id, or `venue/trade id`. */
  readonly key: string;
  readonly kind: 'only_in_sqlite' | 'only_in_postgres' | 'differs';
  /** For `differs`: the fields whose values are not equal. */
  readonly fields: readonly string[];
}

/** Per table, how many rows are in one store only, and how many differ. */
export interface DifferenceCounts {
  readonly onlyInSqlite: number;
  readonly onlyInPostgres: number;
  readonly differs: number;
}

/** What {@link compareStores} found. */
export interface StoreComparison {
  readonly sqlite: StoreSummary;
  readonly postgres: StoreSummary;
  readonly orders: DifferenceCounts;
  readonly trades: DifferenceCounts;
  /** The first `listLimit` differences, orders first, each table in key order. */
  readonly differences: readonly RowDifference[];
}

class Sums {
  count = 0;
  quantity = 0;
  notional = 0;
  executed = 0;
  readonly fees: Record<string, number> = {};

  trade(t: StoredTrade): void {
    this.count++;
    this.quantity += t.quantity;
    this.notional += t.price * t.quantity;
    this.fees[t.feeAsset] = (this.fees[t.feeAsset] ?? 0) + t.fee;
  }
}

/** The fields of two rows that differ (numbers compared exactly: a store keeps the double it was given). */
function differingFields(a: object, b: object): string[] {
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  return Object.keys(left).filter((k) => !Object.is(left[k], right[k]));
}

/** Walks two key-ordered row streams at once. */
async function merge<R>(
  left: AsyncIterator<R>,
  right: AsyncIterator<R>,
  compare: (a: R, b: R) => number,
  on: { both(a: R, b: R): void; left(a: R): void; right(b: R): void },
): Promise<void> {
  let a = await left.next();
  let b = await right.next();
  while (!a.done || !b.done) {
    const order = a.done ? 1 : b.done ? -1 : compare(a.value, b.value);
    if (order === 0 && !a.done && !b.done) {
      on.both(a.value, b.value);
      a = await left.next();
      b = await right.next();
    } else if (order < 0 && !a.done) {
      on.left(a.value);
      a = await left.next();
    } else if (!b.done) {
      on.right(b.value);
      b = await right.next();
    }
  }
}

/** Compares a SQLite and a PostgreSQL store; see the file comment. */
export async function compareStores(
  sqlite: TradeRowSource,
  postgres: TradeRowSource,
  options: { readonly listLimit?: number; readonly pageSize?: number } = {},
): Promise<StoreComparison> {
  const listLimit = options.listLimit ?? 20;
  const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
  const differences: RowDifference[] = [];
  const note = (d: RowDifference) => {
    if (differences.length < listLimit) differences.push(d);
  };
  const counts = () => ({ onlyInSqlite: 0, onlyInPostgres: 0, differs: 0 });
  const orderCounts = counts();
  const tradeCounts = counts();
  const sums = { sqlite: new Sums(), postgres: new Sums(), sqliteOrders: 0, postgresOrders: 0 };

  const order = (side: 'sqlite' | 'postgres', o: StoredOrder) => {
    sums[side].executed += o.executedQuantity;
    if (side === 'sqlite') sums.sqliteOrders++;
    else sums.postgresOrders++;
  };
  await merge<StoredOrder>(
    allOrders(sqlite, pageSize),
    allOrders(postgres, pageSize),
    (x, y) => compareKeys(x.clientOrderId, y.clientOrderId),
    {
      both: (x, y) => {
        order('sqlite', x);
        order('postgres', y);
        const fields = differingFields(x, y);
        if (fields.length === 0) return;
        orderCounts.differs++;
        note({ table: 'orders', key: x.clientOrderId, kind: 'differs', fields });
      },
      left: (x) => {
        order('sqlite', x);
        orderCounts.onlyInSqlite++;
        note({ table: 'orders', key: x.clientOrderId, kind: 'only_in_sqlite', fields: [] });
      },
      right: (y) => {
        order('postgres', y);
        orderCounts.onlyInPostgres++;
        note({ table: 'orders', key: y.clientOrderId, kind: 'only_in_postgres', fields: [] });
      },
    },
  );
  const keyOf = (t: StoredTrade) => `${t.venue}/${t.tradeId}`;
  await merge<StoredTrade>(allTrades(sqlite, pageSize), allTrades(postgres, pageSize), compareTradeKeys, {
    both: (x, y) => {
      sums.sqlite.trade(x);
      sums.postgres.trade(y);
      const fields = differingFields(x, y);
      if (fields.length === 0) return;
      tradeCounts.differs++;
      note({ table: 'trades', key: keyOf(x), kind: 'differs', fields });
    },
    left: (x) => {
      sums.sqlite.trade(x);
      tradeCounts.onlyInSqlite++;
      note({ table: 'trades', key: keyOf(x), kind: 'only_in_sqlite', fields: [] });
    },
    right: (y) => {
      sums.postgres.trade(y);
      tradeCounts.onlyInPostgres++;
      note({ table: 'trades', key: keyOf(y), kind: 'only_in_postgres', fields: [] });
    },
  });
  const summary = (s: Sums, orders: number): StoreSummary => ({
    orders,
    trades: s.count,
    quantity: s.quantity,
    notional: s.notional,
    fees: s.fees,
    executedQuantity: s.executed,
  });
  return {
    sqlite: summary(sums.sqlite, sums.sqliteOrders),
    postgres: summary(sums.postgres, sums.postgresOrders),
    orders: orderCounts,
    trades: tradeCounts,
    differences,
  };
}

/** Whether every row of the SQLite store is in PostgreSQL unchanged (what a migration must achieve). */
export function sqliteContained(c: StoreComparison): boolean {
  return c.orders.onlyInSqlite + c.orders.differs + c.trades.onlyInSqlite + c.trades.differs === 0;
}

/** Whether both stores hold exactly the same rows. */
export function storesEqual(c: StoreComparison): boolean {
  return sqliteContained(c) && c.orders.onlyInPostgres + c.trades.onlyInPostgres === 0;
}
