/**
 * The settings of the CSV replay (docs/market-data.md, docs/configuration.md):
 * `QT_FEED_CSV` is one file, a directory of `SYMBOL-*.csv` files, or a list
 * of `SYMBOL=path` pairs (`BTCUSDT=btc.csv,ETHUSDT=eth.csv`); the list form
 * is recognised by its first entry starting with `NAME=` (a name without
 * `/`). `QT_FEED_CSV_SYMBOL` names a single file's symbol and is refused with
 * the list form, which names its own. Whether a path is a directory is only
 * known when the feed opens (src/actors/marketdata/csv-source.ts).
 */
import { z } from 'zod';

/** A `SYMBOL=path` pair of the list form. */
export interface CsvFileOfSymbol {
  readonly symbol: string;
  readonly path: string;
}

const LIST_FORM = /^[^=,/\\]+=/;
const PAIR = /^([^=]*)=(.*)$/;
const SYMBOL = /^[A-Z0-9]{2,20}$/;

/** True when `value` is written as `SYMBOL=path,...` rather than as one path. */
export function isCsvFileList(value: string): boolean {
  return LIST_FORM.test(value.trim());
}

/** What is wrong with each entry of a list-form value (none for a plain path). */
export function csvFileListIssues(value: string): string[] {
  if (!isCsvFileList(value)) return [];
  return value.split(',').flatMap((raw) => {
    const entry = raw.trim();
    const pair = PAIR.exec(entry);
    if (pair === null) return [`entry ${JSON.stringify(entry)} must be SYMBOL=path, like BTCUSDT=btc.csv`];
    const [, symbol = '', path = ''] = pair;
    if (!SYMBOL.test(symbol.trim())) return [`entry ${JSON.stringify(entry)}: the symbol must be like BTCUSDT`];
    if (path.trim() === '') return [`entry ${JSON.stringify(entry)} names no file`];
    return [];
  });
}

/** The pairs of a list-form value (already checked by {@link csvFileListIssues}); undefined for a plain path. */
export function csvFileList(value: string | undefined): CsvFileOfSymbol[] | undefined {
  if (value === undefined || !isCsvFileList(value)) return undefined;
  return value.split(',').map((raw) => {
    const [, symbol = '', path = ''] = PAIR.exec(raw.trim()) ?? [];
    return { symbol: symbol.trim(), path: path.trim() };
  });
}

/** QT_FEED_CSV: a non-empty path, or a valid list of pairs. */
export const FeedCsvSchema = z
  .string()
  .min(1)
  .superRefine((value, ctx) => {
    for (const message of csvFileListIssues(value)) ctx.addIssue({ code: 'custom', message });
  });

/** The one cross-setting rule of the CSV replay, with the key to blame. */
export function csvReplayIssue(e: {
  readonly QT_FEED_CSV?: string | undefined;
  readonly QT_FEED_CSV_SYMBOL?: string | undefined;
}): { key: string; message: string } | undefined {
  if (e.QT_FEED_CSV_SYMBOL === undefined || e.QT_FEED_CSV === undefined || !isCsvFileList(e.QT_FEED_CSV))
    return undefined;
  return { key: 'QT_FEED_CSV_SYMBOL', message: 'applies to a single file; QT_FEED_CSV names the symbol of each file' };
}
