/**
 * Back-fill of the candles the live Binance feed missed, from REST `GET
 * /api/v3/klines` (weight 2, unsigned). The call goes through the execution
 * side's {@link BinanceRestClient} and its {@link SharedLimits}: Binance
 * counts weight per IP, so the feed spends from the same Redis-shared budget
 * (`keys.venueLimits(venue)`) as the orders, and honours the same 429 holds
 * and 418 bans.
 */
import type { Redis } from 'ioredis';
import type { BinanceEndpoint } from '../../exchange/binance/endpoints.js';
import {
  DEFAULT_BINANCE_BAN_MS,
  DEFAULT_BINANCE_ORDERS_PER_10S,
  DEFAULT_BINANCE_ORDERS_PER_DAY,
  DEFAULT_BINANCE_WEIGHT_PER_MINUTE,
  SharedLimits,
} from '../../exchange/binance/limits.js';
import { BinanceRestClient } from '../../exchange/binance/rest-client.js';
import {
  DEFAULT_BINANCE_BACKOFF_BASE_MS,
  DEFAULT_BINANCE_BACKOFF_MAX_MS,
  DEFAULT_BINANCE_MAX_ATTEMPTS,
  DEFAULT_BINANCE_MAX_WAIT_MS,
  DEFAULT_BINANCE_RECV_WINDOW_MS,
  DEFAULT_BINANCE_TIMEOUT_MS,
} from '../../exchange/binance/settings.js';
import type { Logger } from '../../log.js';
import type { Keys } from '../../streams/keys.js';
import type { CandleGap } from './binance-candles.js';
import { candlesFromRows, KlineRowsSchema, klineIntervalMs } from './binance-messages.js';
import type { FeedCandle } from './feed.js';

/** `GET /api/v3/klines`: Binance documents weight 2 for any `limit`. */
export const KLINES_ENDPOINT = {
  method: 'GET',
  path: '/api/v3/klines',
  signed: false,
  weight: 2,
  placesOrder: false,
  idempotent: true,
} as const satisfies BinanceEndpoint;

/** Binance's largest `limit` of one klines call; a longer gap takes several pages. */
export const KLINES_PAGE_LIMIT = 1000;

/** Fetches the candles of one gap; rejects when Binance (or the shared budget) refuses. */
export type FetchGap = (gap: CandleGap) => Promise<FeedCandle[]>;

/** Options of {@link createKlinesBackfill}. */
export interface KlinesBackfillOptions {
  readonly restUrl: string;
  /** The limits hash of this venue (`binance`, `binance-testnet`): the one the execution adapter of the same venue spends from. */
  readonly venue: string;
  readonly redis: Redis;
  readonly keys: Keys;
  readonly log: Logger;
  readonly now?: () => number;
}

/** The back-fill: {@link FetchGap} plus the close of its REST client. */
export interface KlinesBackfill {
  readonly fetchGap: FetchGap;
  close(): void;
}

/** A REST client for the unsigned klines call, on the venue's shared budget. */
export function createKlinesBackfill(options: KlinesBackfillOptions): KlinesBackfill {
  const now = options.now ?? Date.now;
  const limits = new SharedLimits({
    redis: options.redis,
    key: options.keys.venueLimits(options.venue),
    limits: {
      weightPerMinute: DEFAULT_BINANCE_WEIGHT_PER_MINUTE,
      ordersPer10s: DEFAULT_BINANCE_ORDERS_PER_10S,
      ordersPerDay: DEFAULT_BINANCE_ORDERS_PER_DAY,
    },
    now,
  });
  const client = new BinanceRestClient({
    baseUrl: options.restUrl,
    // The klines call is unsigned: no key is sent and none is needed.
    apiKey: '',
    apiSecret: '',
    recvWindow: DEFAULT_BINANCE_RECV_WINDOW_MS,
    timeoutMs: DEFAULT_BINANCE_TIMEOUT_MS,
    maxAttempts: DEFAULT_BINANCE_MAX_ATTEMPTS,
    maxWaitMs: DEFAULT_BINANCE_MAX_WAIT_MS,
    backoffBaseMs: DEFAULT_BINANCE_BACKOFF_BASE_MS,
    backoffMaxMs: DEFAULT_BINANCE_BACKOFF_MAX_MS,
    defaultBanMs: DEFAULT_BINANCE_BAN_MS,
    limits,
    now,
    sleep: undefined,
    random: Math.random,
    log: options.log.child({ venue: options.venue, part: 'feed-backfill' }),
  });
  return { fetchGap: (gap) => fetchGap(client, gap), close: () => client.close() };
}

/** Pages through `[fromOpenTime, toOpenTime]` until Binance returns a short page or the gap's end. */
async function fetchGap(client: BinanceRestClient, gap: CandleGap): Promise<FeedCandle[]> {
  const out: FeedCandle[] = [];
  let start = gap.fromOpenTime;
  for (;;) {
    const rows = await client.call(
      KLINES_ENDPOINT,
      {
        symbol: gap.symbol,
        interval: gap.interval,
        startTime: start,
        // The close time of the gap's last candle: right whether Binance compares it with open or close times.
        endTime: gap.toOpenTime + klineIntervalMs(gap.interval) - 1,
        limit: KLINES_PAGE_LIMIT,
      },
      KlineRowsSchema,
    );
    const page = candlesFromRows(rows, gap.symbol, gap.interval);
    out.push(...page);
    const last = page.at(-1);
    if (page.length < KLINES_PAGE_LIMIT || last === undefined || last.openTime >= gap.toOpenTime) return out;
    start = last.openTime + 1;
  }
}
