/**
 * CSV replay (docs/market-data.md, docs/architecture.md §11.1): candles of
 * one or more symbols, already parsed into columns (csv-parse.ts), replayed
 * as ticks — four per candle, along the path a candle most plausibly took —
 * merged across symbols in time order, with candle time compressed by
 * `speed` (at `max` speed the replay keeps the file's own times: the caller
 * asks for the next instant with `nextAt()` as soon as the pipeline is ready
 * for it). Each candle also comes out of `takeCandles()` once it has closed.
 * A candle lasts its interval, so a gap in the file is a gap in the replay,
 * and a zero-volume (maintenance) bar replays as ticks of volume 0. Pure: no
 * I/O, no clock.
 */
import { z } from 'zod';
import { QtError } from '../../errors.js';
import { commonDifference, intervalName } from './csv-detect.js';
import type { Candle, CandleSeries } from './csv-parse.js';
import type { FeedCandle, FeedStatus, MarketFeed, Tick } from './feed.js';

// The CSV replay's one entry point for its users (runtime, sample-data script, tests).
export { OHLCV_HEADER } from './csv-detect.js';
export { OhlcvCsvError } from './csv-error.js';
export { type Candle, parseOhlcvCsv } from './csv-parse.js';

/** Candle length assumed when a file has a single candle and states none. */
export const DEFAULT_CANDLE_INTERVAL_MS = 60_000;
/** Default replay speed: 1 = real time, 60 = a minute of candles per second. */
export const DEFAULT_REPLAY_SPEED = 1;

/** Options of a replay. */
export const CsvFeedOptionsSchema = z.object({
  /** Epoch ms at which the first candle's open is replayed (ignored at `max` speed). */
  startAt: z.number().int().nonnegative(),
  /** Replay speed-up: candle time / replay time; `max`: replay time is candle time, paced by the caller. */
  speed: z.union([z.literal('max'), z.number().positive().finite()]).default(DEFAULT_REPLAY_SPEED),
  /** The candles' interval, for {@link createCsvFeed} (else the most common gap between opens, or 1 minute). */
  intervalMs: z.number().int().positive().optional(),
});
export type CsvFeedOptions = z.input<typeof CsvFeedOptionsSchema>;

/** A CSV replay: a finite {@link MarketFeed} with candles and a status. */
export interface CsvFeed extends MarketFeed {
  /** Candles closed since the previous call, in close-time order (ties by symbol), each once. */
  takeCandles(): FeedCandle[];
  status(): FeedStatus;
  /**
   * The replay time of the next thing due (a tick, or the close of a candle
   * whose ticks are all out); undefined when nothing is left. `next(nextAt())`
   * always makes progress.
   */
  nextAt(): number | undefined;
}

/** One symbol's replay position: ticks go 4 per candle, candles close after their ticks. */
interface Cursor {
  readonly series: CandleSeries;
  readonly interval: string;
  /** Index of the next tick: candle `tick >> 2`, phase `tick & 3`. */
  tick: number;
  /** Candles closed so far. */
  closed: number;
}

/**
 * Replays `series` (one per symbol) from `startAt`: replay time is
 * `startAt + (candle time − earliest open) / speed`, floored to whole ms.
 * A candle's ticks come at 0, ¼, ½ and ¾ of its duration with a quarter of
 * its volume each (bullish O→L→H→C, bearish O→H→L→C); its duration is its
 * interval, or less when the next candle opens sooner. `done` turns true
 * once every tick has been returned and every candle has closed (the last
 * ones are then waiting in `takeCandles()`).
 */
