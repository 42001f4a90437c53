/**
 * The run report of a replay at max speed (docs/market-data.md, "Replay at
 * max speed"): once the replay is done and the pipeline has drained, what
 * the replay caused, counted from the topic streams in Redis after the ids
 * they had when it began: candles, ticks, signals, orders by outcome, fills,
 * realized PnL, final equity and max drawdown (from `portfolio.updated`),
 * ESS trips. Logged as one line and written as JSON.
 *
 * Everything but `wallClock` follows from the file and the settings, so two
 * replays of one file on fresh state give equal reports; `wallClock` holds
 * what the machine's speed decides (durations, rates, the file written).
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Redis } from 'ioredis';
import type { ReplayFinished, ReplayRun } from '../actors/replay-run.js';
import type { Config } from '../config/load.js';
import type { Logger } from '../log.js';
import { FIELD_ENVELOPE, FIELD_TYPE } from '../streams/codec.js';
import type { Keys } from '../streams/keys.js';

/** Entries read per XRANGE while counting. */
export const REPORT_PAGE = 2_000;

/** What a replay caused; see the file comment. */
export interface RunReport {
  /** The file times of the first and last instant replayed (ISO-8601). */
  readonly from: string;
  readonly to: string;
  readonly candles: number;
  readonly ticks: number;
  readonly signals: number;
  readonly orders: {
    readonly approved: number;
    readonly rejected: number;
    readonly placed: number;
    readonly filled: number;
    readonly cancelled: number;
    readonly failed: number;
  };
  /** `order.filled` events (= orders.filled). */
  readonly fills: number;
  /** Fees paid on those fills, in their fee asset (USDT on the paper venue). */
  readonly fees: number;
  /** Realized PnL made during the replay: the last `portfolio.updated`'s, less what it was before. */
  readonly realizedPnl: number;
  /** Equity at the last `portfolio.updated`; null when there was none. */
  readonly finalEquity: number | null;
  /** The largest drawdown (fraction of the peak equity) a `portfolio.updated` of the replay reported. */
  readonly maxDrawdown: number;
  readonly essTrips: number;
  /** ESS trips by trigger (`drawdown`, `flash_crash`, ...). */
  readonly essTripsByTrigger: Readonly<Record<string, number>>;
  /** Decided by the machine, not by the file: excluded when two reports are compared. */
  readonly wallClock: {
    readonly startedAt: string;
    readonly finishedAt: string;
    readonly durationMs: number;
    readonly candlesPerSecond: number;
    readonly ticksPerSecond: number;
  };
}

type Entry = [id: string, fields: string[]];

/** Calls `visit` with the type and raw envelope of every entry after `afterId`, page by page. */
async function scan(
  redis: Redis,
  key: string,
  afterId: string,
  visit: (type: string, envelope: () => Record<string, unknown>) => void,
): Promise<void> {
  let from = `(${afterId}`;
  for (;;) {
    const page = (await redis.xrange(key, from, '+', 'COUNT', REPORT_PAGE)) as Entry[];
    for (const [, fields] of page) {
      let type = '';
      let raw = '{}';
      for (let i = 0; i + 1 < fields.length; i += 2) {
        if (fields[i] === FIELD_TYPE) type = fields[i + 1] as string;
        else if (fields[i] === FIELD_ENVELOPE) raw = fields[i + 1] as string;
      }
      visit(type, () => JSON.parse(raw) as Record<string, unknown>);
    }
    const last = page.at(-1);
    if (page.length < REPORT_PAGE || last === undefined) return;
    from = `(${last[0]}`;
  }
}

/** The `data` of the last `portfolio.updated` at or before `id`, if any: the portfolio as the replay found it. */
async function portfolioBefore(redis: Redis, key: string, id: string): Promise<Record<string, unknown> | undefined> {
  if (id === '0-0') return undefined;
  const page = (await redis.xrevrange(key, id, '-', 'COUNT', 100)) as Entry[];
  for (const [, fields] of page) {
    const raw = fields[fields.indexOf(FIELD_ENVELOPE) + 1];
    if (fields[fields.indexOf(FIELD_TYPE) + 1] === 'portfolio.updated' && raw !== undefined) {
      return (JSON.parse(raw) as { data: Record<string, unknown> }).data;
    }
  }
  return undefined;
}

