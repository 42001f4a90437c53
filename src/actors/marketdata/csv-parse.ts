/**
 * The market-data CSV parser (docs/market-data.md): text in, in chunks as a
 * stream reads it, candles out in columns (`Float64Array`s, six numbers a
 * candle instead of an object each), so a year of 1-minute candles parses
 * in well under a second and takes about 25 MB. The format is detected from
 * the first line (csv-detect.ts); every row is checked by hand (no zod per
 * row: it is the hot path), and the first bad one throws an
 * {@link OhlcvCsvError} naming file, line, column and why. LF or CRLF, a BOM,
 * blank lines and a missing final newline are all fine.
 */
import { QtError } from '../../errors.js';
import { type CsvLayout, detectLayout } from './csv-detect.js';
import { OhlcvCsvError } from './csv-error.js';
import { epochToMs, parseTimeCell, TIME_FORMATS } from './csv-time.js';

/** One OHLCV candle; `openTime` is epoch ms. */
export interface Candle {
  readonly symbol: string;
  readonly openTime: number;
  readonly open: number;
  readonly high: number;
  readonly low: number;
  readonly close: number;
  readonly volume: number;
}

/** Candles in columns, in strictly increasing open-time order (epoch ms). */
export interface CandleColumns {
  readonly length: number;
  readonly openTime: Float64Array;
  readonly open: Float64Array;
  readonly high: Float64Array;
  readonly low: Float64Array;
  readonly close: Float64Array;
  readonly volume: Float64Array;
}

/** One parsed file. */
export interface ParsedCsv extends CandleColumns {
  readonly file: string;
  readonly format: CsvLayout['format'];
  /** The interval the file states (Binance close time − open time + 1 ms), if it states one. */
  readonly statedIntervalMs: number | undefined;
  /** Line numbers (1-based) of the first and last candle, 0 when there is none. */
  readonly firstLine: number;
  readonly lastLine: number;
  /** The time column (1-based) and its name, for messages about the file's times. */
  readonly timeColumn: { readonly index: number; readonly name: string };
}

/** One symbol's candles from all its files, in time order, with the interval they share. */
export interface CandleSeries extends CandleColumns {
  readonly symbol: string;
  readonly intervalMs: number;
  /** The files they came from, in time order (none when built in memory). */
  readonly files: readonly string[];
}

const SYMBOL = /^[A-Z0-9]{2,20}$/;

/** Throws QT_FEED_INVALID unless `symbol` is like `BTCUSDT` (the catalog's pattern). */
export function checkSymbol(symbol: string, where: string): void {
  if (!SYMBOL.test(symbol)) {
    throw new QtError('QT_FEED_INVALID', `${where}: symbol ${JSON.stringify(symbol)} must be like BTCUSDT`);
  }
}

const FIELDS = ['openTime', 'open', 'high', 'low', 'close', 'volume'] as const;
const INITIAL_CAPACITY = 1024;
/** Head-room over the estimated row count, so a file whose rows grow a little longer needs no second copy. */
const ESTIMATE_MARGIN = 1.05;
/** A result at least this full keeps its arrays (a view) instead of copying them to the exact length. */
const KEEP_IF_FULL = 0.9;
const QUOTE = 34;

/**
 * Parses one CSV file fed in chunks of text (`push`, then `end`). Sync and
 * pure; the caller does the reading (csv-source.ts streams a file into it).
 */
export class CsvParser {
  readonly #file: string;
  #layout: CsvLayout | undefined;
  #rest = '';
  #lineNo = 0;
  #started = false;
  #length = 0;
  #columns: Record<(typeof FIELDS)[number], Float64Array>;
  #statedIntervalMs: number | undefined;
  #firstLine = 0;
  #lastLine = 0;
  // Cell boundaries of the row in hand, reused for every row.
  #starts = new Int32Array(64);
  #ends = new Int32Array(64);
  #text = '';
  /** The file's size in characters, if known: sizes the columns once instead of doubling them. */
  readonly #expectedChars: number | undefined;
  /** Characters of the lines parsed so far, for the estimate. */
  #charsParsed = 0;

  /** `expectedChars` is the input's size when known (a file's byte size is close enough). */
  constructor(file: string, expectedChars?: number) {
    this.#file = file;
    this.#expectedChars = expectedChars;
    this.#columns = Object.fromEntries(FIELDS.map((f) => [f, new Float64Array(INITIAL_CAPACITY)])) as never;
  }

