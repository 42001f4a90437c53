/**
 * The live Binance feed (`QT_FEED=binance` / `binance-testnet`), a
 * {@link MarketFeed}: one combined-stream WebSocket carries a kline stream
 * per symbol and interval and a tick stream per symbol (trades, or book
 * tickers as mid prices). Ticks are queued as they arrive and handed over by
 * `next(now)`; closed klines (`x: true`) go through the {@link CandleBook},
 * which back-fills what a disconnect missed from REST and drops what arrives
 * twice, and come out of `takeCandles()` once each. Every message is
 * validated; a malformed one is logged and counted, never fatal.
 * docs/live-feed.md describes the behaviour and the settings.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { type Backoff, backoffDelay } from '../../backoff.js';
import type { Config } from '../../config/load.js';
import { VenueError } from '../../exchange/adapter.js';
import { BINANCE_MAINNET_URL, BINANCE_TESTNET_URL } from '../../exchange/binance/endpoints.js';
import { type Logger, silentLogger } from '../../log.js';
import type { Keys } from '../../streams/keys.js';
import { createKlinesBackfill, type FetchGap } from './binance-backfill.js';
import { CandleBook, type CandleGap } from './binance-candles.js';
import {
  type BinanceMessage,
  type BinanceTickStream,
  combinedStreamUrl,
  klineIntervalMs,
  parseStreamMessage,
  streamNames,
} from './binance-messages.js';
import { BinanceStream } from './binance-stream.js';
import type { FeedCandle, FeedStatus, MarketFeed, Tick } from './feed.js';

/** Binance spot's market-stream WebSocket base URL. */
export const BINANCE_STREAM_URL = 'wss://stream.binance.com:9443';
/** Binance spot testnet's market-stream WebSocket base URL. */
export const BINANCE_TESTNET_STREAM_URL = 'wss://stream.testnet.binance.vision';

/** Ticks kept while nobody takes them (the service polls every 50 ms); beyond it the oldest are dropped and counted. */
export const DEFAULT_MAX_QUEUED_TICKS = 100_000;
/** Times a back-fill that lacks the gap's last candle (Binance's database a moment behind) is asked again before it is taken as it is. */
const INCOMPLETE_BACKFILL_RETRIES = 3;
/** Malformed messages logged one by one before only every {@link MALFORMED_LOG_EVERY}-th is. */
const MALFORMED_LOGGED = 10;
const MALFORMED_LOG_EVERY = 1_000;

/** Options of {@link createBinanceFeed}. */
export interface BinanceFeedOptions {
  readonly source: 'binance' | 'binance-testnet';
  readonly symbols: readonly string[];
  readonly intervals: readonly string[];
  readonly ticks: BinanceTickStream;
  /** Base URL of the streams, e.g. {@link BINANCE_STREAM_URL}; `/stream?streams=…` is appended. */
  readonly wsUrl: string;
  readonly fetchGap: FetchGap;
  readonly renewAfterMs: number;
  readonly staleAfterMs: number;
  readonly reconnect: Backoff;
  readonly random?: () => number;
  readonly log?: Logger;
  readonly now?: () => number;
  readonly maxQueuedTicks?: number;
  /** Runs on `close()` after the socket closed (the REST client's close). */
  readonly onClose?: () => void;
}

/** See the file comment. Connects when created; `close()` stops it for good. */
export class BinanceFeed implements MarketFeed {
  readonly done = false;
  readonly #o: BinanceFeedOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #symbols: ReadonlySet<string>;
  readonly #intervals: ReadonlySet<string>;
  readonly #stream: BinanceStream;
  readonly #book = new CandleBook(klineIntervalMs);
  readonly #closing = new AbortController();
  readonly #backfills = new Set<Promise<void>>();
  #ticks: Tick[] = [];
  /** Per symbol, the id of the last trade or book update queued: ids only grow, so an older or equal one is a duplicate. */
  readonly #lastIds = new Map<string, number>();
  #malformed = 0;
  #duplicateTicks = 0;
  #droppedTicks = 0;
  #backfillFailures = 0;
  #closed: Promise<void> | undefined;

