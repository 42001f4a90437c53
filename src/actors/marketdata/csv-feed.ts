import { z } from 'zod';
import { QtError } from '../../errors.js';
import type { MarketFeed, Tick } from './feed.js';

/**
 * CSV replay of OHLCV candles (docs/architecture.md §11.1). `parseOhlcvCsv` is the edge: it
 * zod-validates every row and names the offending line. `createCsvFeed`
 * replays the candles as ticks — four per candle, along the path a candle
 * most plausibly took — with candle time compressed by `speed`. Both are pure.
 */

/** The header line a file must start with (case and surrounding spaces ignored). */
export const OHLCV_HEADER = 'timestamp,open,high,low,close,volume';
/** Candle length assumed when a file has a single candle and no `intervalMs` is given. */
export const DEFAULT_CANDLE_INTERVAL_MS = 60_000;
/** Default replay speed: 1 = real time, 60 = a minute of candles per second. */
export const DEFAULT_REPLAY_SPEED = 1;

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

/** A CSV file that cannot be parsed (code QT_FEED_INVALID); `line` is 1-based. */
export class OhlcvCsvError extends QtError {
  readonly line: number;

  constructor(line: number, message: string) {
    super('QT_FEED_INVALID', `line ${line}: ${message}`, { details: { line } });
    this.name = 'OhlcvCsvError';
    this.line = line;
  }
}

const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;

const timestamp = z.string().transform((s, ctx) => {
  const ms = /^\d{1,16}$/.test(s) ? Number(s) : ISO_8601.test(s) ? Date.parse(s) : Number.NaN;
  if (!Number.isSafeInteger(ms) || ms < 0) {
    ctx.addIssue({ code: 'custom', message: `timestamp ${JSON.stringify(s)} is neither epoch ms nor ISO-8601` });
    return z.NEVER;
  }
  return ms;
});
const decimal = (what: string) =>
  z
    .string()
    .regex(/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/, `${what} is not a number`)
    .transform(Number)
    .pipe(z.number().finite());

/** One CSV row, as strings in, typed candle fields out. */
export const OhlcvRowSchema = z
  .tuple([
    timestamp,
    decimal('open').pipe(z.number().positive('open must be > 0')),
    decimal('high').pipe(z.number().positive('high must be > 0')),
    decimal('low').pipe(z.number().positive('low must be > 0')),
    decimal('close').pipe(z.number().positive('close must be > 0')),
    decimal('volume').pipe(z.number().nonnegative('volume must be >= 0')),
  ])
  .refine(([, o, h, l, c]) => l <= Math.min(o, c, h) && h >= Math.max(o, c), 'needs low <= open, close <= high');

const SymbolSchema = z.string().regex(/^[A-Z0-9]{2,20}$/, 'symbol like BTCUSDT');

/**
 * Parses OHLCV CSV text: a header line `timestamp,open,high,low,close,volume`,
 * then one candle a line with strictly increasing timestamps (epoch ms or
 * ISO-8601 with a zone). Blank lines are skipped, CRLF accepted. Throws
 * {@link OhlcvCsvError} naming the first bad line.
 */
export function parseOhlcvCsv(text: string, symbol: string): Candle[] {
  SymbolSchema.parse(symbol);
  const lines = text.split(/\r?\n/);
  const first = lines.findIndex((l) => l.trim() !== '');
  if (first < 0) throw new OhlcvCsvError(1, `empty file; expected header ${OHLCV_HEADER}`);
  const header = (lines[first] ?? '')
    .replace(/^\uFEFF/, '')
    .replace(/\s+/g, '')
    .toLowerCase();
  if (header !== OHLCV_HEADER) throw new OhlcvCsvError(first + 1, `expected header ${OHLCV_HEADER}`);
  const candles: Candle[] = [];
  for (let i = first + 1; i < lines.length; i++) {
    const raw = (lines[i] ?? '').trim();
    if (raw === '') continue;
    const cells = raw.split(',').map((c) => c.trim());
    if (cells.length !== 6) throw new OhlcvCsvError(i + 1, `expected 6 fields, got ${cells.length}`);
    const row = OhlcvRowSchema.safeParse(cells);
    if (!row.success) throw new OhlcvCsvError(i + 1, row.error.issues.map((x) => x.message).join('; '));
    const [openTime, open, high, low, close, volume] = row.data;
    const previous = candles.at(-1);
    if (previous && openTime <= previous.openTime)
      throw new OhlcvCsvError(i + 1, 'timestamps must be strictly increasing');
    candles.push({ symbol, openTime, open, high, low, close, volume });
  }
  return candles;
}

/** Options of {@link createCsvFeed}. */
export const CsvFeedOptionsSchema = z.object({
  /** Epoch ms at which the first candle's open is replayed. */
  startAt: z.number().int().nonnegative(),
  /** Replay speed-up: candle time / replay time. */
  speed: z.number().positive().finite().default(DEFAULT_REPLAY_SPEED),
  /** Length of the last candle (others run until the next one opens). */
  intervalMs: z.number().int().positive().optional(),
});
export type CsvFeedOptions = z.input<typeof CsvFeedOptionsSchema>;

/** The four prices a candle is replayed as: bullish O→L→H→C, bearish O→H→L→C. */
function pathOf(c: Candle): readonly [number, number, number, number] {
  return c.close >= c.open ? [c.open, c.low, c.high, c.close] : [c.open, c.high, c.low, c.close];
}

/**
 * Replays candles (in `openTime` order, as {@link parseOhlcvCsv} returns
 * them) as ticks: each candle gives four ticks at 0, ¼, ½ and ¾ of its
 * duration, each carrying a quarter of its volume. Replay time is
 * `startAt + (candle time − first openTime) / speed`, floored to whole ms.
 */
export function createCsvFeed(candles: readonly Candle[], options: CsvFeedOptions): MarketFeed {
  const o = CsvFeedOptionsSchema.parse(options);
  for (let i = 1; i < candles.length; i++)
    if ((candles[i]?.openTime ?? 0) <= (candles[i - 1]?.openTime ?? 0))
      throw new QtError('QT_FEED_INVALID', `createCsvFeed: candle ${i} does not open after candle ${i - 1}`);
  const origin = candles[0]?.openTime ?? 0;
  const durationOf = (i: number): number => {
    const c = candles[i]!;
    const nextCandle = candles[i + 1];
    if (nextCandle) return nextCandle.openTime - c.openTime;
    const previous = candles[i - 1];
    return o.intervalMs ?? (previous ? c.openTime - previous.openTime : DEFAULT_CANDLE_INTERVAL_MS);
  };
  const tickAt = (i: number, phase: number): Tick => {
    const c = candles[i]!;
    const candleTime = c.openTime - origin + (durationOf(i) * phase) / 4;
    return {
      symbol: c.symbol,
      price: pathOf(c)[phase]!,
      volume: c.volume / 4,
      at: o.startAt + Math.floor(candleTime / o.speed),
    };
  };
  let index = 0; // candle
  let phase = 0; // 0..3 within the candle
  return {
    get done() {
      return index >= candles.length;
    },
    next(now: number): Tick[] {
      const out: Tick[] = [];
      while (index < candles.length) {
        const tick = tickAt(index, phase);
        if (tick.at > now) break;
        out.push(tick);
        if (++phase === 4) {
          phase = 0;
          index++;
        }
      }
      return out;
    },
  };
}
