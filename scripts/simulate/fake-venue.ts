/**
 * The fake Binance a simulation trades against: the REST venue
 * (scripts/fake-binance/server.ts, fills moving the balances, 418 bans
 * enforced) and the market-data WebSocket (streams.ts), driven by a seeded
 * random walk: 20 trades a second per symbol, and a closed 1 s kline every
 * second, which the REST venue also serves to the feed's back-fill. The
 * venue fills at the walk's last price, so the platform's ticks and its
 * fills agree. {@link FakeVenue.env} points `main` at it for orders
 * (`QT_EXCHANGE`), market data (`QT_FEED`) and monitoring's exchange probe.
 */
import { mulberry32 } from '../../src/actors/marketdata/synthetic-feed.js';
import { DEFAULT_BINANCE_WEIGHT_PER_MINUTE } from '../../src/exchange/binance/limits.js';
import { type FakeBinance, startFakeBinance } from '../fake-binance/server.js';
import {
  type FakeBinanceStreams,
  type FakeCandle,
  klineMessage,
  klineRow,
  startFakeStreams,
  tradeMessage,
} from '../fake-binance/streams.js';

/** The symbols the venue lists, with their start prices. */
export const VENUE_SYMBOLS: Readonly<Record<string, number>> = { BTCUSDT: 65_000, ETHUSDT: 3_200 };
/** The request weight Binance allows an IP per minute (the adapter's default budget). */
export const WEIGHT_LIMIT = DEFAULT_BINANCE_WEIGHT_PER_MINUTE;
/** What the account holds at the start. */
export const VENUE_BALANCES = { USDT: { free: 100_000, locked: 0 } };
const TICK_MS = 50;
const CANDLE_MS = 1_000;
/** Relative standard deviation of one step of the walk. */
const STEP = 0.0002;
/** Candles kept for the back-fill (per symbol: an hour of 1 s candles). */
const KEPT_CANDLES = 3_600;

/** A running fake venue and its market. */
export interface FakeVenue {
  readonly rest: FakeBinance;
  readonly streams: FakeBinanceStreams;
  /** The environment that points `main` at the venue. */
  env(): Record<string, string>;
  /** The walk's last price of a symbol. */
  price(symbol: string): number;
  /** Stops (true) or restarts the walk: the price stays where it is. */
  freeze(frozen: boolean): void;
  /** Cuts every stream connection and sends nothing for `ms` (a network blip): the candles meanwhile are missed. */
  interrupt(ms: number): void;
  /**
   * For `ms`, keeps each minute's weight at least {@link WEIGHT_LIMIT} −
   * `headroom`, as if other clients of the IP had spent it (the platform
   * learns it from the usage header); resolves with the minutes so held.
   */
  holdWeightNearLimit(ms: number, headroom: number): Promise<number>;
  stop(): Promise<void>;
}

/** Starts the venue and its market on loopback. */
export async function startFakeVenue(seed = 7): Promise<FakeVenue> {
  // Seeded, so every run walks the same path.
  const random = mulberry32(seed);
  const prices = new Map(Object.entries(VENUE_SYMBOLS));
  const history = new Map<string, FakeCandle[]>([...prices.keys()].map((s) => [s, []]));
  const forming = new Map<string, FakeCandle>();
  const rest = await startFakeBinance({
    prices: Object.fromEntries(prices),
    balances: VENUE_BALANCES,
    settle: true,
    enforceBans: true,
    klines: (q) =>
      (history.get(q.symbol) ?? [])
        .filter((c) => q.interval === '1s' && (q.startTime ?? 0) <= c.openTime && c.openTime <= (q.endTime ?? Infinity))
        .slice(0, q.limit)
        .map(klineRow),
  });
  const streams = await startFakeStreams();
  let frozen = false;
  let pausedUntil = 0;
  let tradeId = 1;
  const live = () => Date.now() >= pausedUntil;

  const step = () => {
    const now = Date.now();
    for (const [symbol, last] of prices) {
      // Box-Muller: a normal step, so the walk has no drift and rarely jumps.
      const normal = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
      const price = frozen ? last : Math.round(last * (1 + STEP * normal) * 100) / 100;
      prices.set(symbol, price);
      rest.setPrice(symbol, price);
      const qty = Math.round((0.01 + random() * 0.09) * 1e4) / 1e4;
      closeCandle(symbol, now);
      const openTime = now - (now % CANDLE_MS);
      const c = forming.get(symbol);
      forming.set(
        symbol,
        c === undefined
          ? {
              symbol,
              interval: '1s',
              openTime,
              intervalMs: CANDLE_MS,
              open: price,
              high: price,
              low: price,
              close: price,
              volume: qty,
            }
          : { ...c, high: Math.max(c.high, price), low: Math.min(c.low, price), close: price, volume: c.volume + qty },
      );
      if (live()) streams.broadcast(tradeMessage(symbol, tradeId, price, qty, now));
      tradeId++;
    }
  };
  /** Closes the forming candle of `symbol` once `now` is past it: kept for REST, sent on the stream when live. */
  const closeCandle = (symbol: string, now: number) => {
    const c = forming.get(symbol);
    if (c === undefined || now < c.openTime + CANDLE_MS) return;
    forming.delete(symbol);
    const kept = history.get(symbol) ?? [];
    kept.push(c);
    if (kept.length > KEPT_CANDLES) kept.shift();
    if (live()) streams.broadcast(klineMessage(c, true));
  };
  const timer = setInterval(step, TICK_MS);

  return {
    rest,
    streams,
    env: () => ({
      QT_EXCHANGE: 'binance-testnet',
      BINANCE_BASE_URL: rest.url,
      BINANCE_API_KEY: rest.apiKey,
      BINANCE_API_SECRET: rest.apiSecret,
      QT_FEED: 'binance-testnet',
      QT_FEED_BINANCE_SYMBOLS: [...prices.keys()].join(','),
      QT_FEED_BINANCE_INTERVALS: '1s',
      QT_FEED_BINANCE_WS_URL: streams.url,
      QT_FEED_BINANCE_REST_URL: rest.url,
      QT_FEED_BINANCE_RECONNECT_BASE_MS: '100',
      QT_FEED_BINANCE_RECONNECT_MAX_MS: '1000',
    }),
    price: (symbol) => prices.get(symbol) ?? Number.NaN,
    freeze: (on) => {
      frozen = on;
    },
    interrupt: (ms) => {
      pausedUntil = Date.now() + ms;
      for (const c of streams.open()) c.socket.terminate();
    },
    holdWeightNearLimit: async (ms, headroom) => {
      const minutes = new Set<number>();
      const end = Date.now() + ms;
      while (Date.now() < end) {
        const start = Date.now() - (Date.now() % 60_000);
        if (!minutes.has(start)) {
          const used = rest.weightWindows().find((w) => w.start === start)?.weight ?? 0;
          rest.setUsedWeight(Math.max(used, WEIGHT_LIMIT - headroom));
          minutes.add(start);
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      return minutes.size;
    },
    stop: async () => {
      clearInterval(timer);
      await streams.close();
      await rest.close();
    },
  };
}