  constructor(options: BinanceFeedOptions) {
    this.#o = options;
    this.#log = options.log ?? silentLogger;
    this.#now = options.now ?? Date.now;
    this.#symbols = new Set(options.symbols);
    this.#intervals = new Set(options.intervals);
    const url = combinedStreamUrl(options.wsUrl, streamNames(options.symbols, options.intervals, options.ticks));
    this.#stream = new BinanceStream({
      url,
      renewAfterMs: options.renewAfterMs,
      staleAfterMs: options.staleAfterMs,
      backoff: options.reconnect,
      random: options.random,
      log: this.#log,
      now: this.#now,
      onMessage: (text, receivedAt) => this.#onMessage(text, receivedAt),
    });
    this.#stream.start();
  }

  /** Every tick queued since the previous call, in time order (a live feed hands over what has arrived). */
  next(_now: number): Tick[] {
    const out = this.#ticks;
    this.#ticks = [];
    return out.sort((a, b) => a.at - b.at);
  }

  takeCandles(): FeedCandle[] {
    return this.#book.take();
  }

  status(): FeedStatus {
    const stream = this.#stream.counts;
    const book = this.#book.counts();
    return {
      source: this.#o.source,
      symbols: [...this.#symbols].sort(),
      connection: stream.state,
      details: {
        ticks: this.#o.ticks,
        intervals: [...this.#intervals],
        reconnects: stream.reconnects,
        renewals: stream.renewals,
        pingsAnswered: stream.pingsAnswered,
        backfilledCandles: book.backfilled,
        backfillsPending: book.gapsPending,
        backfillFailures: this.#backfillFailures,
        duplicateCandlesDropped: book.duplicatesDropped,
        duplicateTicksDropped: this.#duplicateTicks,
        malformedMessages: this.#malformed,
        ticksDropped: this.#droppedTicks,
      },
    };
  }

  /** Closes the socket, stops reconnecting and back-filling. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#closing.abort();
      await this.#stream.close();
      this.#o.onClose?.();
      await Promise.allSettled([...this.#backfills]);
    })();
    return this.#closed;
  }

  #onMessage(text: string, receivedAt: number): void {
    const m = parseStreamMessage(text, receivedAt);
    const problem = this.#unexpected(m);
    if (problem !== undefined) {
      this.#reject(problem, text);
      return;
    }
    if (m.kind === 'malformed') return;
    if (m.kind === 'kline') {
      const gap = this.#book.observe(m.candle, m.closed);
      if (gap) this.#startBackfill(gap);
      return;
    }
    const symbol = m.tick.symbol;
    const id = m.kind === 'trade' ? m.tradeId : m.updateId;
    const last = this.#lastIds.get(symbol);
    if (last !== undefined && id <= last) {
      this.#duplicateTicks++;
      return;
    }
    this.#lastIds.set(symbol, id);
    this.#ticks.push(m.tick);
    const max = this.#o.maxQueuedTicks ?? DEFAULT_MAX_QUEUED_TICKS;
    if (this.#ticks.length > max) {
      this.#ticks.shift();
      this.#droppedTicks++;
    }
  }

  /** Why a message cannot be used (malformed, or for a symbol or interval not subscribed), if it cannot. */
  #unexpected(m: BinanceMessage): string | undefined {
    if (m.kind === 'malformed') return m.reason;
    const symbol = m.kind === 'kline' ? m.candle.symbol : m.tick.symbol;
    if (!this.#symbols.has(symbol)) return `symbol ${symbol} not subscribed`;
    if (m.kind === 'kline' && !this.#intervals.has(m.candle.interval))
      return `interval ${m.candle.interval} not subscribed`;
    return undefined;
  }

  #reject(reason: string, text: string): void {
    this.#malformed++;
    if (this.#malformed <= MALFORMED_LOGGED || this.#malformed % MALFORMED_LOG_EVERY === 0) {
      this.#log.warn({ reason, message: text.slice(0, 200), malformed: this.#malformed }, 'binance message ignored');
    }
  }

  #startBackfill(gap: CandleGap): void {
    const run = this.#backfill(gap).finally(() => this.#backfills.delete(run));
    this.#backfills.add(run);
  }

  /** Fetches `gap` until it succeeds or the feed closes; held live candles wait behind it. */
  async #backfill(gap: CandleGap): Promise<void> {
    const range = { symbol: gap.symbol, interval: gap.interval, from: gap.fromOpenTime, to: gap.toOpenTime };
    let failures = 0;
    let incomplete = 0;
    while (!this.#closing.signal.aborted) {
      let waitMs: number;
      try {
        const candles = await this.#o.fetchGap(gap);
        const complete = candles.some((c) => c.openTime === gap.toOpenTime);
        if (complete || incomplete >= INCOMPLETE_BACKFILL_RETRIES) {
          this.#book.fill(gap, candles);
          this.#log.info({ ...range, candles: candles.length, complete }, 'binance candles back-filled');
          return;
        }
        incomplete++;
        waitMs = backoffDelay(this.#o.reconnect, incomplete, this.#o.random);
      } catch (err) {
        if (this.#closing.signal.aborted) return;
        failures++;
        this.#backfillFailures++;
        waitMs = backoffDelay(this.#o.reconnect, failures, this.#o.random);
        if (err instanceof VenueError && err.retryAt !== undefined)
          waitMs = Math.max(waitMs, err.retryAt - this.#now());
        this.#log.warn(
          { ...range, err: (err as Error).message, attempt: failures, waitMs },
          'binance back-fill failed',
        );
      }
      await delay(waitMs, undefined, { signal: this.#closing.signal }).catch(() => undefined);
    }
  }
}

/** What {@link openBinanceFeed} needs besides the config: the shared Binance budget lives in Redis. */
export interface BinanceFeedDeps {
  readonly redis: Redis;
  readonly keys: Keys;
  readonly log: Logger;
}

/** The configured live feed: URLs default to the source's (mainnet or testnet); back-fill on the venue's shared budget. */
export function openBinanceFeed(config: Config, deps: BinanceFeedDeps): BinanceFeed {
  const source = config.feed.source === 'binance-testnet' ? 'binance-testnet' : 'binance';
  const b = config.feed.binance;
  const log = deps.log.child({ feed: source });
  const backfill = createKlinesBackfill({
    restUrl: b.restUrl ?? (source === 'binance' ? BINANCE_MAINNET_URL : BINANCE_TESTNET_URL),
    venue: source,
    redis: deps.redis,
    keys: deps.keys,
    log,
  });
  return new BinanceFeed({
    source,
    symbols: b.symbols,
    intervals: b.intervals,
    ticks: b.ticks,
    wsUrl: b.wsUrl ?? (source === 'binance' ? BINANCE_STREAM_URL : BINANCE_TESTNET_STREAM_URL),
    fetchGap: backfill.fetchGap,
    renewAfterMs: b.renewAfterMs,
    staleAfterMs: b.staleAfterMs,
    reconnect: { baseMs: b.reconnectBaseMs, maxMs: b.reconnectMaxMs, jitter: 'equal' },
    log,
    onClose: () => backfill.close(),
  });
}
