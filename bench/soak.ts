/**
 * `npm run soak [-- --minutes N]`: the soak of issue 16. Starts its own
 * `redis-server` and one `main --actors=all` on the synthetic feed at 1,000
 * ticks/s in all (spread over the feed's symbols; `--ticks-per-second`),
 * and every 10 s (`--sample-seconds`) samples main's RSS (/proc VmRSS),
 * every consumer group's lag and pending count (XINFO GROUPS) and the ticks
 * published (`GET /feed`). After N minutes (default 10) it stops main with
 * SIGTERM and audits the streams: ticks published vs market entries, each
 * producer's seqs with no gap, duplicate or reordering (bench/soak-audit.ts).
 * Writes `bench/results/soak.json` (settings, samples, audit, verdict),
 * prints a summary, exits 0 when every bound holds and 1 otherwise (2 on a
 * usage mistake). Everything it starts it stops, also on Ctrl-C.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { SERVICES } from '../src/actors/services.js';
import { TOPICS } from '../src/events/catalog.js';
import { createKeys } from '../src/streams/keys.js';
import { freePortOffset, type MainProcess, spawnMain } from '../test/support/main-process.js';
import { type RedisServer, startRedis } from '../test/support/redis-fixture.js';
import { round } from './harness.js';
import { packageRoot, resultsPath } from './report.js';
import {
  auditStream,
  judge,
  type SoakExit,
  type SoakSample,
  type SoakVerdict,
  type StreamAudit,
} from './soak-audit.js';
import { rssMb, sampleGroups, ticksPublished } from './soak-probes.js';

/** The synthetic feed's symbols (the default of QT_FEED_SYMBOLS): the ticks per second are shared among them. */
const SYMBOLS = ['BTCUSDT:65000', 'ETHUSDT:3200', 'SOLUSDT:150'];
/**
 * The synthetic walk's volatility is per tick, set for the default 5 ticks/s
 * a symbol: at 333 a second the same 60 s flash-crash window holds 67 times
 * the ticks, a 15 % fall in it is a matter of course, and the ESS would trip
 * within the first minutes and stop all trading. So the window is scaled to
 * hold the ticks it holds by default (5/s × 60 s), and the ESS trips as
 * rarely as it does on a default feed.
 */
const DEFAULT_TICKS_PER_SYMBOL = 5;
const DEFAULT_FLASH_CRASH_WINDOW_MS = 60_000;
const START_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 30_000;
/** Lines of main's output kept to show when it exits during the soak. */
const TAIL_LINES = 40;
/** Warn and error lines of main's log kept in the report, the first ones. */
const MAX_PROBLEMS = 10;

const USAGE =
  'usage: npm run soak [-- --minutes N] [--ticks-per-second N] [--sample-seconds N] [--warmup-minutes N]\n' +
  '  defaults: 10 minutes, 1000 ticks/s in all, a sample every 10 s, 1 minute of warm-up';

class UsageError extends Error {}

interface SoakSettings {
  readonly minutes: number;
  readonly ticksPerSecond: number;
  readonly sampleSeconds: number;
  readonly warmupMinutes: number;
}

