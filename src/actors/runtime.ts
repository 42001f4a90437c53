import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { AnyStateMachine } from 'xstate';
import type { Config } from '../config/load.js';
import { tradeStoreFromConfig, venueFromConfig } from '../exchange/open-venue.js';
import type { AdminGuard } from '../http/auth.js';
import type { DependencyHealth } from '../http/health.js';
import type { Logger } from '../log.js';
import type { EventBus } from '../streams/event-bus.js';
import { createAiSpec } from './ai-engine/ai-machine.js';
import { ExecutionService } from './execution/execution-service.js';
import { watchVenueUsage } from './execution/venue-metrics.js';
import { ActorHost, type ActorSpec } from './host.js';
import { type BinanceFeedDeps, openBinanceFeed } from './marketdata/binance-feed.js';
import { openCsvFeed } from './marketdata/csv-source.js';
import type { MarketFeed } from './marketdata/feed.js';
import { ReplayPacer } from './marketdata/replay-pacer.js';
import { MarketDataService, type MaxSpeedReplay } from './marketdata/service.js';
import { createSyntheticFeed } from './marketdata/synthetic-feed.js';
import { MonitoringService } from './monitoring/monitoring-service.js';
import { portfolioSpec } from './portfolio/portfolio-machine.js';
import type { ReplayRun } from './replay-run.js';
import { EssService } from './risk-safety/ess-service.js';
import { PolicyStore } from './risk-safety/policy.js';
import { announceStoredPolicy, registerPolicyRoutes } from './risk-safety/policy-routes.js';
import { PretradeService } from './risk-safety/pretrade-service.js';
import { createRlSpec } from './rl-training/rl-machine.js';
import { SERVICE_NAMES, type ServiceName } from './services.js';

/** What a service needs from the process hosting it. */
export interface ServiceContext {
  readonly config: Config;
  readonly bus: EventBus;
  /** The process's producer id; also the stable consumer name of its actors. */
  readonly producer: string;
  readonly log: Logger;
  readonly registry: Registry;
  /** The service's HTTP server (routes are added before it listens). */
  readonly http: {
    readonly app: FastifyInstance;
    readonly guardAdmin: AdminGuard;
  };
  /** A replay at max speed in this process: its event clock is every service's clock (src/actors/replay-run.ts). */
  readonly replay?: ReplayRun | undefined;
  /** A CSV feed already being read ({@link openCsvFeedEarly}), for marketdata. */
  readonly csvFeed?: Promise<MarketFeed> | undefined;
}

/**
 * A service, prepared in two phases so the process can serve HTTP before
 * Redis answers: preparing it builds its parts and registers its routes (no
 * Redis needed; a route that needs an actor answers 503 until it runs);
 * `start()` then starts what needs Redis (its actor hosts), and is called
 * again, after a failure, until it succeeds. `go()` runs once every HTTP
 * server listens (e.g. the feed starts ticking; with Redis down its events
 * go to the disk buffer).
 */
export interface PreparedService {
  readonly name: ServiceName;
  start?(): Promise<void>;
  /** The service's own dependencies in its `/health`, beside the bus's (execution: the PostgreSQL trade store). */
  dependencies?(): Promise<Record<string, DependencyHealth>>;
  go?(): void;
  close(): Promise<void>;
}

type Preparer = (ctx: ServiceContext) => Promise<Omit<PreparedService, 'name'>>;

/**
 * `fn` memoized on success: a retried start re-runs only the steps that
 * have not succeeded yet (an actor host already consuming is not started twice).
 */
function onceOk(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => {
    done ??= fn().catch((err) => {
      done = undefined;
      throw err;
    });
    return done;
  };
}

/** Hosts a plain actor: the spec's topics in, its outputs out. */
async function hostActor<M extends AnyStateMachine>(ctx: ServiceContext, spec: ActorSpec<M>, source: string) {
  const host = new ActorHost({
    spec,
    redis: ctx.bus.redis,
    keys: ctx.bus.keys,
    producer: ctx.producer,
    source,
    consumer: ctx.producer,
    log: ctx.log,
    registry: ctx.registry,
    ...(ctx.replay ? { now: ctx.replay.now } : {}),
  });
  return { start: onceOk(() => host.start()), close: () => host.close() };
}

