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
import { IMPLEMENTED_SERVICES, type RunningService, startServices, stopServices } from './actors/runtime.js';
import { parseActors, SERVICE_NAMES, SERVICES, type ServiceName } from './actors/services.js';
import { type Config, loadConfig } from './config/load.js';
import { isQtError, QtError } from './errors.js';
import { TOPICS } from './events/catalog.js';
import { busDependencies } from './http/dependencies.js';
import { createServiceServer } from './http/service-server.js';
import { createLogger, type Logger, redactUrl } from './log.js';
import { RunSummary } from './ops/run-summary.js';
import { isRedisReachable, type LocalRedis, startLocalRedis } from './runtime/local-redis.js';
import { type EventBus, openEventBus } from './streams/event-bus.js';
import { RetentionLoop } from './streams/retention.js';
import { VERSION } from './version.js';

/** Exit code for bad usage or bad configuration. */
export const EXIT_USAGE = 2;
/** Exit code when local resources cannot be used: the disk buffer (locked, corrupt) or an HTTP port. */
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

async function run(argv: readonly string[]): Promise<number> {
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
  const log = createLogger({ level: config.log.level, pretty: config.log.pretty, name: 'qt' });
  return host(config, selection.services, options.duration, log);
}

async function host(
  config: Config,
  services: ServiceName[],
  duration: number | undefined,
  log: Logger,
): Promise<number> {
  let local: LocalRedis | undefined;
  if (config.redis.mode === 'standalone' && !(await isRedisReachable(config.redis.url))) {
    if (config.redis.explicit) {
      log.error({ url: redactUrl(config.redis.url) }, 'redis is not reachable; starting anyway, it will reconnect');
    } else {
      const port = Number(new URL(config.redis.url).port || 6379);
      local = await startLocalRedis({ dataDir: config.dataDir, port, log });
    }
  }
  const producer = config.producerId ?? defaultProducerId(services);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  let bus: EventBus;
  try {
    bus = await openEventBus(config, {
      producer,
      source: services.length === 1 ? (services[0] as string) : 'runtime',
      log,
      registry,
    });
  } catch (err) {
    if (isQtError(err, 'QT_BUFFER_LOCKED') || isQtError(err, 'QT_BUFFER_CORRUPT')) {
      log.fatal({ code: err.code }, err.message);
      await local?.stop();
      return EXIT_STATE;
    }
    throw err;
  }
  const retention = new RetentionLoop({
    redis: bus.redis,
    keys: bus.keys,
    topics: TOPICS,
    policy: { maxLen: config.retention.maxLen, maxAgeMs: config.retention.maxAgeMs },
    intervalMs: config.retention.intervalMs,
    log,
  });
  retention.start();

  let requestShutdown: (reason: string) => void = () => undefined;
  const servers = services.map((name) =>
    createServiceServer({
      service: name,
      version: VERSION,
      registry,
      dependencies: () => busDependencies(bus),
      healthMetrics: () => ({ buffer_rows: bus.buffer.stats().rows }),
      adminToken: config.adminToken,
      onShutdown: () => requestShutdown('POST /admin/shutdown'),
      log,
    }),
  );
  let running: RunningService[];
  try {
    running = await startServices(services, (name) => {
      const server = servers[services.indexOf(name)];
      if (!server) throw new QtError('QT_INVARIANT_BROKEN', `no HTTP server for ${name}`);
      return { config, bus, producer, log, registry, http: server };
    });
  } catch (err) {
    // A service could not start (e.g. an unreadable CSV feed): stop cleanly, exit 2.
    process.stderr.write(`cannot start services: ${(err as Error).message}\n`);
    await Promise.all(servers.map((s) => s.app.close()));
    await retention.close();
    await bus.close();
    await local?.stop();
    return EXIT_USAGE;
  }
  for (const [i, name] of services.entries()) {
    const port = SERVICES[name].port + config.http.portOffset;
    try {
      await servers[i]?.app.listen({ port, host: config.http.host });
    } catch (err) {
      // A port in use must not leave the actors running without their HTTP: stop everything.
      log.fatal({ service: name, port, err: (err as Error).message }, 'cannot listen; stopping');
      process.stderr.write(`cannot listen on ${config.http.host}:${port} for ${name}: ${(err as Error).message}\n`);
      await Promise.all(servers.map((s) => s.app.close()));
      await stopServices(running);
      await retention.close();
      await bus.close();
      await local?.stop();
      return EXIT_STATE;
    }
    log.info({ service: name, port }, 'http listening');
  }
  for (const s of running) s.go?.();
  const idle = services.filter((n) => !IMPLEMENTED_SERVICES.includes(n));
  if (idle.length > 0) log.warn({ services: idle }, 'these services serve health, metrics and admin only so far');
  log.info(
    {
      services,
      producer,
      buffer: bus.buffer.path,
      redis: redactUrl(local?.url ?? (config.redis.mode === 'standalone' ? config.redis.url : config.redis.masterName)),
    },
    'runtime started',
  );
  // The one-line view of the whole system (read from Redis, so it is the same in any process).
  const summary =
    config.summaryIntervalMs > 0
      ? new RunSummary({ redis: bus.redis, keys: bus.keys, intervalMs: config.summaryIntervalMs, log })
      : undefined;
  await summary?.start();

  const reason = await new Promise<string>((resolve) => {
    requestShutdown = resolve;
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
    if (duration !== undefined) setTimeout(() => resolve('duration elapsed'), duration * 1_000).unref();
  });
  log.info({ reason }, 'shutting down');
  // Stop accepting first, then let in-flight work finish and close state.
  await Promise.all(servers.map((s) => s.app.close()));
  await summary?.close();
  await stopServices(running);
  await retention.close();
  await bus.close();
  await local?.stop();
  log.info('stopped');
  return 0;
}

run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`fatal: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
