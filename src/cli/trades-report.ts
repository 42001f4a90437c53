/**
 * What `qt trades migrate` and `qt trades verify` print (docs/cli.md,
 * "qt trades"): the `--json` schemas, and the table of both stores' counts
 * and sums with the rows that differ. Nothing here names a password: the
 * database is shown as `host:port/database`.
 */
import { z } from 'zod';
import type { StoreComparison, StoreSummary } from '../exchange/trade-store-compare.js';
import { type Column, type Output, renderTable } from './output.js';

const SummarySchema = z.object({
  orders: z.number().int().nonnegative(),
  trades: z.number().int().nonnegative(),
  quantity: z.number(),
  notional: z.number(),
  fees: z.record(z.string(), z.number()),
  executedQuantity: z.number(),
});

const CountsSchema = z.object({
  onlyInSqlite: z.number().int().nonnegative(),
  onlyInPostgres: z.number().int().nonnegative(),
  differs: z.number().int().nonnegative(),
});

/** Both stores' counts and sums, and what differs. */
export const ComparisonSchema = z.object({
  sqlite: SummarySchema,
  postgres: SummarySchema,
  orders: CountsSchema,
  trades: CountsSchema,
  /** The first 20 differences: `table`, `key` (client order id, or `venue/trade id`), `kind`, `fields`. */
  differences: z
    .array(
      z.object({
        table: z.enum(['orders', 'trades']),
        key: z.string(),
        kind: z.enum(['only_in_sqlite', 'only_in_postgres', 'differs']),
        fields: z.array(z.string()).readonly(),
      }),
    )
    .readonly(),
});

/** `qt trades migrate --json`. */
export const TradesMigrateOutputSchema = z.object({
  from: z.string(),
  /** `host:port/database`. */
  database: z.string(),
  /** How long it waited for another `qt trades migrate` on the same database, ms. */
  waitedMs: z.number().int().nonnegative(),
  copied: z.object({
    orders: z.object({ read: z.number(), inserted: z.number(), updated: z.number() }),
    trades: z.object({ read: z.number(), inserted: z.number() }),
  }),
  comparison: ComparisonSchema,
  /** Every row of the file is in PostgreSQL, unchanged (exit 0); else exit 1. */
  verified: z.boolean(),
});
export type TradesMigrateOutput = z.infer<typeof TradesMigrateOutputSchema>;

/** `qt trades verify --json`. */
export const TradesVerifyOutputSchema = z.object({
  sqlite: z.string(),
  database: z.string(),
  comparison: ComparisonSchema,
  /** Both stores hold the same rows (exit 0); else exit 1. */
  equal: z.boolean(),
});
export type TradesVerifyOutput = z.infer<typeof TradesVerifyOutputSchema>;

/** A sum as people read it: up to 8 decimals, no trailing zeros. */
function amount(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Number(n.toFixed(8)));
}

function fees(s: StoreSummary): string {
  const assets = Object.keys(s.fees).sort();
  return assets.length === 0 ? '-' : assets.map((a) => `${amount(s.fees[a] ?? 0)} ${a}`).join(', ');
}

/** The two stores side by side, then each difference. */
export function renderComparison(output: Output, c: StoreComparison, labels: { sqlite: string; postgres: string }) {
  type Row = { store: string; s: StoreSummary };
  const columns: Column<Row>[] = [
    { header: 'STORE', value: (r) => r.store },
    { header: 'ORDERS', value: (r) => r.s.orders, right: true },
    { header: 'TRADES', value: (r) => r.s.trades, right: true },
    { header: 'QUANTITY', value: (r) => amount(r.s.quantity), right: true },
    { header: 'NOTIONAL', value: (r) => amount(r.s.notional), right: true },
    { header: 'FEES', value: (r) => fees(r.s) },
  ];
  const rows: Row[] = [
    { store: 'sqlite', s: c.sqlite },
    { store: 'postgres', s: c.postgres },
  ];
  output.out(`sqlite:   ${labels.sqlite}\npostgres: ${labels.postgres}`);
  output.out(renderTable(output, columns, rows).trimEnd());
  for (const [table, n] of [
    ['orders', c.orders],
    ['trades', c.trades],
  ] as const) {
    if (n.onlyInSqlite + n.onlyInPostgres + n.differs === 0) continue;
    output.out(`${table}: ${n.onlyInSqlite} only in sqlite, ${n.onlyInPostgres} only in postgres, ${n.differs} differ`);
  }
  for (const d of c.differences) {
    const what = d.kind === 'differs' ? `differs in ${d.fields.join(', ')}` : d.kind.replaceAll('_', ' ');
    output.out(`  ${d.table} ${d.key}: ${what}`);
  }
  const total = c.orders.onlyInSqlite + c.orders.onlyInPostgres + c.orders.differs;
  const totalTrades = c.trades.onlyInSqlite + c.trades.onlyInPostgres + c.trades.differs;
  if (total + totalTrades > c.differences.length) {
    output.out(`  … ${total + totalTrades - c.differences.length} more (the first ${c.differences.length} shown)`);
  }
}