/**
 * Starts reading the configured CSV files when this process replays them
 * (marketdata hosted here, `QT_FEED_CSV` set), so that parsing a long file
 * overlaps the rest of start-up (Redis, the disk buffer, the other
 * services); marketdata awaits it. A file that cannot be read fails that
 * await, as it would have failed opening it there. Undefined otherwise.
 */
export function openCsvFeedEarly(config: Config, services: readonly ServiceName[]): Promise<MarketFeed> | undefined {
  const live = config.feed.source === 'binance' || config.feed.source === 'binance-testnet';
  if (!services.includes('marketdata') || live || !config.feed.csvPath) return undefined;
  const feed = openCsvFeed(config.feed, { speed: config.feed.csvSpeed });
  // Observed here; the error reaches whoever awaits it (or nobody, if start-up stops first).
  feed.catch(() => undefined);
  return feed;
}

/**
 * The configured market feed (`config.feed.source`): the live Binance feed
 * (its back-fill spends the shared Binance budget in Redis, hence `deps`), a
 * CSV replay when QT_FEED_CSV is set, else the seeded synthetic walk.
 */
export async function openFeed(config: Config, deps: BinanceFeedDeps): Promise<MarketFeed> {
  if (config.feed.source === 'binance' || config.feed.source === 'binance-testnet')
    return openBinanceFeed(config, deps);
  if (config.feed.csvPath) return openCsvFeed(config.feed, { speed: config.feed.csvSpeed });
  return createSyntheticFeed({
    seed: config.feed.seed,
    symbols: config.feed.symbols.map((s) => ({ ...s })),
    ticksPerSecond: config.feed.ticksPerSecond,
    startAt: Date.now(),
  });
}

