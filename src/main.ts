#!/usr/bin/env node
import { hostname } from 'node:os';
/**
 * Runtime entry point: `node dist/main.js --actors=all|LIST`. Parses the
 * command line and the environment, connects to Redis (starting a local
 * redis-server when none is reachable and none was configured), hosts the
 * chosen services, and shuts down cleanly on SIGTERM/SIGINT.
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { replayRunFor } from './actors/replay-run.js';
import {
  IMPLEMENTED_SERVICES,
  openCsvFeedEarly,
  type PreparedService,
  prepareServices,
  stopServices,
} from './actors/runtime.js';
import { parseActors, SERVICE_NAMES, SERVICES, type ServiceName } from './actors/services.js';
import { type Config, loadConfig } from './config/load.js';
import { isQtError, QtError } from './errors.js';
import { TOPICS } from './events/catalog.js';
import { busDependencies } from './http/dependencies.js';
import type { DependencyHealth } from './http/health.js';
import { createServiceServer } from './http/service-server.js';
import { createLogger, type LogFile, type Logger, openLogFile, redactUrl } from './log.js';
import { reportWhenReplayFinished } from './ops/run-report.js';
import { RunSummary } from './ops/run-summary.js';
import { Closers } from './runtime/closers.js';
import { isRedisReachable, type LocalRedis, startLocalRedis } from './runtime/local-redis.js';
import { ShutdownSignal } from './runtime/shutdown.js';
import { startWhenRedisAnswers } from './runtime/start-actors.js';
import { type EventBus, openEventBus } from './streams/event-bus.js';
import { RetentionLoop } from './streams/retention.js';
import { VERSION } from './version.js';

/** Exit code for bad usage or bad configuration. */
export const EXIT_USAGE = 2;
/** Exit code when local resources cannot be used: the disk buffer (locked, corrupt), an HTTP port, the log file. */
export const EXIT_STATE = 3;

/**
 * The default producer id: host and hosted services, so one process per
 * service set on a host gets a stable id of its own (its disk buffer file is
 * named after it and locked, so two processes cannot share it).
 */
export function defaultProducerId(services: readonly ServiceName[], host = hostname()): string {
  const h = host.replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '') || 'host';
  const what = services.length === SERVICE_NAMES.length ? 'all' : services.join('_');
  return `${h}.${what}`;
}

interface Options {
  readonly actors: string;
  readonly duration?: number;
}

function positiveSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number of seconds');
  return n;
}

function buildProgram(): Command {
  return new Command('qt-runtime')
    .description('Quantum Trader runtime: hosts services as actors on Redis Streams.')
    .option('--actors <list>', `"all" or a comma-separated list of: ${SERVICE_NAMES.join(', ')}`, 'all')
    .option('--duration <seconds>', 'stop by itself after this many seconds (demos, tests)', positiveSeconds)
    .addHelpText('after', '\nSettings come from the environment; see docs/configuration.md.')
    .exitOverride()
    .showHelpAfterError();
}

async function run(argv: readonly string[], shutdown: ShutdownSignal): Promise<number> {
  const program = buildProgram();
  try {
    program.parse([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? 0 : EXIT_USAGE;
    }
    throw err;
  }
  const options = program.opts<Options>();
  const selection = parseActors(options.actors);
  if (!selection.ok) {
    process.stderr.write(
      `error: unknown service(s): ${selection.unknown.join(', ')}\nvalid: all, ${SERVICE_NAMES.join(', ')}\n\n${program.helpInformation()}`,
    );
    return EXIT_USAGE;
  }

  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (isQtError(err, 'QT_CONFIG_INVALID')) {
      process.stderr.write(`${err.message}\n`);
      return EXIT_USAGE;
    }
    throw err;
  }
  let file: LogFile | undefined;
  if (config.log.file) {
    try {
      file = await openLogFile(config.log.file);
    } catch (err) {
      process.stderr.write(`error: cannot open the log file ${config.log.file.path}: ${(err as Error).message}\n`);
      return EXIT_STATE;
    }
  }
  const log = createLogger({ level: config.log.level, pretty: config.log.pretty, name: 'qt', file });
  if (options.duration !== undefined) {
    setTimeout(() => shutdown.request('duration elapsed'), options.duration * 1_000).unref();
  }
  const closers = new Closers(log);
  void shutdown.requested.then((reason) => {
    log.info({ reason }, 'shutting down');
    void closers.closeAll();
  });
  let code: number;
  try {
    code = await host(config, selection.services, log, closers, shutdown);
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'start-up failed');
    code = 1;
  }
  if (code === 0 && shutdown.reason === undefined) await shutdown.requested;
  const report = await closers.closeAll();
  log.info({ failedClosers: report.failed }, 'stopped');
  return code;
}

