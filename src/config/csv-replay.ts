/**
 * The settings of the CSV replay (docs/market-data.md, docs/configuration.md):
 * `QT_FEED_CSV` is one file, a directory of `SYMBOL-*.csv` files, or a list
 * of `SYMBOL=path` pairs (`BTCUSDT=btc.csv,ETHUSDT=eth.csv`); the list form
 * is recognised by its first entry starting with `NAME=` (a name without
 * `/`). `QT_FEED_CSV_SYMBOL` names a single file's symbol and is refused with
 * the list form, which names its own. Whether a path is a directory is only
 * known when the feed opens (src/actors/marketdata/csv-source.ts).
 * `QT_FEED_CSV_SPEED` is a speed-up or `max` (as fast as the pipeline
 * consumes, on event time); `QT_FEED_EXIT_WHEN_DONE` and `QT_RUN_REPORT`
 * say what happens when a replay is done (docs/market-data.md).
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

/** The replay speed that means "as fast as the pipeline consumes". */
export const MAX_REPLAY_SPEED = 'max';
/** A replay speed: candle time / replay time, or {@link MAX_REPLAY_SPEED}. */
export type ReplaySpeed = number | typeof MAX_REPLAY_SPEED;

/** QT_FEED_CSV_SPEED: `max`, or a positive number up to a million (default 60). */
export const FeedCsvSpeedSchema = z
  .union([z.literal(MAX_REPLAY_SPEED), z.coerce.number().positive().max(1_000_000)], {
    error: 'must be a positive number (1 = real time, 60 = a minute a second) or max',
  })
  .default(60);

/** The cross-setting rules of the CSV replay, each with the key to blame. */
export function csvReplayIssues(e: {
  readonly QT_FEED_CSV?: string | undefined;
  readonly QT_FEED_CSV_SYMBOL?: string | undefined;
  readonly QT_FEED_CSV_SPEED?: ReplaySpeed | undefined;
  readonly QT_FEED_EXIT_WHEN_DONE?: boolean | undefined;
  readonly QT_RUN_REPORT?: string | undefined;
}): { key: string; message: string }[] {
  const issues: { key: string; message: string }[] = [];
  if (e.QT_FEED_CSV_SYMBOL !== undefined && e.QT_FEED_CSV !== undefined && isCsvFileList(e.QT_FEED_CSV))
    issues.push({
      key: 'QT_FEED_CSV_SYMBOL',
      message: 'applies to a single file; QT_FEED_CSV names the symbol of each file',
    });
  // Only a replay at max speed writes a report and ends by itself: elsewhere these would silently never apply.
  if (e.QT_FEED_CSV === undefined || e.QT_FEED_CSV_SPEED !== MAX_REPLAY_SPEED) {
    const message = 'applies to a CSV replay at QT_FEED_CSV_SPEED=max (QT_FEED_CSV set)';
    if (e.QT_FEED_EXIT_WHEN_DONE === true) issues.push({ key: 'QT_FEED_EXIT_WHEN_DONE', message });
    if (e.QT_RUN_REPORT !== undefined) issues.push({ key: 'QT_RUN_REPORT', message });
  }
  return issues;
}
