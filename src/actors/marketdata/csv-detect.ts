/**
 * What kind of market-data CSV a file is, told from its first line
 * (docs/market-data.md): a Binance public-data kline file (no header, 12
 * columns) or a headed CSV whose time, open, high, low, close and volume
 * columns are found by name in any case and order. Also names a candle
 * interval the way the event catalog writes it (`1m`, `4h`, `1d`) and finds
 * a file's interval from its open times.
 */
import { OhlcvCsvError } from './csv-error.js';

/** Where a row's fields are (0-based cell indexes) and what the cells are called, for messages. */
export interface CsvLayout {
  readonly format: 'binance' | 'headed';
  /** True when the first line is a header, not a candle. */
  readonly header: boolean;
  readonly time: number;
  readonly open: number;
  readonly high: number;
  readonly low: number;
  readonly close: number;
  readonly volume: number;
  /** Binance's close time (open time + interval − 1), or -1 when the file has none. */
  readonly closeTime: number;
  /** The name of each cell, as an error message calls it. */
  readonly names: readonly string[];
  /** The highest cell index a row must have. */
  readonly lastNeeded: number;
}

/** The columns of a Binance kline file, in order (they have no header). */
export const BINANCE_KLINE_COLUMNS = [
  'open_time',
  'open',
  'high',
  'low',
  'close',
  'volume',
  'close_time',
  'quote_volume',
  'count',
  'taker_buy_volume',
  'taker_buy_quote_volume',
  'ignore',
] as const;

/** The header the project's own files have (`npm run sample-data`): one of the headed forms. */
export const OHLCV_HEADER = 'timestamp,open,high,low,close,volume';

/** Names a time column may have (normalised: lower case, spaces as `_`), the first one found winning. */
export const TIME_COLUMN_NAMES = ['open_time', 'timestamp', 'datetime', 'date', 'time'] as const;

const NUMERIC = /^\s*"?\s*[+-]?\d+(\.\d+)?\s*"?\s*$/;

/** A header cell as matched against names: no BOM, quotes or surrounding space, lower case, inner spaces as `_`. */
export function normaliseName(cell: string): string {
  return cell
    .replace(/^\uFEFF/, '')
    .trim()
    .replace(/^"(.*)"$/, '$1')
    .trim()
    .toLowerCase()
    .replace(/\s+/g, '_');
}

function binanceLayout(): CsvLayout {
  return {
    format: 'binance',
    header: false,
    time: 0,
    open: 1,
    high: 2,
    low: 3,
    close: 4,
    volume: 5,
    closeTime: 6,
    names: BINANCE_KLINE_COLUMNS,
    lastNeeded: 6,
  };
}

function headedLayout(cells: readonly string[], file: string, line: number): CsvLayout {
  const names = cells.map(normaliseName);
  const find = (name: string) => names.indexOf(name);
  let time = TIME_COLUMN_NAMES.map(find).find((i) => i >= 0) ?? -1;
  // pandas writes its index first under an empty name: a DatetimeIndex is the time itself.
  if (time < 0 && names[0] === '') time = 0;
  const [open, high, low, close, volume] = (['open', 'high', 'low', 'close', 'volume'] as const).map(find) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const missing = [
    ...(time < 0 ? [`a time column (${TIME_COLUMN_NAMES.join(', ')})`] : []),
    ...Object.entries({ open, high, low, close, volume })
      .filter(([, i]) => i < 0)
      .map(([n]) => n),
  ];
  if (missing.length > 0) {
    const found = cells.map((c) => JSON.stringify(c.trim())).join(',');
    throw new OhlcvCsvError(
      { file, line },
      `header ${found} has no ${missing.join(', ')}; a file without a header must be a Binance kline file (12 columns)`,
    );
  }
  const closeTime = find('close_time');
  const shown = cells.map((c, i) => (i === time && c.trim() === '' ? 'index' : normaliseName(c)));
  return {
    format: 'headed',
    header: true,
    time,
    open,
    high,
    low,
    close,
    volume,
    closeTime,
    names: shown,
    lastNeeded: Math.max(time, open, high, low, close, volume, closeTime),
  };
}

/**
 * The layout of a file from the cells of its first non-blank line (`line`,
 * 1-based): a numeric first cell means no header, and then the row must be
 * a Binance kline (12 columns); otherwise the line is a header that must
 * name a time column and open, high, low, close, volume (other columns are
 * ignored). Throws {@link OhlcvCsvError} saying what is missing.
 */
export function detectLayout(cells: readonly string[], file: string, line: number): CsvLayout {
  if (!NUMERIC.test(cells[0] ?? '')) return headedLayout(cells, file, line);
  if (cells.length === BINANCE_KLINE_COLUMNS.length) return binanceLayout();
  throw new OhlcvCsvError(
    { file, line },
    `no header, and not a Binance kline row (${BINANCE_KLINE_COLUMNS.length} columns, got ${cells.length}); ` +
      `a headed CSV names a time column (${TIME_COLUMN_NAMES.join(', ')}) and open, high, low, close, volume`,
  );
}

const UNITS = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1_000],
] as const;

/** An interval in ms as the catalog writes it (`1m`, `15m`, `4h`, `1d`, `7d`); undefined unless whole seconds. */
export function intervalName(ms: number): string | undefined {
  if (!(ms > 0 && Number.isInteger(ms))) return undefined;
  for (const [unit, size] of UNITS) if (ms % size === 0) return `${ms / size}${unit}`;
  return undefined;
}

/** The most common positive difference between consecutive values of `times[0..length)`; undefined under 2 values. */
export function commonDifference(times: Float64Array, length: number): number | undefined {
  const counts = new Map<number, number>();
  for (let i = 1; i < length; i++) {
    const d = (times[i] as number) - (times[i - 1] as number);
    counts.set(d, (counts.get(d) ?? 0) + 1);
  }
  let best: number | undefined;
  let bestCount = 0;
  for (const [d, n] of counts) {
    if (n > bestCount || (n === bestCount && d < (best ?? Number.POSITIVE_INFINITY))) {
      best = d;
      bestCount = n;
    }
  }
  return best;
}