function parseCommandLine(argv: readonly string[]): SoakSettings {
  let values: Record<string, string | undefined>;
  try {
    const options = {
      minutes: { type: 'string' },
      'ticks-per-second': { type: 'string' },
      'sample-seconds': { type: 'string' },
      'warmup-minutes': { type: 'string' },
    } as const;
    ({ values } = parseArgs({ args: [...argv], options }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const positive = (name: string, fallback: number, max: number): number => {
    const text = values[name];
    const x = text === undefined ? fallback : Number(text);
    if (!(Number.isFinite(x) && x > 0 && x <= max)) {
      throw new UsageError(`--${name} must be a number above 0 and at most ${max}, got ${JSON.stringify(text)}`);
    }
    return x;
  };
  const settings = {
    minutes: positive('minutes', 10, 24 * 60),
    ticksPerSecond: positive('ticks-per-second', 1_000, SYMBOLS.length * 1_000),
    sampleSeconds: positive('sample-seconds', 10, 600),
    warmupMinutes: positive('warmup-minutes', 1, 24 * 60),
  };
  if (settings.warmupMinutes * 60 + 2 * settings.sampleSeconds > settings.minutes * 60) {
    throw new UsageError('--minutes must leave at least two samples after the warm-up');
  }
  return settings;
}

function say(message: string): void {
  process.stderr.write(`soak: ${message}\n`);
}

/** Counts main's warn and error log lines and finds the disk buffer's rows at close, from its JSON log. */
function watchLog(run: MainProcess): { readonly exit: () => Omit<SoakExit, 'code'>; readonly tail: () => string } {
  const last: string[] = [];
  let warnings = 0;
  let errors = 0;
  let bufferRowsAtClose: number | null = null;
  const problems: string[] = [];
  let partial = '';
  const onData = (chunk: Buffer) => {
    const lines = (partial + String(chunk)).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      last.push(line.slice(0, 1_000));
      if (last.length > TAIL_LINES) last.shift();
      const level = Number(/"level":(\d+)/.exec(line)?.[1]);
      if (level >= 50) errors++;
      else if (level === 40) warnings++;
      if (level >= 40 && problems.length < MAX_PROBLEMS) problems.push(line.slice(0, 500));
      if (line.includes('"msg":"disk buffer closed"')) bufferRowsAtClose = Number(/"rows":(\d+)/.exec(line)?.[1]);
    }
  };
  run.child.stdout?.on('data', onData);
  run.child.stderr?.on('data', onData);
  return { exit: () => ({ warnings, errors, problems, bufferRowsAtClose }), tail: () => last.join('\n') };
}

/** The settings of main that the soak chooses (written to soak.json with the figures). */
function mainSettings(settings: SoakSettings): Record<string, string> {
  const perSymbol = settings.ticksPerSecond / SYMBOLS.length;
  return {
    QT_PRODUCER_ID: 'soak',
    QT_FEED: 'synthetic',
    QT_FEED_CSV: '',
    QT_FEED_SYMBOLS: SYMBOLS.join(','),
    QT_FEED_TICKS_PER_SECOND: String(perSymbol),
    QT_ESS_FLASH_CRASH_WINDOW_MS: String(
      Math.max(1, Math.round((DEFAULT_FLASH_CRASH_WINDOW_MS * DEFAULT_TICKS_PER_SYMBOL) / perSymbol)),
    ),
    QT_EXCHANGE: 'paper',
  };
}

/** What the platform did meanwhile, from the audited streams' event types. */
function activity(streams: readonly StreamAudit[]): Record<string, number> {
  const count = (type: string) => streams.reduce((n, s) => n + (s.types[type] ?? 0), 0);
  return {
    ticks: count('market.tick'),
    signals: count('signal.generated'),
    approved: count('order.approved'),
    rejected: count('order.rejected'),
    filled: count('order.filled'),
    essTrips: count('ess.tripped'),
  };
}

async function soak(settings: SoakSettings, server: RedisServer, dataDir: string) {
  const keys = createKeys('qt');
  const redis = server.client({ connectionName: 'soak:observer' });
  const offset = await freePortOffset([server.port]);
  const feedUrl = `http://127.0.0.1:${SERVICES.marketdata.port + offset}/feed`;
  const run = spawnMain(['--actors=all'], {
    REDIS_URL: server.url,
    QT_DATA_DIR: dataDir,
    QT_HTTP_PORT_OFFSET: String(offset),
    ...mainSettings(settings),
    BINANCE_API_KEY: '',
    BINANCE_API_SECRET: '',
  });
  const logCounts = watchLog(run);
  try {
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!run.out().includes('runtime started')) {
      if (run.child.exitCode !== null) throw new Error(`main exited ${run.child.exitCode} at start:\n${run.out()}`);
      if (Date.now() > deadline) throw new Error(`main did not start within ${START_TIMEOUT_MS} ms:\n${run.out()}`);
      await sleep(100);
    }
    const pid = run.child.pid as number;
    const startedAt = Date.now();
    say(`main (pid ${pid}) started; ${settings.minutes} min at ${settings.ticksPerSecond} ticks/s`);

    const samples: SoakSample[] = [];
    const endAt = startedAt + settings.minutes * 60_000;
    for (let i = 0; ; i++) {
      const dueAt = startedAt + i * settings.sampleSeconds * 1_000;
      if (dueAt > endAt) break;
      await sleep(Math.max(0, dueAt - Date.now()));
      if (run.child.exitCode !== null) {
        throw new Error(`main exited ${run.child.exitCode} during the soak; its last lines:\n${logCounts.tail()}`);
      }
      const at = Date.now();
      const sample: SoakSample = {
        t: round((at - startedAt) / 1_000, 1),
        rssMb: await rssMb(pid),
        ticksPublished: (await ticksPublished(feedUrl)) ?? null,
        marketEntries: await redis.xlen(keys.stream('market')),
        load1m: round(loadavg()[0] ?? 0, 2),
        groups: await sampleGroups(redis, keys, at),
      };
      samples.push(sample);
      const worst = sample.groups.reduce((a, g) => (g.lag > a.lag ? g : a), { lag: 0, group: '–', topic: '–' });
      say(
        `t=${sample.t}s rss ${sample.rssMb} MB, ${sample.marketEntries} market entries, ` +
          `max lag ${worst.lag} (${worst.topic}/${worst.group}), load ${sample.load1m}`,
      );
    }

    run.child.kill('SIGTERM');
    const code = await Promise.race([run.exit, sleep(STOP_TIMEOUT_MS).then(() => 'timeout' as const)]);
    if (code === 'timeout') throw new Error(`main did not stop within ${STOP_TIMEOUT_MS} ms of SIGTERM`);
    say(`main exited ${code}; auditing the streams`);
    const streams = [];
    for (const topic of TOPICS) streams.push(await auditStream(redis, keys, topic));
    const market = streams.find((s) => s.topic === 'market');
    if (market === undefined) throw new Error('soak: no market topic');
    const exit = { code, ...logCounts.exit() };
    const dlqEntries = await redis.xlen(keys.dlq());
    const verdict = judge({
      samples,
      warmupS: settings.warmupMinutes * 60,
      askedPerSecond: settings.ticksPerSecond,
      market,
      streams,
      exit,
    });
    return { samples, audit: { activity: activity(streams), dlqEntries, market, streams }, verdict };
  } finally {
    if (run.child.exitCode === null) run.child.kill('SIGKILL');
    redis.disconnect();
  }
}

function summary(verdict: SoakVerdict): string {
  const mark = (ok: boolean) => (ok ? 'ok  ' : 'FAIL');
  const { rss, lag, ticks, market, allStreams, exit } = verdict;
  return [
    `${mark(rss.pass)} RSS after a collection ${rss.afterWarmupMb} MB early (first third after ${rss.warmupS} s) → ${rss.finalMb} MB late (last third): ` +
      `${rss.growthPct} % (limit ${rss.limitPct} %), max ${rss.maxMb} MB`,
    `${mark(lag.pass)} consumer lag after the warm-up: max ${lag.max} (${lag.maxGroup ?? '–'}), ${lag.final} at ` +
      `the last sample (limit ${lag.limit}); max pending ${lag.maxPending}`,
    `${mark(ticks.pass)} ticks: ${ticks.reachedPerSecond}/s reached of ${ticks.askedPerSecond}/s asked; ` +
      `${ticks.entries} tick entries, ${ticks.publishedAtLastRead ?? '?'} published at the last GET /feed`,
    `${mark(market.pass)} market stream: ${market.lost} lost, ${market.duplicated} duplicated, ` +
      `${market.reordered} reordered, ${market.seqRecordMismatches} last-seq mismatches`,
    `${mark(allStreams.lost + allStreams.duplicated + allStreams.reordered === 0)} every stream: ${allStreams.events} ` +
      `events, ${allStreams.lost} lost, ${allStreams.duplicated} duplicated, ${allStreams.reordered} reordered`,
    `${mark(exit.pass)} main exited ${exit.code}, ${exit.bufferRowsAtClose ?? '?'} disk-buffer rows at close; ` +
      `${exit.warnings} warnings, ${exit.errors} errors logged`,
    ...exit.problems.map((line) => `       logged: ${line.slice(0, 240)}`),
    verdict.pass ? 'soak passed' : 'soak FAILED',
  ].join('\n');
}

async function main(): Promise<number> {
  const settings = parseCommandLine(process.argv.slice(2));
  process.env.QT_TEST_REDIS ??= 'local';
  let server: RedisServer | undefined;
  const dataDir = await mkdtemp(join(tmpdir(), 'qt-soak-'));
  const cleanUp = async () => {
    await server?.stop();
    await rm(dataDir, { recursive: true, force: true });
  };
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    process.once(signal, () => {
      say(`${signal}: stopping`);
      void cleanUp().finally(() => process.exit(code));
    });
  }
  try {
    // Streams are never trimmed during the soak (the audit reads them whole): only the server's own memory limits it.
    server = await startRedis({ name: 'soak' });
    const startedAt = new Date().toISOString();
    const result = await soak(settings, server, dataDir);
    const file = resultsPath('soak.json');
    const report = {
      meta: { date: startedAt, node: process.version, cores: availableParallelism() },
      settings: { ...settings, main: mainSettings(settings) },
      verdict: result.verdict,
      audit: result.audit,
      samples: result.samples,
    };
    await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
    console.log(summary(result.verdict));
    const done = Object.entries(result.audit.activity).map(([k, n]) => `${k} ${n}`);
    console.log(`     meanwhile: ${done.join(', ')}; dead letters ${result.audit.dlqEntries}`);
    say(`wrote ${file.replace(`${packageRoot()}/`, '')}`);
    return result.verdict.pass ? 0 : 1;
  } finally {
    await cleanUp();
  }
}

try {
  process.exitCode = await main();
} catch (error) {
  if (error instanceof UsageError) {
    console.error(`soak: ${error.message}\n${USAGE}`);
    process.exitCode = 2;
  } else {
    console.error('soak failed:', error);
    process.exitCode = 1;
  }
}