/** How each implemented service is prepared. Services without an entry serve only health, metrics and admin. */
const PREPARERS: Partial<Record<ServiceName, Preparer>> = {
  marketdata: async (ctx) => {
    const { bus, log, replay } = ctx;
    const feed = await (ctx.csvFeed ?? openFeed(ctx.config, { redis: bus.redis, keys: bus.keys, log }));
    let maxSpeed: MaxSpeedReplay | undefined;
    if (replay && 'nextAt' in feed && typeof feed.nextAt === 'function') {
      const paced = feed as MaxSpeedReplay['feed'];
      // Services starting before the first instant (the ESS's first CLOCK) read the replay's first time.
      replay.advanceTo(paced.nextAt() ?? 0);
      maxSpeed = { feed: paced, pacer: new ReplayPacer({ run: replay, redis: bus.redis, keys: bus.keys, log }) };
    }
    const service = new MarketDataService({ publisher: bus.publisher, feed, log, ...(maxSpeed ? { maxSpeed } : {}) });
    service.registerRoutes(ctx.http.app, ctx.http.guardAdmin);
    return { go: () => service.start(), close: () => service.close() };
  },
  'ai-engine': (ctx) => hostActor(ctx, createAiSpec(), 'ai-engine'),
  'risk-safety': async (ctx) => {
    const { bus, config, producer, log, registry } = ctx;
    const ess = new EssService({
      redis: bus.redis,
      keys: bus.keys,
      publisher: bus.publisher,
      config,
      producer,
      consumer: producer,
      log,
      registry,
      ...(ctx.replay ? { now: ctx.replay.now, replay: true } : {}),
    });
    const store = new PolicyStore({ redis: bus.redis, keys: bus.keys });
    const pretrade = new PretradeService({
      redis: bus.redis,
      keys: bus.keys,
      producer,
      consumer: producer,
      log,
      registry,
      ...(ctx.replay ? { now: ctx.replay.now } : {}),
    });
    ess.registerRoutes(ctx.http.app, ctx.http.guardAdmin, { pretrade });
    registerPolicyRoutes(ctx.http.app, { store, publisher: bus.publisher, guardAdmin: ctx.http.guardAdmin, log });
    const startEss = onceOk(async () => {
      await ess.start();
      log.info(ess.status(), 'emergency stop system restored');
    });
    // Pre-trade takes the policy from the events: a stored one no event carries is published first.
    const announce = onceOk(async () => {
      await announceStoredPolicy({ store, publisher: bus.publisher, redis: bus.redis, keys: bus.keys, log });
    });
    const startPretrade = onceOk(() => pretrade.start());
    return {
      start: async () => {
        await startEss();
        await announce();
        await startPretrade();
      },
      close: async () => {
        await pretrade.close();
        await ess.close();
      },
    };
  },
  execution: async (ctx) => {
    const { bus, config, producer, log, registry, replay } = ctx;
    const clock = replay ? { now: replay.now } : {};
    const service = new ExecutionService({
      redis: bus.redis,
      keys: bus.keys,
      producer,
      consumer: producer,
      venue: venueFromConfig(config, { redis: bus.redis, keys: bus.keys, log, ...clock }),
      dataDir: config.dataDir,
      tradeStore: tradeStoreFromConfig(config, { log }),
      ...(config.tradeStore.kind === 'sqlite'
        ? {}
        : { tradeStoreBackoff: { ...config.tradeStore.postgres.retry, jitter: 'equal' as const } }),
      brackets: { takeProfit: config.execution.takeProfit, stopLoss: config.execution.stopLoss },
      maxPendingMs: config.execution.maxPendingMs,
      log,
      registry,
      ...clock,
    });
    // A replay at max speed waits for the orders execution still has to send.
    replay?.addWorkProbe('execution', () => service.work());
    watchVenueUsage(registry, service.venue);
    service.registerRoutes(ctx.http.app);
    return {
      start: onceOk(async () => {
        await service.start();
        log.info({ venue: service.venue.venue }, 'execution started');
      }),
      dependencies: () => service.dependencies(),
      close: () => service.close(),
    };
  },
  'portfolio-intelligence': (ctx) => hostActor(ctx, portfolioSpec, 'portfolio-intelligence'),
  'rl-training': (ctx) => hostActor(ctx, createRlSpec(ctx.config.rl), 'rl-training'),
  'monitoring-health': async (ctx) => {
    const service = new MonitoringService({
      config: ctx.config,
      redis: ctx.bus.redis,
      keys: ctx.bus.keys,
      publisher: ctx.bus.publisher,
      producer: ctx.producer,
      log: ctx.log,
      registry: ctx.registry,
    });
    service.registerRoutes(ctx.http.app, ctx.http.guardAdmin);
    return { go: () => service.go(), start: onceOk(() => service.start()), close: () => service.close() };
  },
};

/** Services that run actors today; the others serve health, metrics and admin only. */
export const IMPLEMENTED_SERVICES = SERVICE_NAMES.filter((n) => PREPARERS[n] !== undefined);

/**
 * Prepares the chosen services in dependency order (see PreparedService).
 * If one cannot be prepared (e.g. an unreadable CSV feed), the ones already
 * prepared are closed (in reverse order) before the error is rethrown.
 */
export async function prepareServices(
  services: readonly ServiceName[],
  context: (name: ServiceName) => ServiceContext,
): Promise<PreparedService[]> {
  const prepared: PreparedService[] = [];
  try {
    for (const name of SERVICE_NAMES.filter((n) => services.includes(n))) {
      const prepare = PREPARERS[name];
      if (prepare) prepared.push({ name, ...(await prepare(context(name))) });
    }
  } catch (err) {
    await stopServices(prepared);
    throw err;
  }
  return prepared;
}

/** Closes services in reverse start order: consumers of a topic stop before its producers. */
export async function stopServices(services: readonly PreparedService[]): Promise<void> {
  for (const s of [...services].reverse()) await s.close();
}
