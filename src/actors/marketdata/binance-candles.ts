/**
 * The candle book of the live Binance feed: turns the kline messages of one
 * or more connections, plus what REST back-fills, into one stream of closed
 * candles per symbol and interval with no hole and no duplicate. Pure: no
 * I/O, no clock; the feed asks it what to back-fill and hands the answers
 * back.
 *
 * Per symbol and interval it keeps a *frontier*: every candle that opened
 * before it is either emitted, queued, or inside a gap being back-filled.
 * The first kline ever seen sets it (that candle is the first the feed
 * carries). A kline that opens after the frontier means candles were missed
 * (the connection was down, or Binance skipped a close): the range from the
 * frontier up to that kline's open becomes a gap to back-fill. Every candle
 * in a gap has closed, since a later one has opened, so no clock is needed
 * to tell closed candles from open ones.
 *
 * Closed candles and gaps are queued in order; the queue is emitted up to
 * the first gap still unanswered, so back-filled candles come out before the
 * live ones that followed them. A candle whose open time is not after the
 * last emitted one (a re-sent close after a reconnect, both connections of a
 * renewal) is dropped and counted.
 */
import type { FeedCandle } from './feed.js';

/** Candles missed for one symbol and interval: open times `fromOpenTime` … `toOpenTime` inclusive. */
export interface CandleGap {
  readonly id: number;
  readonly symbol: string;
  readonly interval: string;
  readonly fromOpenTime: number;
  readonly toOpenTime: number;
}

type Entry = { readonly candle: FeedCandle } | { readonly gap: CandleGap; answer?: readonly FeedCandle[] };

interface Line {
  readonly intervalMs: number;
  frontier: number;
  /** Open time of the last emitted candle; -Infinity before the first. */
  lastEmitted: number;
  readonly queue: Entry[];
}

/** Counters for the feed's status. */
export interface CandleBookCounts {
  readonly backfilled: number;
  readonly duplicatesDropped: number;
  readonly gapsPending: number;
}

/** See the file comment. */
export class CandleBook {
  readonly #intervalMs: (interval: string) => number;
  readonly #lines = new Map<string, Line>();
  #out: FeedCandle[] = [];
  #nextGapId = 1;
  #backfilled = 0;
  #duplicates = 0;

  /** @param intervalMs the length of an interval label in ms. */
  constructor(intervalMs: (interval: string) => number) {
    this.#intervalMs = intervalMs;
  }

  /**
   * Takes one kline message (the candle as it stands, closed or not) and
   * returns the gap it reveals, if any; the caller back-fills it and calls
   * {@link fill}.
   */
  observe(candle: FeedCandle, closed: boolean): CandleGap | undefined {
    const key = `${candle.symbol}|${candle.interval}`;
    let line = this.#lines.get(key);
    if (line === undefined) {
      line = {
        intervalMs: this.#intervalMs(candle.interval),
        frontier: candle.openTime,
        lastEmitted: -Infinity,
        queue: [],
      };
      this.#lines.set(key, line);
    }
    let gap: CandleGap | undefined;
    if (candle.openTime > line.frontier) {
      gap = {
        id: this.#nextGapId++,
        symbol: candle.symbol,
        interval: candle.interval,
        fromOpenTime: line.frontier,
        toOpenTime: candle.openTime - line.intervalMs,
      };
      line.queue.push({ gap });
      line.frontier = candle.openTime;
    }
    if (closed) {
      if (candle.openTime <= line.lastEmitted || this.#queued(line, candle.openTime)) this.#duplicates++;
      else line.queue.push({ candle });
      line.frontier = Math.max(line.frontier, candle.openTime + line.intervalMs);
    }
    this.#flush(line);
    return gap;
  }

  /** Hands over what REST returned for `gap` (any order, any extra rows outside the gap are ignored). */
  fill(gap: CandleGap, candles: readonly FeedCandle[]): void {
    const line = this.#lines.get(`${gap.symbol}|${gap.interval}`);
    const entry = line?.queue.find((e): e is Extract<Entry, { gap: CandleGap }> => 'gap' in e && e.gap.id === gap.id);
    if (line === undefined || entry === undefined) return;
    entry.answer = candles
      .filter((c) => c.openTime >= gap.fromOpenTime && c.openTime <= gap.toOpenTime)
      .sort((a, b) => a.openTime - b.openTime);
    this.#flush(line);
  }

  /** Closed candles emitted since the previous call, per symbol and interval in open-time order; the batch sorted by open time. */
  take(): FeedCandle[] {
    const out = this.#out;
    this.#out = [];
    return out.sort((a, b) => a.openTime - b.openTime);
  }

  counts(): CandleBookCounts {
    let gapsPending = 0;
    for (const line of this.#lines.values()) gapsPending += line.queue.filter((e) => 'gap' in e).length;
    return { backfilled: this.#backfilled, duplicatesDropped: this.#duplicates, gapsPending };
  }

  /** True when a closed candle with this open time already waits in the queue. */
  #queued(line: Line, openTime: number): boolean {
    return line.queue.some((e) => 'candle' in e && e.candle.openTime === openTime);
  }

  #flush(line: Line): void {
    while (line.queue.length > 0) {
      const head = line.queue[0] as Entry;
      if ('gap' in head) {
        if (head.answer === undefined) return;
        for (const c of head.answer) {
          if (this.#emit(line, c)) this.#backfilled++;
        }
      } else if (!this.#emit(line, head.candle)) {
        this.#duplicates++;
      }
      line.queue.shift();
    }
  }

  #emit(line: Line, candle: FeedCandle): boolean {
    if (candle.openTime <= line.lastEmitted) return false;
    line.lastEmitted = candle.openTime;
    this.#out.push(candle);
    return true;
  }
}
