/**
 * `qt trades migrate --from FILE` and `qt trades verify` (docs/cli.md,
 * "qt trades"; docs/trade-store.md, "Moving from SQLite"): copy a SQLite
 * trade store into the PostgreSQL one of DATABASE_URL, idempotently, then
 * check that every row of the file is there unchanged; compare the two
 * stores (counts, sums, the rows that differ). Expected failures are one
 * line and an exit code: 2 bad usage or no DATABASE_URL, 5 a file that is
 * missing or not a trade store, 7 PostgreSQL unreachable, 1 the stores
 * differ. `migrate` holds session advisory locks (the schema's, the copy's)
 * and one transaction, so it connects to QT_PG_MIGRATION_URL (direct, not
 * through PgBouncer; DATABASE_URL when unset); `verify` to DATABASE_URL. The
 * database is only ever shown as `host:port/database`.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import pg from 'pg';
import { databaseLabel } from '../config/trade-store.js';
import { isQtError } from '../errors.js';
import { migrate } from '../exchange/pg-migrations.js';
import { copyIntoPostgres, PostgresRowSource } from '../exchange/pg-trade-copy.js';
import { pgConnectionConfig } from '../exchange/pg-trade-store.js';
import { SqliteTradeFile } from '../exchange/sqlite-trade-file.js';
import { TRADE_STORE_FILE } from '../exchange/sqlite-trade-store.js';
import { compareStores, sqliteContained, storesEqual } from '../exchange/trade-store-compare.js';
import type { CliContext } from './context.js';
import { countOption } from './duration.js';
import { CliError, EXIT } from './exit-codes.js';
import { printJson } from './output.js';
import { renderComparison, TradesMigrateOutputSchema, TradesVerifyOutputSchema } from './trades-report.js';

/** Rows per INSERT of the copy, and per page of a comparison. */
export const DEFAULT_MIGRATE_BATCH = 1_000;

/** A store's refusal as qt's exit: not a trade store (or a bad row) 5, a newer schema 1; else unchanged. */
function storeError(err: unknown): unknown {
  if (isQtError(err, 'QT_STORE_INVALID')) return new CliError(EXIT.NOT_FOUND, err.message, { cause: err });
  if (isQtError(err, 'QT_STORE_INCOMPATIBLE')) return new CliError(EXIT.REFUSED, err.message, { cause: err });
  return err;
}

/** Opens the SQLite file; exit 5 when it is missing or not a trade store. */
function openFile(path: string): SqliteTradeFile {
  if (!existsSync(path)) throw new CliError(EXIT.NOT_FOUND, `${path}: no such file`);
  try {
    return SqliteTradeFile.open(path);
  } catch (err) {
    throw storeError(err);
  }
}

/**
 * Runs `work` on one connection to the database of DATABASE_URL (`session`:
 * of QT_PG_MIGRATION_URL, for work that needs one session); PostgreSQL's
 * failures become exit codes.
 */
async function withPostgres<T>(
  ctx: CliContext,
  use: 'pooled' | 'session',
  work: (client: pg.Client, label: string) => Promise<T>,
): Promise<T> {
  const settings = ctx.postgresSettings();
  const databaseUrl = use === 'session' ? settings.migrationUrl : settings.databaseUrl;
  const label = databaseLabel(databaseUrl);
  const client = new pg.Client(pgConnectionConfig({ ...settings, databaseUrl, applicationName: 'qt-cli' }));
  // A connection that breaks fails the query in hand; the event itself must not crash qt.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw new CliError(EXIT.STORE_UNREACHABLE, `cannot reach PostgreSQL at ${label}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  try {
    return await work(client, label);
  } catch (err) {
    if (err instanceof CliError || isQtError(err)) throw storeError(err);
    const code = (err as { code?: unknown }).code;
    if (code === '42P01') {
      throw new CliError(EXIT.NOT_FOUND, `PostgreSQL at ${label} has no trade store (no table orders or trades)`);
    }
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !code.startsWith('08') && !code.startsWith('57')) {
      throw err;
    }
    throw new CliError(EXIT.STORE_UNREACHABLE, `lost PostgreSQL at ${label}: ${(err as Error).message}`, {
      cause: err,
    });
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Registers `qt trades`. */
export function registerTrades(program: Command, context: () => CliContext): void {
  const trades = program
    .command('trades')
    .description('the trade store: copy a SQLite store into PostgreSQL (DATABASE_URL), compare the two');

  trades
    .command('migrate')
    .description('copy a SQLite trade store into PostgreSQL (idempotent), then verify counts, sums and rows')
    .requiredOption('--from <file>', 'the SQLite trade store to copy (e.g. $QT_DATA_DIR/trades.sqlite)')
    .option('--batch <n>', 'rows per INSERT', countOption, DEFAULT_MIGRATE_BATCH)
    .action(async (options: { from: string; batch: number }) => {
      const ctx = context();
      const file = openFile(options.from);
      try {
        await withPostgres(ctx, 'session', async (client, label) => {
          await migrate(client);
          const copied = await copyIntoPostgres(file, client, {
            batch: options.batch,
            onWait: () => ctx.output.err(`qt: another qt trades migrate holds ${label}; waiting for it`),
          });
          const comparison = await compareStores(file, new PostgresRowSource(client, label), {
            pageSize: options.batch,
          });
          const verified = sqliteContained(comparison);
          if (ctx.output.json) {
            const out = {
              from: options.from,
              database: label,
              waitedMs: copied.waitedMs,
              copied,
              comparison,
              verified,
            };
            printJson(ctx.output, TradesMigrateOutputSchema, out);
          } else {
            const { orders, trades: t } = copied;
            ctx.output.out(`copied ${options.from} into ${label}`);
            ctx.output.out(
              `orders: ${orders.read} read, ${orders.inserted} new, ${orders.updated} updated; ` +
                `trades: ${t.read} read, ${t.inserted} new`,
            );
            renderComparison(ctx.output, comparison, { sqlite: options.from, postgres: label });
            if (verified) ctx.output.out('verified: every row of the file is in PostgreSQL, unchanged');
          }
          if (!verified) {
            ctx.output.err(`qt: rows of ${options.from} are not in ${label} as in the file (listed above)`);
            process.exitCode = EXIT.REFUSED;
          }
        });
      } finally {
        file.close();
      }
    });

  trades
    .command('verify')
    .description('compare the SQLite and the PostgreSQL trade store: counts, sums and the rows that differ')
    .option('--sqlite <file>', 'the SQLite trade store (default: $QT_DATA_DIR/trades.sqlite)')
    .action(async (options: { sqlite?: string }) => {
      const ctx = context();
      const path = options.sqlite ?? join(ctx.config.dataDir, TRADE_STORE_FILE);
      const file = openFile(path);
      try {
        await withPostgres(ctx, 'pooled', async (client, label) => {
          const comparison = await compareStores(file, new PostgresRowSource(client, label));
          const equal = storesEqual(comparison);
          if (ctx.output.json) {
            printJson(ctx.output, TradesVerifyOutputSchema, { sqlite: path, database: label, comparison, equal });
          } else {
            renderComparison(ctx.output, comparison, { sqlite: path, postgres: label });
            if (equal) ctx.output.out('equal: both stores hold the same rows');
          }
          if (!equal) {
            ctx.output.err(`qt: ${path} and ${label} differ (listed above)`);
            process.exitCode = EXIT.REFUSED;
          }
        });
      } finally {
        file.close();
      }
    });
}