  /** Parses every whole line of `chunk` (after what was left of the previous one). */
  push(chunk: string): void {
    let text = this.#rest + chunk;
    if (!this.#started && text.length > 0) {
      this.#started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    let from = 0;
    for (let nl = text.indexOf('\n', from); nl >= 0; nl = text.indexOf('\n', from)) {
      this.#line(text, from, nl);
      from = nl + 1;
    }
    this.#rest = text.slice(from);
  }

  /** Parses the last line (one without a final newline) and returns the file's candles. */
  end(): ParsedCsv {
    if (this.#rest.length > 0) this.#line(this.#rest, 0, this.#rest.length);
    this.#rest = '';
    if (this.#layout === undefined) throw new OhlcvCsvError({ file: this.#file, line: 1 }, 'empty file');
    const n = this.#length;
    const c = this.#columns;
    const exact = (a: Float64Array) => (n >= a.length * KEEP_IF_FULL ? a.subarray(0, n) : a.slice(0, n));
    return {
      file: this.#file,
      format: this.#layout.format,
      statedIntervalMs: this.#statedIntervalMs,
      firstLine: this.#firstLine,
      lastLine: this.#lastLine,
      timeColumn: { index: this.#layout.time + 1, name: this.#layout.names[this.#layout.time] ?? 'time' },
      length: n,
      openTime: exact(c.openTime),
      open: exact(c.open),
      high: exact(c.high),
      low: exact(c.low),
      close: exact(c.close),
      volume: exact(c.volume),
    };
  }

  #line(text: string, from: number, newline: number): void {
    this.#lineNo++;
    this.#charsParsed += newline - from + 1;
    const end = newline > from && text.charCodeAt(newline - 1) === 13 ? newline - 1 : newline;
    if (end === from || (text.charCodeAt(from) <= 32 && text.slice(from, end).trim() === '')) return;
    const layout = this.#layout;
    if (layout === undefined) {
      this.#layout = detectLayout(text.slice(from, end).split(','), this.#file, this.#lineNo);
      if (this.#layout.header) return;
      this.#row(this.#layout, text, from, end);
      return;
    }
    this.#row(layout, text, from, end);
  }

  #fail(layout: CsvLayout, cell: number, reason: string): never {
    const name = layout.names[cell] ?? `column ${cell + 1}`;
    throw new OhlcvCsvError({ file: this.#file, line: this.#lineNo, column: { index: cell + 1, name } }, reason);
  }

  /** The text of cell `i` of the row in hand, without surrounding double quotes. */
  #cell(i: number): string {
    let s = this.#starts[i] as number;
    let e = this.#ends[i] as number;
    if (e - s >= 2 && this.#text.charCodeAt(s) === QUOTE && this.#text.charCodeAt(e - 1) === QUOTE) {
      s++;
      e--;
    }
    return this.#text.slice(s, e);
  }

  #number(layout: CsvLayout, i: number): number {
    const cell = this.#cell(i);
    const v = Number(cell);
    if (Number.isNaN(v) || (v === 0 && cell.trim() === '')) {
      this.#fail(layout, i, cell.trim() === '' ? 'empty' : `${JSON.stringify(cell)} is not a number`);
    }
    if (!Number.isFinite(v)) this.#fail(layout, i, `${JSON.stringify(cell)} is not finite`);
    return v;
  }

  #price(layout: CsvLayout, i: number): number {
    const v = this.#number(layout, i);
    if (!(v > 0)) this.#fail(layout, i, `${v} is not a price (must be > 0)`);
    return v;
  }

  #row(layout: CsvLayout, text: string, from: number, end: number): void {
    // Find the cells up to the last one needed; the rest of the row is never looked at.
    this.#text = text;
    const last = layout.lastNeeded;
    if (last >= this.#starts.length) {
      this.#starts = new Int32Array(last + 1);
      this.#ends = new Int32Array(last + 1);
    }
    let cells = 0;
    for (let s = from; cells <= last; ) {
      let comma = text.indexOf(',', s);
      if (comma < 0 || comma > end) comma = end;
      this.#starts[cells] = s;
      this.#ends[cells] = comma;
      cells++;
      if (comma === end) break;
      s = comma + 1;
    }
    if (cells <= last) {
      const wanted = [layout.time, layout.open, layout.high, layout.low, layout.close, layout.volume, layout.closeTime];
      this.#fail(layout, Math.min(...wanted.filter((i) => i >= cells)), `missing (the row has ${cells} columns)`);
    }
    const timeCell = this.#cell(layout.time);
    const openTime = parseTimeCell(timeCell);
    if (Number.isNaN(openTime))
      this.#fail(layout, layout.time, `${JSON.stringify(timeCell)} is not a time (${TIME_FORMATS})`);
    const open = this.#price(layout, layout.open);
    const high = this.#price(layout, layout.high);
    const low = this.#price(layout, layout.low);
    const close = this.#price(layout, layout.close);
    const volume = this.#number(layout, layout.volume);
    if (!(volume >= 0)) this.#fail(layout, layout.volume, `${volume} is negative`);
    if (low > Math.min(open, close))
      this.#fail(layout, layout.low, `low ${low} is above open ${open} or close ${close}`);
    if (high < Math.max(open, close)) {
      this.#fail(layout, layout.high, `high ${high} is below open ${open} or close ${close}`);
    }
    const n = this.#length;
    const previous = n > 0 ? (this.#columns.openTime[n - 1] as number) : Number.NEGATIVE_INFINITY;
    if (openTime <= previous) {
      const when = new Date(openTime).toISOString();
      const before = new Date(previous).toISOString();
      this.#fail(
        layout,
        layout.time,
        `time ${when} is not after ${before} (line ${this.#lastLine}); rows must be in time order`,
      );
    }
    if (layout.closeTime >= 0) this.#closeTime(layout, openTime);
    if (n === this.#columns.openTime.length) this.#grow();
    const c = this.#columns;
    c.openTime[n] = openTime;
    c.open[n] = open;
    c.high[n] = high;
    c.low[n] = low;
    c.close[n] = close;
    c.volume[n] = volume;
    this.#length = n + 1;
    if (n === 0) this.#firstLine = this.#lineNo;
    this.#lastLine = this.#lineNo;
  }

  /** Checks a row's close time and, on the first row, takes the interval it states. */
  #closeTime(layout: CsvLayout, openTime: number): void {
    const cell = this.#cell(layout.closeTime);
    const closeTime = epochToMs(Number(cell));
    if (!(closeTime >= openTime)) {
      this.#fail(layout, layout.closeTime, `${JSON.stringify(cell)} is not an epoch time at or after the open time`);
    }
    this.#statedIntervalMs ??= closeTime - openTime + 1;
  }

  /** Grows the columns: to the row count the input's size suggests (rows and chars so far), or else double. */
  #grow(): void {
    const n = this.#length;
    const estimate =
      this.#expectedChars === undefined
        ? 0
        : Math.ceil(((this.#expectedChars * n) / this.#charsParsed) * ESTIMATE_MARGIN);
    const capacity = Math.max(estimate, n * 2);
    for (const f of FIELDS) {
      const bigger = new Float64Array(capacity);
      bigger.set(this.#columns[f]);
      this.#columns[f] = bigger;
    }
  }
}

/** Parses a whole CSV text (see {@link CsvParser}); `file` names it in errors. */
export function parseCsvText(text: string, file: string): ParsedCsv {
  const parser = new CsvParser(file);
  parser.push(text);
  return parser.end();
}

/** The candles of columns, as objects (for small files and tests; the replay itself keeps columns). */
export function candlesOf(columns: CandleColumns, symbol: string): Candle[] {
  return Array.from({ length: columns.length }, (_, i) => ({
    symbol,
    openTime: columns.openTime[i] as number,
    open: columns.open[i] as number,
    high: columns.high[i] as number,
    low: columns.low[i] as number,
    close: columns.close[i] as number,
    volume: columns.volume[i] as number,
  }));
}

/**
 * Parses CSV text in any format of docs/market-data.md into `symbol`'s
 * candles; throws {@link OhlcvCsvError} naming the first bad line.
 */
export function parseOhlcvCsv(text: string, symbol: string, file = 'CSV'): Candle[] {
  checkSymbol(symbol, file);
  return candlesOf(parseCsvText(text, file), symbol);
}
