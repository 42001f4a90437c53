/**
 * Where a CSV replay's candles come from (docs/market-data.md): QT_FEED_CSV
 * as one file (its symbol from QT_FEED_CSV_SYMBOL), a directory of
 * `SYMBOL-*.csv` files (Binance's names, like `BTCUSDT-1m-2025-01.csv`), or
 * `SYMBOL=path` pairs. Each file is streamed through the parser; a symbol's
 * files are joined in time order (they must not overlap and must share one
 * interval), and the interval is found: the one a Binance file states, else
 * the most common gap between opens.
 */
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { CsvFileOfSymbol } from '../../config/csv-replay.js';
import type { Config } from '../../config/load.js';
import { QtError } from '../../errors.js';
import { commonDifference, intervalName } from './csv-detect.js';
import { OhlcvCsvError } from './csv-error.js';
import { type CsvFeed, DEFAULT_CANDLE_INTERVAL_MS, replayCandleSeries } from './csv-feed.js';
import { type CandleSeries, CsvParser, checkSymbol, type ParsedCsv } from './csv-parse.js';

/** The symbol of a single file when QT_FEED_CSV_SYMBOL is not set. */
export const DEFAULT_CSV_SYMBOL = 'BTCUSDT';
/** How much of a file is read at a time: small, so each chunk's strings die young (1 MiB chunks doubled main's RSS growth). */
const READ_CHUNK_BYTES = 1 << 16;

/** The CSV settings of the configuration (docs/configuration.md, QT_FEED_CSV*). */
export type CsvReplaySetting = Pick<Config['feed'], 'csvPath' | 'csvFiles' | 'csvSymbol'>;

/** A setting found wrong only when the feed opens: QT_CONFIG_INVALID with one line, `KEY: what`. */
function configInvalid(key: string, message: string): QtError {
  return new QtError('QT_CONFIG_INVALID', `${key}: ${message}`, { details: { issues: [{ key, message }] } });
}

/** The symbol a Binance-style file name starts with: up to the first `-` (or the `.csv`). */
function symbolOfFileName(name: string): string {
  const dash = name.indexOf('-');
  return dash >= 0 ? name.slice(0, dash) : name.replace(/\.csv$/i, '');
}

/**
 * The files of a setting, each with its symbol. A directory gives its
 * `*.csv` files (others are ignored) in name order; a file name that does
 * not start with a symbol, a directory without one, or a missing path is a
 * QT_CONFIG_INVALID naming the key.
 */
export async function csvFilesOf(setting: CsvReplaySetting): Promise<CsvFileOfSymbol[]> {
  if (setting.csvFiles !== undefined) return [...setting.csvFiles];
  const path = setting.csvPath;
  if (path === undefined) throw configInvalid('QT_FEED_CSV', 'is not set');
  const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
    throw configInvalid('QT_FEED_CSV', `${path}: ${err.code === 'ENOENT' ? 'no such file or directory' : err.message}`);
  });
  if (!info.isDirectory()) return [{ symbol: setting.csvSymbol ?? DEFAULT_CSV_SYMBOL, path }];
  if (setting.csvSymbol !== undefined) {
    throw configInvalid('QT_FEED_CSV_SYMBOL', `applies to a single file; the files in ${path} name their symbols`);
  }
  const names = (await readdir(path)).filter((n) => /\.csv$/i.test(n)).sort();
  if (names.length === 0)
    throw configInvalid('QT_FEED_CSV', `${path} has no SYMBOL-*.csv file (like BTCUSDT-1m-2025-01.csv)`);
  return names.map((name) => {
    const symbol = symbolOfFileName(name);
    if (!/^[A-Z0-9]{2,20}$/.test(symbol)) {
      throw configInvalid(
        'QT_FEED_CSV',
        `${join(path, name)}: a file name must start with its symbol, like BTCUSDT-1m-2025-01.csv`,
      );
    }
    return { symbol, path: join(path, name) };
  });
}

