/**
 * A replay at `QT_FEED_CSV_SPEED=max` through a real `main --actors=all`
 * (docs/market-data.md, "Replay at max speed"): one generated file of
 * 1-minute candles replayed twice, on two fresh Redis rigs at once, gives
 * two run reports equal in everything but `wallClock` and non-trivial
 * (signals, orders and fills); both `main`s exit 0 by themselves
 * (QT_FEED_EXIT_WHEN_DONE). While the first runs, a sampler reads XINFO
 * GROUPS: no group of the pipeline ever lags more than a few entries,
 * though the file holds thousands. Every envelope carries event time: the
 * file's times, not the wall clock.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { Redis } from 'ioredis';
import { generateSampleCsv } from '../../../scripts/sample-data/sample-data.js';
import type { RunReport } from '../../../src/ops/run-report.js';
import { decodeEntry } from '../../../src/streams/codec.js';
import { groupInfos } from '../../../src/streams/group-lag.js';
import { startMain } from '../../support/main-process.js';
import { type RedisRig, redisRig } from '../../support/rig.js';

const CANDLES = 1_200;
const T0 = Date.UTC(2025, 0, 1);
const MIN = 60_000;
/** The pipeline's topics, sampled while the replay runs. */
const TOPICS = ['market', 'signal', 'order', 'portfolio', 'ess', 'model', 'risk', 'health'];
/**
 * The most a group may hold undelivered or unacknowledged: one instant is one tick and at most one candle
 * on `market`, a few events downstream; a replay without back-pressure
 * would lag by thousands.
 */
const LAG_BOUND = 8;

/** What the sampler saw: per topic/group, the largest lag and pending count, and how many looks found lag. */
interface Sampled {
  looks: number;
  inFlight: number;
  max: Record<string, { lag: number; pending: number }>;
}

/** Reads XINFO GROUPS of every pipeline topic every few ms until `stop()`. */
function sampleGroups(rig: RedisRig): { stop: () => Promise<Sampled> } {
  const redis = new Redis(rig.server.url);
  const sampled: Sampled = { looks: 0, inFlight: 0, max: {} };
  let running = true;
  const loop = (async () => {
    while (running) {
      const infos = await Promise.all(TOPICS.map((t) => groupInfos(redis, rig.keys.stream(t))));
      let lagged = false;
      infos.forEach((groups, i) => {
        for (const g of groups ?? []) {
          const key = `${TOPICS[i]}/${g.name}`;
          const seen = sampled.max[key] ?? { lag: 0, pending: 0 };
          sampled.max[key] = { lag: Math.max(seen.lag, g.lag ?? 0), pending: Math.max(seen.pending, g.pending) };
          if ((g.lag ?? 0) > 0 || g.pending > 0) lagged = true;
        }
      });
      sampled.looks++;
      if (lagged) sampled.inFlight++;
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      redis.disconnect();
      return sampled;
    },
  };
}

/** Replays `file` at max speed in a real main on `rig` until it exits by itself; its report and what Redis holds. */
async function replay(t: ExecutionContext, rig: RedisRig, file: string, sample: boolean) {
  const reportPath = join(rig.dataDir, 'report.json');
  const { run } = await startMain(t, ['--actors=all'], {
    ...rig.env,
    QT_FEED_CSV: file,
    QT_FEED_CSV_SPEED: 'max',
    QT_FEED_EXIT_WHEN_DONE: 'true',
    QT_RUN_REPORT: reportPath,
    QT_SUMMARY_INTERVAL_MS: '0',
  });
  const sampler = sample ? sampleGroups(rig) : undefined;
  const code = await run.exit;
  const sampled = await sampler?.stop();
  if (code !== 0) t.log(run.out().slice(-3_000));
  t.is(code, 0, 'main exits 0 by itself once the report is written');
  const report = JSON.parse(await readFile(reportPath, 'utf8')) as RunReport;
  t.true(run.out().includes('"msg":"run report: '), 'the report is logged');
  return { report, sampled, out: run.out() };
}

/** The envelope times of a stream, epoch ms. */
async function envelopeTimes(rig: RedisRig, topic: string): Promise<number[]> {
  const redis = new Redis(rig.server.url);
  try {
    const entries = await redis.xrange(rig.keys.stream(topic), '-', '+');
    return entries.map(([, fields]) => Date.parse(decodeEntry(fields).time));
  } finally {
    redis.disconnect();
  }
}

test('two max-speed replays of one file give equal, non-trivial reports; the lag stays bounded', async (t) => {
  t.timeout(150_000);
  const [a, b] = await Promise.all([redisRig(t, 'replay-max-a'), redisRig(t, 'replay-max-b')]);
  // A volatile walk, so the momentum ensemble signals, pre-trade approves and the paper venue fills.
  const csv = generateSampleCsv({
    seed: 7,
    symbol: 'BTCUSDT',
    candles: CANDLES,
    intervalMs: MIN,
    startAt: T0,
    startPrice: 65_000,
    volatility: 0.002,
  });
  const file = join(a.dataDir, 'BTCUSDT-1m.csv');
  await writeFile(file, csv);
  const started = Date.now();
  const [first, second] = await Promise.all([replay(t, a, file, true), replay(t, b, file, false)]);
  t.log(`two replays of ${CANDLES} candles at once: ${Date.now() - started} ms`);

  const { wallClock: wa, ...ra } = first.report;
  const { wallClock: wb, ...rb } = second.report;
  t.log(`report: ${JSON.stringify(ra)}`);
  t.log(
    `wall clock: ${wa.durationMs} ms (${wa.candlesPerSecond} candles/s), ${wb.durationMs} ms (${wb.candlesPerSecond} candles/s)`,
  );
  t.deepEqual(ra, rb, 'equal reports');
  t.like(ra, {
    from: new Date(T0).toISOString(),
    to: new Date(T0 + CANDLES * MIN).toISOString(),
    candles: CANDLES,
    ticks: CANDLES * 4,
  });
  t.true(ra.signals > 0, 'signals');
  t.true(ra.orders.approved > 0, 'orders');
  t.true(ra.fills > 0, 'fills');
  t.is(ra.fills, ra.orders.filled);
  t.not(ra.realizedPnl, 0);
  t.true(ra.maxDrawdown > 0);

  const sampled = first.sampled;
  if (!sampled) throw new Error('no sample');
  t.log(`sampler: ${sampled.looks} looks, ${sampled.inFlight} with work in flight; max ${JSON.stringify(sampled.max)}`);
  t.true(sampled.looks >= 50, 'sampled all along');
  t.true(sampled.inFlight > 0, 'some looks caught the pipeline at work');
  const marketGroups = Object.keys(sampled.max).filter((k) => k.startsWith('market/'));
  t.true(marketGroups.length >= 5, 'every actor on market was sampled');
  for (const [key, max] of Object.entries(sampled.max)) {
    t.true(max.lag + max.pending <= LAG_BOUND, `${key}: lag ${max.lag}, pending ${max.pending}`);
  }

  // Event time: ticks at the file's times (a quarter candle apart), everything downstream inside the file's span.
  const ticks = (await envelopeTimes(a, 'market')).slice(0, 5);
  t.deepEqual(ticks.slice(0, 4), [T0, T0 + MIN / 4, T0 + MIN / 2, T0 + (3 * MIN) / 4]);
  for (const topic of ['signal', 'order', 'portfolio']) {
    const times = await envelopeTimes(a, topic);
    t.true(times.length > 0, topic);
    t.true(
      times.every((at) => at >= T0 && at <= T0 + CANDLES * MIN),
      `${topic} envelopes carry event time`,
    );
  }
});
