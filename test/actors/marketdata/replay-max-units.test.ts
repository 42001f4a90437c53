/**
 * The parts of a replay at max speed that need no Redis: the settings
 * (`QT_FEED_CSV_SPEED=max`, and `QT_FEED_EXIT_WHEN_DONE` / `QT_RUN_REPORT`
 * refused where they could never apply, naming the key), the feed at max
 * speed (the file's own times, `nextAt()` instant by instant, the last
 * candle closed too), and the replay run (its groups and its clock).
 */
import test from 'ava';
import { createCsvFeed } from '../../../src/actors/marketdata/csv-feed.js';
import { ReplayRun, replayRunFor } from '../../../src/actors/replay-run.js';
import { loadConfig } from '../../../src/config/load.js';
import { isQtError } from '../../../src/errors.js';

const MIN = 60_000;
const T0 = Date.UTC(2025, 0, 1);

/** The message loadConfig throws for `env`, or undefined when it parses. */
function configError(env: Record<string, string>): string | undefined {
  try {
    loadConfig(env);
    return undefined;
  } catch (err) {
    if (!isQtError(err, 'QT_CONFIG_INVALID')) throw err;
    return err.message;
  }
}

test('QT_FEED_CSV_SPEED takes max or a number; the run report settings apply only at max', (t) => {
  const max = loadConfig({ QT_FEED_CSV: 'btc.csv', QT_FEED_CSV_SPEED: 'max', QT_FEED_EXIT_WHEN_DONE: 'true' });
  t.like(max.feed, { csvSpeed: 'max', exitWhenDone: true, runReportPath: undefined });
  t.like(loadConfig({ QT_FEED_CSV: 'btc.csv', QT_FEED_CSV_SPEED: '600' }).feed, { csvSpeed: 600, exitWhenDone: false });
  t.like(loadConfig({}).feed, { csvSpeed: 60 });
  t.like(loadConfig({ QT_FEED_CSV: 'btc.csv', QT_FEED_CSV_SPEED: 'max', QT_RUN_REPORT: 'out/r.json' }).feed, {
    runReportPath: 'out/r.json',
  });

  t.regex(configError({ QT_FEED_CSV_SPEED: 'fast' }) ?? '', /QT_FEED_CSV_SPEED: .*positive number .* or max/);
  t.regex(configError({ QT_FEED_CSV_SPEED: '0' }) ?? '', /QT_FEED_CSV_SPEED/);
  t.regex(configError({ QT_FEED_EXIT_WHEN_DONE: 'true' }) ?? '', /QT_FEED_EXIT_WHEN_DONE: applies to a CSV replay at/);
  const paced = configError({ QT_FEED_CSV: 'btc.csv', QT_FEED_CSV_SPEED: '60', QT_RUN_REPORT: 'r.json' });
  t.regex(paced ?? '', /QT_RUN_REPORT: applies to a CSV replay at QT_FEED_CSV_SPEED=max/);
  t.regex(configError({ QT_FEED_EXIT_WHEN_DONE: 'maybe' }) ?? '', /QT_FEED_EXIT_WHEN_DONE/);
});

test('at max speed the feed keeps the file times and goes instant by instant to the last candle', (t) => {
  const candle = (i: number, symbol = 'BTCUSDT') => ({
    symbol,
    openTime: T0 + i * MIN,
    open: 100 + i,
    high: 102 + i,
    low: 99 + i,
    close: 101 + i,
    volume: 4,
  });
  // ETHUSDT opens with BTCUSDT's second candle: their ticks share instants.
  const feed = createCsvFeed([candle(0), candle(1), candle(2), candle(1, 'ETHUSDT')], {
    startAt: 123, // ignored at max speed
    speed: 'max',
  });
  const instants: { at: number; ticks: string[]; candles: string[] }[] = [];
  for (let at = feed.nextAt(); at !== undefined; at = feed.nextAt()) {
    const ticks = feed.next(at).map((k) => `${k.symbol}@${k.at - T0}`);
    const candles = feed.takeCandles().map((c) => `${c.symbol}@${c.openTime - T0}`);
    instants.push({ at: at - T0, ticks, candles });
    if (instants.length > 20) break;
  }
  t.true(feed.done);
  t.deepEqual(instants.slice(0, 5), [
    { at: 0, ticks: ['BTCUSDT@0'], candles: [] },
    { at: MIN / 4, ticks: [`BTCUSDT@${MIN / 4}`], candles: [] },
    { at: MIN / 2, ticks: [`BTCUSDT@${MIN / 2}`], candles: [] },
    { at: (3 * MIN) / 4, ticks: [`BTCUSDT@${(3 * MIN) / 4}`], candles: [] },
    // A candle closes with the first tick of the next: same instant, after it.
    { at: MIN, ticks: [`BTCUSDT@${MIN}`, `ETHUSDT@${MIN}`], candles: ['BTCUSDT@0'] },
  ]);
  // After the last ticks, one more instant closes the last candles (nothing else left).
  t.deepEqual(instants.at(-1), { at: 3 * MIN, ticks: [], candles: ['BTCUSDT@120000'] });
  t.is(instants.flatMap((i) => i.ticks).length, 16);
  t.is(instants.flatMap((i) => i.candles).length, 4);
  t.is(feed.status().details?.speed, 'max');
});

test('a replay run exists only for a CSV replay at max speed in a process that hosts marketdata', (t) => {
  const feed = { source: 'csv', csvPath: 'btc.csv', csvSpeed: 'max' as const };
  t.true(replayRunFor(feed, ['marketdata', 'ai-engine']) instanceof ReplayRun);
  t.is(replayRunFor(feed, ['ai-engine', 'execution']), undefined);
  t.is(replayRunFor({ ...feed, csvSpeed: 60 }, ['marketdata']), undefined);
  t.is(replayRunFor({ source: 'synthetic', csvPath: undefined, csvSpeed: 'max' }, ['marketdata']), undefined);

  const run = new ReplayRun(['marketdata', 'execution', 'portfolio-intelligence']);
  t.deepEqual(
    run.groups.map((g) => `${g.topic}/${g.group}`),
    ['order/execution', 'ess/execution', 'market/execution', 'order/portfolio', 'market/portfolio'],
  );
  run.advanceTo(T0 + MIN);
  run.advanceTo(T0);
  t.is(run.now(), T0 + MIN, 'the clock never goes back');
  t.is(run.nowDate().toISOString(), '2025-01-01T00:01:00.000Z');
});
