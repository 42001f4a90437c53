/**
 * The trade store as a dependency in execution's `/health` (docs/trade-store.md,
 * "Health"). The PostgreSQL store (alone or in dual mode) is listed as
 * `postgres`: DOWN when it does not answer within
 * {@link TRADE_STORE_PING_TIMEOUT_MS}, DEGRADED when it answers in more than
 * {@link TRADE_STORE_SLOW_MS} or answers while the writer's writes still fail.
 * It is not critical: orders and fills go on without it (the `order` stream
 * is their record, and the writer catches up from it), so execution is
 * DEGRADED, not DOWN, while it is away. The SQLite store is a local file: it
 * is listed (`trade_store`) only while the writer's writes to it fail.
 */
import type { TradeStore } from '../../exchange/trade-store.js';
import type { DependencyHealth } from '../../http/health.js';
import type { WriterStatus } from './trade-store-writer.js';

/** Latency above which the PostgreSQL trade store counts as slow. */
export const TRADE_STORE_SLOW_MS = 200;
/** Longest wait for the store's answer; no answer by then is DOWN. */
export const TRADE_STORE_PING_TIMEOUT_MS = 1_000;

function failingText(writer: WriterStatus): string | undefined {
  if (writer.failingSince === undefined) return undefined;
  const since = new Date(writer.failingSince).toISOString();
  return `writes failing since ${since}${writer.lastError ? ` (${writer.lastError})` : ''}; the order stream keeps them`;
}

/** Pings the store once and grades the answer with the writer's state; see the file comment. */
export async function tradeStoreHealth(
  store: TradeStore,
  writer: WriterStatus = { written: 0 },
): Promise<Record<string, DependencyHealth>> {
  const failing = failingText(writer);
  if (store.kind !== 'postgres' && store.kind !== 'dual') {
    return failing ? { trade_store: { status: 'DEGRADED', latency_ms: null, critical: false, error: failing } } : {};
  }
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      store.ping(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${TRADE_STORE_PING_TIMEOUT_MS} ms`)),
          TRADE_STORE_PING_TIMEOUT_MS,
        );
      }),
    ]);
    const latency = Math.round(performance.now() - started);
    const slow =
      latency > TRADE_STORE_SLOW_MS ? `answered in ${latency} ms (over ${TRADE_STORE_SLOW_MS} ms)` : undefined;
    const trouble = [slow, failing].filter((x) => x !== undefined);
    return {
      postgres: {
        status: trouble.length > 0 ? 'DEGRADED' : 'OK',
        latency_ms: latency,
        critical: false,
        ...(trouble.length > 0 ? { error: trouble.join('; ') } : {}),
      },
    };
  } catch (err) {
    const error = [(err as Error).message, failing].filter((x) => x !== undefined).join('; ');
    return { postgres: { status: 'DOWN', latency_ms: null, critical: false, error } };
  } finally {
    clearTimeout(timer);
  }
}
