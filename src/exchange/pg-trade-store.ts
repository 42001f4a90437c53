/**
 * The PostgreSQL trade store (`QT_TRADE_STORE=postgres`; contract in
 * trade-store.ts): orders in `orders`, fills in `trades`, through a `pg` Pool
 * sized and timed by the QT_PG_* settings. {@link PostgresTradeStore.open}
 * applies the migrations (pg-migrations.ts), on a connection of their own to
 * `migrationUrl` when it is not `databaseUrl` (a direct one, when
 * `databaseUrl` is PgBouncer: their session advisory lock needs one session).
 * A fill already stored is skipped (`ON CONFLICT DO NOTHING` on venue and
 * trade id); an order is upserted by client order id, as in SQLite. Both URLs are only ever logged redacted.
 */
import pg from 'pg';
import type { PostgresStoreConfig } from '../config/trade-store.js';
import { type Logger, redactUrl, silentLogger } from '../log.js';
import type { VenueOrder } from './adapter.js';
import { migrate } from './pg-migrations.js';
import { orderRow, type StoredOrder, type StoredTrade, type TradeStore } from './trade-store.js';

/** BIGINT (epoch ms, counts) read as numbers: every value the store writes is a safe integer. */
const INT8_OID = 20;
const types = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === INT8_OID ? Number : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

const UPSERT_ORDER = `
  INSERT INTO orders (client_order_id, venue, venue_order_id, symbol, side, type, quantity, price, status,
    executed_qty, average_price, purpose, created_at, updated_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)
  ON CONFLICT (client_order_id) DO UPDATE SET venue_order_id = excluded.venue_order_id, status = excluded.status,
    executed_qty = excluded.executed_qty, average_price = excluded.average_price, updated_at = excluded.updated_at`;

const INSERT_TRADE = `
  INSERT INTO trades (venue, trade_id, client_order_id, symbol, side, price, quantity, fee, fee_asset, recorded_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
  ON CONFLICT (venue, trade_id) DO NOTHING`;

/** Settings of {@link PostgresTradeStore}. */
export interface PostgresTradeStoreOptions extends Omit<PostgresStoreConfig, 'retry' | 'migrationUrl'> {
  /** Where the migrations connect (one client, ended after); default the pool's `databaseUrl`. */
  readonly migrationUrl?: string;
  readonly log?: Logger;
  /** What the server shows for these connections (`pg_stat_activity`); default `qt-execution`. */
  readonly applicationName?: string;
}

/**
 * How one connection of the store is made: the URL, the connect and query
 * timeouts, the application name, keepalive, BIGINTs as numbers. The pool
 * and `qt trades` (a single client) share it.
 */
export function pgConnectionConfig(
  options: Pick<PostgresTradeStoreOptions, 'databaseUrl' | 'connectTimeoutMs' | 'queryTimeoutMs' | 'applicationName'>,
): pg.ClientConfig {
  return {
    connectionString: options.databaseUrl,
    connectionTimeoutMillis: options.connectTimeoutMs,
    statement_timeout: options.queryTimeoutMs,
    query_timeout: options.queryTimeoutMs,
    application_name: options.applicationName ?? 'qt-execution',
    // A peer that vanished without a reset (a cut network) is noticed by the kernel, not only at the next query.
    keepAlive: true,
    types,
  };
}

/** The trade store in PostgreSQL; nothing connects until {@link open} or the first call. */
export class PostgresTradeStore implements TradeStore {
  readonly kind = 'postgres';
  readonly #pool: pg.Pool;
  readonly #log: Logger;
  /** The migrations' own connection settings; undefined: they run on a pooled connection. */
  readonly #migrationConfig: pg.ClientConfig | undefined;
  #opened: Promise<void> | undefined;
  #closed: Promise<void> | undefined;