/** Streams one file through the parser; a file that cannot be read is QT_FEED_INVALID naming it. */
export async function readCsvFile(path: string): Promise<ParsedCsv> {
  // A file that cannot be stat'ed is named by the read below.
  const size = await stat(path).then(
    (info) => info.size,
    () => undefined,
  );
  const parser = new CsvParser(path, size);
  try {
    for await (const chunk of createReadStream(path, { encoding: 'utf8', highWaterMark: READ_CHUNK_BYTES })) {
      parser.push(chunk as string);
    }
  } catch (err) {
    if (err instanceof OhlcvCsvError) throw err;
    throw new QtError('QT_FEED_INVALID', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  return parser.end();
}

/** The interval `files` (of one symbol) share: the one they state, else the most common gap, else 1 minute. */
function intervalOf(symbol: string, files: readonly ParsedCsv[], joined: Float64Array): number {
  const stated = files.filter((f) => f.statedIntervalMs !== undefined);
  const first = stated[0];
  const other = stated.find((f) => f.statedIntervalMs !== first?.statedIntervalMs);
  if (first !== undefined && other !== undefined) {
    const name = (f: ParsedCsv) => intervalName(f.statedIntervalMs ?? 0) ?? `${f.statedIntervalMs} ms`;
    throw new QtError(
      'QT_FEED_INVALID',
      `${symbol}: ${first.file} has ${name(first)} candles but ${other.file} has ${name(other)}; one interval per symbol`,
    );
  }
  return first?.statedIntervalMs ?? commonDifference(joined, joined.length) ?? DEFAULT_CANDLE_INTERVAL_MS;
}

/**
 * One symbol's files joined into one series, in time order. A file that
 * starts before the previous one ends is an {@link OhlcvCsvError} at its
 * first candle; a symbol with no candle at all is QT_FEED_INVALID.
 */
export function joinFiles(symbol: string, parsed: readonly ParsedCsv[]): CandleSeries {
  const files = parsed
    .filter((f) => f.length > 0)
    .sort((a, b) => (a.openTime[0] as number) - (b.openTime[0] as number));
  if (files.length === 0) {
    throw new QtError('QT_FEED_INVALID', `${symbol}: no candles in ${parsed.map((f) => f.file).join(', ')}`);
  }
  for (let k = 1; k < files.length; k++) {
    const before = files[k - 1] as ParsedCsv;
    const file = files[k] as ParsedCsv;
    const last = before.openTime[before.length - 1] as number;
    const start = file.openTime[0] as number;
    if (start <= last) {
      throw new OhlcvCsvError(
        { file: file.file, line: file.firstLine, column: file.timeColumn },
        `time ${new Date(start).toISOString()} is not after ${new Date(last).toISOString()}, the last candle of ` +
          `${before.file} (line ${before.lastLine}); the files of one symbol must not overlap`,
      );
    }
  }
  const only = files.length === 1 ? files[0] : undefined;
  const length = files.reduce((n, f) => n + f.length, 0);
  const column = (f: 'openTime' | 'open' | 'high' | 'low' | 'close' | 'volume'): Float64Array => {
    if (only !== undefined) return only[f];
    const out = new Float64Array(length);
    let at = 0;
    for (const file of files) {
      out.set(file[f], at);
      at += file.length;
    }
    return out;
  };
  const openTime = column('openTime');
  return {
    symbol,
    intervalMs: intervalOf(symbol, files, openTime),
    files: files.map((f) => f.file),
    length,
    openTime,
    open: column('open'),
    high: column('high'),
    low: column('low'),
    close: column('close'),
    volume: column('volume'),
  };
}

/** Reads every file of `setting` and joins them per symbol (see {@link joinFiles}). */
export async function loadCsvSeries(setting: CsvReplaySetting): Promise<CandleSeries[]> {
  const files = await csvFilesOf(setting);
  const bySymbol = new Map<string, ParsedCsv[]>();
  for (const { symbol, path } of files) {
    checkSymbol(symbol, path);
    const parsed = await readCsvFile(path);
    bySymbol.set(symbol, [...(bySymbol.get(symbol) ?? []), parsed]);
  }
  return [...bySymbol].map(([symbol, parsed]) => joinFiles(symbol, parsed));
}

/** The CSV replay `setting` describes at `speed`, its first candle due once the files are read (`now()`, epoch ms). */
export async function openCsvFeed(
  setting: CsvReplaySetting,
  options: { speed: number | 'max'; now?: () => number },
): Promise<CsvFeed> {
  const series = await loadCsvSeries(setting);
  return replayCandleSeries(series, { startAt: (options.now ?? Date.now)(), speed: options.speed });
}