export function replayCandleSeries(series: readonly CandleSeries[], options: CsvFeedOptions): CsvFeed {
  const o = CsvFeedOptionsSchema.parse(options);
  const cursors: Cursor[] = [...series]
    .sort((a, b) => (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0))
    .map((s) => {
      const interval = intervalName(s.intervalMs);
      if (interval === undefined) {
        throw new QtError(
          'QT_FEED_INVALID',
          `${s.symbol}: interval ${s.intervalMs} ms is not a whole number of seconds`,
        );
      }
      return { series: s, interval, tick: 0, closed: 0 };
    });
  const origin = Math.min(...series.filter((s) => s.length > 0).map((s) => s.openTime[0] as number));
  const speed = o.speed;
  const replayTime = speed === 'max' ? Math.floor : (t: number) => o.startAt + Math.floor((t - origin) / speed);
  const durationOf = (s: CandleSeries, i: number) =>
    i + 1 < s.length ? Math.min(s.intervalMs, (s.openTime[i + 1] as number) - (s.openTime[i] as number)) : s.intervalMs;
  const tickTime = (c: Cursor) => {
    const i = c.tick >> 2;
    return replayTime((c.series.openTime[i] as number) + (durationOf(c.series, i) * (c.tick & 3)) / 4);
  };
  const closeTime = (c: Cursor) => replayTime((c.series.openTime[c.closed] as number) + durationOf(c.series, c.closed));
  // Replay time of each cursor's next tick (Infinity when it has none left), kept so a merge step is one scan.
  const nextAt = new Float64Array(cursors.length).map((_, k) =>
    cursors[k]!.series.length > 0 ? tickTime(cursors[k]!) : Infinity,
  );
  let pending: (FeedCandle & { readonly closesAt: number; readonly order: number })[] = [];
  let lastCandleTime: number | undefined;

  const tickOf = (c: Cursor, at: number): Tick => {
    const s = c.series;
    const i = c.tick >> 2;
    const open = s.open[i] as number;
    const close = s.close[i] as number;
    const phase = c.tick & 3;
    const up = close >= open;
    const price =
      phase === 0 ? open : phase === 3 ? close : (phase === 1) === up ? (s.low[i] as number) : (s.high[i] as number);
    return { symbol: s.symbol, price, volume: (s.volume[i] as number) / 4, at };
  };

  const closeCandles = (now: number) => {
    const batch: typeof pending = [];
    cursors.forEach((c, order) => {
      const s = c.series;
      while (c.closed < s.length && c.closed < c.tick >> 2 && closeTime(c) <= now) {
        const i = c.closed++;
        const candle = {
          symbol: s.symbol,
          interval: c.interval,
          openTime: s.openTime[i] as number,
          open: s.open[i] as number,
          high: s.high[i] as number,
          low: s.low[i] as number,
          close: s.close[i] as number,
          volume: s.volume[i] as number,
        };
        batch.push({ ...candle, closesAt: candle.openTime + durationOf(s, i), order });
      }
    });
    batch.sort((a, b) => a.closesAt - b.closesAt || a.order - b.order);
    pending = pending.concat(batch);
  };

  const total = series.reduce((n, s) => n + s.length, 0);
  return {
    get done() {
      return cursors.every((c) => c.closed === c.series.length);
    },
    next(now: number): Tick[] {
      const out: Tick[] = [];
      for (;;) {
        let k = -1;
        for (let j = 0; j < nextAt.length; j++) if (nextAt[j]! <= now && (k < 0 || nextAt[j]! < nextAt[k]!)) k = j;
        if (k < 0) break;
        const c = cursors[k]!;
        out.push(tickOf(c, nextAt[k]!));
        lastCandleTime =
          (c.series.openTime[c.tick >> 2] as number) + (durationOf(c.series, c.tick >> 2) * (c.tick & 3)) / 4;
        c.tick++;
        nextAt[k] = c.tick < c.series.length * 4 ? tickTime(c) : Infinity;
      }
      closeCandles(now);
      return out;
    },
    nextAt(): number | undefined {
      let at = Infinity;
      for (let k = 0; k < cursors.length; k++) {
        const c = cursors[k]!;
        at = Math.min(at, nextAt[k]!);
        if (c.closed < c.series.length && c.closed < c.tick >> 2) at = Math.min(at, closeTime(c));
      }
      return at === Infinity ? undefined : at;
    },
    takeCandles(): FeedCandle[] {
      const out = pending.map(({ closesAt: _, order: __, ...candle }) => candle);
      pending = [];
      return out;
    },
    status(): FeedStatus {
      return {
        source: 'csv',
        symbols: cursors.map((c) => c.series.symbol),
        connection: 'n/a',
        candles: { replayed: cursors.reduce((n, c) => n + c.closed, 0), total },
        details: {
          speed: o.speed,
          intervals: Object.fromEntries(cursors.map((c) => [c.series.symbol, c.interval])),
          files: Object.fromEntries(cursors.map((c) => [c.series.symbol, c.series.files])),
          replayedUntil: lastCandleTime === undefined ? null : new Date(lastCandleTime).toISOString(),
        },
      };
    },
  };
}

/**
 * Replays in-memory candles (any symbols, each symbol's in strictly
 * increasing `openTime` order) with {@link replayCandleSeries}; the interval
 * is `options.intervalMs`, else the most common gap between a symbol's
 * opens, else {@link DEFAULT_CANDLE_INTERVAL_MS}.
 */
export function createCsvFeed(candles: readonly Candle[], options: CsvFeedOptions): CsvFeed {
  const bySymbol = new Map<string, Candle[]>();
  for (const c of candles) {
    const list = bySymbol.get(c.symbol);
    if (list === undefined) bySymbol.set(c.symbol, [c]);
    else list.push(c);
  }
  const series = [...bySymbol].map(([symbol, list]): CandleSeries => {
    const column = (f: 'openTime' | 'open' | 'high' | 'low' | 'close' | 'volume') =>
      Float64Array.from(list, (c) => c[f]);
    const openTime = column('openTime');
    for (let i = 1; i < list.length; i++) {
      if (openTime[i]! <= openTime[i - 1]!) {
        throw new QtError(
          'QT_FEED_INVALID',
          `createCsvFeed: ${symbol} candle ${i} does not open after candle ${i - 1}`,
        );
      }
    }
    const intervalMs = options.intervalMs ?? commonDifference(openTime, list.length) ?? DEFAULT_CANDLE_INTERVAL_MS;
    const [open, high, low, close, volume] = (['open', 'high', 'low', 'close', 'volume'] as const).map(column);
    return {
      symbol,
      intervalMs,
      files: [],
      length: list.length,
      openTime,
      open: open!,
      high: high!,
      low: low!,
      close: close!,
      volume: volume!,
    };
  });
  return replayCandleSeries(series, options);
}
