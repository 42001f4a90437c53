/**
 * The trade store as a dependency in execution's `/health` (docs/trade-store.md,
 * "Health"): the PostgreSQL store is listed as `postgres`, critical (fills are
 * recorded there), DOWN when it does not answer within
 * {@link TRADE_STORE_PING_TIMEOUT_MS}, DEGRADED when it answers in more than
 * {@link TRADE_STORE_SLOW_MS}. The SQLite store is a local file and is not listed.
 */
import type { TradeStore } from '../../exchange/trade-store.js';
import type { DependencyHealth } from '../../http/health.js';

/** Latency above which the PostgreSQL trade store counts as slow. */
export const TRADE_STORE_SLOW_MS = 200;
/** Longest wait for the store's answer; no answer by then is DOWN. */
export const TRADE_STORE_PING_TIMEOUT_MS = 1_000;

/** Pings the store once and grades the answer; see the file comment. */
export async function tradeStoreHealth(store: TradeStore): Promise<Record<string, DependencyHealth>> {
  if (store.kind !== 'postgres') return {};
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
    const slow = latency > TRADE_STORE_SLOW_MS;
    return {
      postgres: {
        status: slow ? 'DEGRADED' : 'OK',
        latency_ms: latency,
        critical: true,
        ...(slow ? { error: `answered in ${latency} ms (over ${TRADE_STORE_SLOW_MS} ms)` } : {}),
      },
    };
  } catch (err) {
    return { postgres: { status: 'DOWN', latency_ms: null, critical: true, error: (err as Error).message } };
  } finally {
    clearTimeout(timer);
  }
}