  constructor(options: PostgresTradeStoreOptions) {
    this.#log = (options.log ?? silentLogger).child({ store: 'postgres', url: redactUrl(options.databaseUrl) });
    this.#pool = new pg.Pool({
      ...pgConnectionConfig(options),
      max: options.poolMax,
      idleTimeoutMillis: options.idleTimeoutMs,
    });
    // An idle connection that breaks (Postgres restarted) is dropped by the pool; without a listener it would crash us.
    this.#pool.on('error', (err) => this.#log.warn({ err: err.message }, 'trade store: idle connection lost'));
    const { migrationUrl } = options;
    if (migrationUrl !== undefined && migrationUrl !== options.databaseUrl) {
      this.#migrationConfig = pgConnectionConfig({ ...options, databaseUrl: migrationUrl });
      this.#log = this.#log.child({ migrationsAt: redactUrl(migrationUrl) });
    }
  }

  /** Runs `work` on a new client of the migration URL, ended after; its `error` event cannot crash us. */
  async #withMigrationClient<T>(config: pg.ClientConfig, work: (client: pg.ClientBase) => Promise<T>): Promise<T> {
    const client = new pg.Client(config);
    client.on('error', (err) => this.#log.warn({ err: err.message }, 'trade store: migration connection lost'));
    try {
      await client.connect();
      return await work(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /**
   * Runs `work` on a connection of its own. A checked-out connection that
   * breaks (the server killed mid-transaction) emits `error` besides failing
   * its query; that is caught here, and such a connection is never handed
   * out again, nor one whose rollback failed.
   */
  async #withClient<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    let broken: Error | undefined;
    const onError = (err: Error) => {
      broken = err;
    };
    client.on('error', onError);
    try {
      return await work(client);
    } catch (err) {
      // Outside a transaction ROLLBACK only warns; on a broken connection it fails, and marks it.
      if (!broken) {
        await client.query('ROLLBACK').catch((rollbackErr: Error) => {
          broken ??= rollbackErr;
        });
      }
      throw err;
    } finally {
      client.removeListener('error', onError);
      client.release(broken);
    }
  }

  /** Applies the migrations; a failed attempt is forgotten, so the next call tries again. */
  open(): Promise<void> {
    const run = async (client: pg.ClientBase) => {
      const { applied, version } = await migrate(client);
      this.#log.info({ applied, version }, 'trade store: schema ready');
    };
    const config = this.#migrationConfig;
    this.#opened ??= (config ? this.#withMigrationClient(config, run) : this.#withClient(run)).catch((err: unknown) => {
      this.#opened = undefined;
      throw err;
    });
    return this.#opened;
  }

  async record(order: VenueOrder, purpose: string, now: number): Promise<void> {
    await this.open();
    const row = orderRow(order, purpose, now);
    await this.#withClient(async (client) => {
      await client.query('BEGIN');
      await client.query(UPSERT_ORDER, [
        row.clientOrderId,
        row.venue,
        row.venueOrderId,
        row.symbol,
        row.side,
        row.type,
        row.quantity,
        row.price,
        row.status,
        row.executedQuantity,
        row.averagePrice,
        row.purpose,
        row.now,
      ]);
      for (const f of order.fills) {
        await client.query(INSERT_TRADE, [
          ...[order.venue, f.tradeId, order.clientOrderId, order.symbol, order.side],
          ...[f.price, f.quantity, f.fee, f.feeAsset, now],
        ]);
      }
      await client.query('COMMIT');
    });
  }

  async orders(limit = 100): Promise<StoredOrder[]> {
    await this.open();
    const { rows } = await this.#pool.query<StoredOrder>(
      `SELECT client_order_id AS "clientOrderId", venue, venue_order_id AS "venueOrderId", symbol, side, type, quantity,
         price, status, executed_qty AS "executedQuantity", average_price AS "averagePrice", purpose,
         created_at AS "createdAt", updated_at AS "updatedAt"
       FROM orders ORDER BY created_at DESC, client_order_id DESC LIMIT $1`,
      [limit],
    );
    return rows;
  }

  async trades(limit = 100): Promise<StoredTrade[]> {
    await this.open();
    const { rows } = await this.#pool.query<StoredTrade>(
      `SELECT venue, trade_id AS "tradeId", client_order_id AS "clientOrderId", symbol, side, price, quantity, fee,
         fee_asset AS "feeAsset", recorded_at AS "recordedAt"
       FROM trades ORDER BY recorded_at DESC, trade_id DESC LIMIT $1`,
      [limit],
    );
    return rows;
  }

  async counts(): Promise<{ orders: number; trades: number }> {
    await this.open();
    const { rows } = await this.#pool.query<{ orders: number; trades: number }>(
      'SELECT (SELECT count(*) FROM orders) AS orders, (SELECT count(*) FROM trades) AS trades',
    );
    return rows[0] ?? { orders: 0, trades: 0 };
  }

  async ping(): Promise<void> {
    await this.#pool.query('SELECT 1');
  }

  close(): Promise<void> {
    this.#closed ??= this.#pool.end();
    return this.#closed;
  }
}