/** Counts what the replay caused in the streams of `keys`, after `finished.startIds`. */
export async function computeRunReport(redis: Redis, keys: Keys, finished: ReplayFinished): Promise<RunReport> {
  const after = (topic: string) => finished.startIds[topic] ?? '0-0';
  const counts = new Map<string, number>();
  const count = (type: string) => counts.set(type, (counts.get(type) ?? 0) + 1);
  const data = (envelope: () => Record<string, unknown>) => envelope().data as Record<string, unknown>;
  let fees = 0;
  const trips: Record<string, number> = {};
  await scan(redis, keys.stream('market'), after('market'), count);
  await scan(redis, keys.stream('signal'), after('signal'), count);
  await scan(redis, keys.stream('order'), after('order'), (type, envelope) => {
    count(type);
    if (type === 'order.filled') fees += Number(data(envelope).fee ?? 0);
  });
  await scan(redis, keys.stream('ess'), after('ess'), (type, envelope) => {
    if (type !== 'ess.tripped') return;
    count(type);
    const trigger = String(data(envelope).trigger);
    trips[trigger] = (trips[trigger] ?? 0) + 1;
  });
  const before = await portfolioBefore(redis, keys.stream('portfolio'), after('portfolio'));
  let last: Record<string, unknown> | undefined;
  let maxDrawdown = 0;
  await scan(redis, keys.stream('portfolio'), after('portfolio'), (type, envelope) => {
    if (type !== 'portfolio.updated') return;
    last = data(envelope);
    maxDrawdown = Math.max(maxDrawdown, Number(last.drawdown ?? 0));
  });
  const n = (type: string) => counts.get(type) ?? 0;
  const durationMs = Math.max(1, finished.wallFinishedAt - finished.wallStartedAt);
  const rate = (k: number) => Math.round((k * 1_000 * 10) / durationMs) / 10;
  return {
    from: new Date(finished.firstAt).toISOString(),
    to: new Date(finished.lastAt).toISOString(),
    candles: n('market.candle'),
    ticks: n('market.tick'),
    signals: n('signal.generated'),
    orders: {
      approved: n('order.approved'),
      rejected: n('order.rejected'),
      placed: n('order.placed'),
      filled: n('order.filled'),
      cancelled: n('order.cancelled'),
      failed: n('order.failed'),
    },
    fills: n('order.filled'),
    fees,
    realizedPnl: Number(last?.realizedPnl ?? 0) - Number(before?.realizedPnl ?? 0),
    finalEquity: last === undefined ? null : Number(last.equity),
    maxDrawdown,
    essTrips: n('ess.tripped'),
    essTripsByTrigger: trips,
    wallClock: {
      startedAt: new Date(finished.wallStartedAt).toISOString(),
      finishedAt: new Date(finished.wallFinishedAt).toISOString(),
      durationMs,
      candlesPerSecond: rate(n('market.candle')),
      ticksPerSecond: rate(n('market.tick')),
    },
  };
}

/** The report as one readable line (its fields go beside it in the log record). */
export function formatRunReport(r: RunReport): string {
  const money = (x: number) => x.toFixed(2);
  return (
    `run report: ${r.candles} candles (${r.from} to ${r.to}) · ${r.signals} signals · ` +
    `orders ${r.orders.approved} approved / ${r.orders.rejected} rejected · ${r.fills} fills · ` +
    `realized PnL ${money(r.realizedPnl)} · max drawdown ${(r.maxDrawdown * 100).toFixed(2)}% · ` +
    `ESS trips ${r.essTrips} · ${r.wallClock.candlesPerSecond} candles/s`
  );
}

/** Where the report goes: QT_RUN_REPORT, else QT_DATA_DIR/run-report-<wall start, ISO without colons>.json. */
export function runReportPath(config: Pick<Config, 'dataDir' | 'feed'>, report: RunReport): string {
  return (
    config.feed.runReportPath ??
    join(config.dataDir, `run-report-${report.wallClock.startedAt.replace(/[:.]/g, '-')}.json`)
  );
}

/** Writes the report as JSON (through a temporary file, so a reader never sees half of it). */
export async function writeRunReport(path: string, report: RunReport): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(report, null, 2)}\n`);
  await rename(tmp, path);
}

/**
 * Once `run` is done: computes the report, logs it, writes it, then calls
 * `onWritten` (main stops there when QT_FEED_EXIT_WHEN_DONE is set). A
 * failure is logged and `onWritten` still runs, so `main` does not wait for
 * a report that will never come.
 */
export function reportWhenReplayFinished(options: {
  readonly run: ReplayRun;
  readonly redis: Redis;
  readonly keys: Keys;
  readonly config: Pick<Config, 'dataDir' | 'feed'>;
  readonly log: Logger;
  readonly onWritten: (path: string | undefined) => void;
}): void {
  const { run, redis, keys, config, log } = options;
  void run.finished.then(async (finished) => {
    let written: string | undefined;
    try {
      const report = await computeRunReport(redis, keys, finished);
      const path = runReportPath(config, report);
      log.info({ runReport: report, path }, formatRunReport(report));
      await writeRunReport(path, report);
      written = path;
    } catch (err) {
      log.error({ err: (err as Error).message }, 'run report not written');
    }
    options.onWritten(written);
  });
}