/** Start-up was interrupted by a stop request: nothing more is opened. */
class StartAborted extends Error {}

/**
 * Opens everything in order, pushing each closer as its resource opens.
 * Resolves 0 once the runtime runs (or once a stop request interrupted
 * start-up), or an exit code when something cannot be used.
 */
async function host(
  config: Config,
  services: ServiceName[],
  log: Logger,
  closers: Closers,
  shutdown: ShutdownSignal,
): Promise<number> {
  const step = <T>(value: T): T => {
    if (closers.closing) throw new StartAborted();
    return value;
  };
  try {
    return await startUp(config, services, log, closers, shutdown, step);
  } catch (err) {
    if (err instanceof StartAborted) return 0;
    throw err;
  }
}

async function startUp(
  config: Config,
  services: ServiceName[],
  log: Logger,
  closers: Closers,
  shutdown: ShutdownSignal,
  step: <T>(value: T) => T,
): Promise<number> {
  // Reading a long CSV file overlaps the rest of start-up; marketdata awaits it.
  const csvFeed = openCsvFeedEarly(config, services);
  let local: LocalRedis | undefined;
  if (config.redis.mode === 'standalone' && !(await isRedisReachable(config.redis.url))) {
    const startOne = config.redis.local === 'always' || (config.redis.local === 'auto' && !config.redis.explicit);
    if (!startOne) {
      log.error({ url: redactUrl(config.redis.url) }, 'redis is not reachable; starting anyway, it will reconnect');
    } else {
      step(undefined);
      const port = Number(new URL(config.redis.url).port || 6379);
      local = await startLocalRedis({ dataDir: config.dataDir, port, log });
      const started = local;
      closers.push('local redis-server', () => started.stop());
    }
  }
  step(undefined);
  const producer = config.producerId ?? defaultProducerId(services);
  const registry = new Registry();
  // Every series names its process; those of one service also carry `service` (docs/architecture.md §13).
  registry.setDefaultLabels({ producer });
  collectDefaultMetrics({ register: registry });
  // A replay at max speed: every service here runs on its event clock, envelopes included.
  const replay = replayRunFor(config.feed, services);
  let bus: EventBus;
  try {
    bus = await openEventBus(config, {
      producer,
      source: services.length === 1 ? (services[0] as string) : 'runtime',
      log,
      registry,
      ...(replay ? { now: replay.nowDate } : {}),
    });
  } catch (err) {
    if (isQtError(err, 'QT_BUFFER_LOCKED') || isQtError(err, 'QT_BUFFER_CORRUPT')) {
      log.fatal({ code: err.code }, err.message);
      return EXIT_STATE;
    }
    throw err;
  }
  closers.push('event bus', () => bus.close());
  step(undefined);
  const retention = new RetentionLoop({
    redis: bus.redis,
    keys: bus.keys,
    topics: TOPICS,
    policy: { maxLen: config.retention.maxLen, maxAgeMs: config.retention.maxAgeMs },
    intervalMs: config.retention.intervalMs,
    log,
  });
  retention.start();
  closers.push('retention', () => retention.close());

  const actorsRunning = { value: false };
  const servers = services.map((name) =>
    createServiceServer({
      service: name,
      version: VERSION,
      producer,
      registry,
      dependencies: async () => ({
        ...(await busDependencies(bus)),
        ...actorsDependency(actorsRunning.value),
        // Prepared below; until then the service has none of its own to report.
        ...((await prepared?.find((p) => p.name === name)?.dependencies?.()) ?? {}),
      }),
      healthMetrics: () => processHealthMetrics(bus, registry),
      adminToken: config.adminToken,
      onShutdown: () => shutdown.request('POST /admin/shutdown'),
      log,
    }),
  );
  let prepared: PreparedService[] | undefined;
  try {
    prepared = await prepareServices(services, (name) => {
      const server = servers[services.indexOf(name)];
      if (!server) throw new QtError('QT_INVARIANT_BROKEN', `no HTTP server for ${name}`);
      return { config, bus, producer, log, registry, http: server, replay, csvFeed };
    });
  } catch (err) {
    // A service cannot be set up (e.g. an unreadable CSV feed): a configuration problem, exit 2.
    process.stderr.write(`cannot start services: ${(err as Error).message}\n`);
    return EXIT_USAGE;
  }
  closers.push('services', () => stopServices(prepared));
  // Pushed last, closed first: stop accepting requests before anything else stops.
  closers.push('http servers', () => Promise.all(servers.map((s) => s.app.close())));
  for (const [i, name] of services.entries()) {
    step(undefined);
    const port = SERVICES[name].port + config.http.portOffset;
    try {
      await servers[i]?.app.listen({ port, host: config.http.host });
    } catch (err) {
      // A port in use must not leave the actors running without their HTTP: stop everything.
      log.fatal({ service: name, port, err: (err as Error).message }, 'cannot listen; stopping');
      process.stderr.write(`cannot listen on ${config.http.host}:${port} for ${name}: ${(err as Error).message}\n`);
      return EXIT_STATE;
    }
    log.info({ service: name, port }, 'http listening');
  }
  if (replay) {
    reportWhenReplayFinished({
      run: replay,
      redis: bus.redis,
      keys: bus.keys,
      config,
      log,
      onWritten: () => {
        if (config.feed.exitWhenDone) shutdown.request('replay finished');
      },
    });
  }
  for (const s of prepared) s.go?.();
  step(await startWhenRedisAnswers(prepared, bus.link, { log, stopped: () => closers.closing }));
  actorsRunning.value = true;
  const idle = services.filter((n) => !IMPLEMENTED_SERVICES.includes(n));
  if (idle.length > 0) log.warn({ services: idle }, 'these services serve health, metrics and admin only so far');
  // The one-line view of the whole system (read from Redis, so it is the same in any process).
  if (config.summaryIntervalMs > 0) {
    const summary = new RunSummary({ redis: bus.redis, keys: bus.keys, intervalMs: config.summaryIntervalMs, log });
    closers.push('run summary', () => summary.close());
    await summary.start();
  }
  step(undefined);
  log.info(
    {
      services,
      producer,
      buffer: bus.buffer.path,
      redis: redactUrl(local?.url ?? (config.redis.mode === 'standalone' ? config.redis.url : config.redis.masterName)),
    },
    'runtime started',
  );
  return 0;
}

/**
 * The numbers every service's `GET /health` shows of its process, read by
 * monitoring-health's probes: the disk buffer's backlog and the age of its
 * oldest event, and the sequence gaps its consumers counted so far.
 */
async function processHealthMetrics(bus: EventBus, registry: Registry): Promise<Record<string, number>> {
  const buffer = bus.buffer.stats();
  const gaps = await registry.getSingleMetric('eventbus_sequence_gaps_total')?.get();
  return {
    buffer_rows: buffer.rows,
    ...(buffer.oldestAgeMs === undefined ? {} : { buffer_oldest_age_ms: buffer.oldestAgeMs }),
    sequence_gaps: (gaps?.values ?? []).reduce((sum, v) => sum + v.value, 0),
  };
}

/** The health of the process's actors: DOWN (critical) until they run, which needs Redis. */
function actorsDependency(running: boolean): Record<string, DependencyHealth> {
  return running
    ? { actors: { status: 'OK', latency_ms: null, critical: true } }
    : { actors: { status: 'DOWN', latency_ms: null, critical: true, error: 'waiting for redis to start the actors' } };
}

const shutdown = new ShutdownSignal();
run(process.argv.slice(2), shutdown).then(
  (code) => {
    shutdown.dispose();
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`fatal: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
