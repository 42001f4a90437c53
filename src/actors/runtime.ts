import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { AnyStateMachine } from 'xstate';
import type { Config } from '../config/load.js';
import { venueFromConfig } from '../exchange/open-venue.js';
import type { AdminGuard } from '../http/auth.js';
import type { Logger } from '../log.js';
import type { EventBus } from '../streams/event-bus.js';
import { createAiSpec } from './ai-engine/ai-machine.js';
import { ExecutionService } from './execution/execution-service.js';
import { ActorHost, type ActorSpec } from './host.js';
import { createCsvFeed, parseOhlcvCsv } from './marketdata/csv-feed.js';
import type { MarketFeed } from './marketdata/feed.js';
import { MarketDataService } from './marketdata/service.js';
import { createSyntheticFeed } from './marketdata/synthetic-feed.js';
import { portfolioSpec } from './portfolio/portfolio-machine.js';
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
}

/** A started service. `go()` runs once every HTTP server listens (e.g. the feed starts ticking). */
export interface RunningService {
  readonly name: ServiceName;
  go?(): void;
  close(): Promise<void>;
}

type Starter = (ctx: ServiceContext) => Promise<Omit<RunningService, 'name'>>;

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
  });
  await host.start();
  return { close: () => host.close() };
}

/** The configured market feed: a CSV replay when QT_FEED_CSV is set, else the seeded synthetic walk. */
export async function openFeed(config: Config): Promise<MarketFeed> {
  if (config.feed.csvPath) {
    const candles = parseOhlcvCsv(await readFile(config.feed.csvPath, 'utf8'), config.feed.csvSymbol);
    return createCsvFeed(candles, { startAt: Date.now(), speed: config.feed.csvSpeed });
  }
  return createSyntheticFeed({
    seed: config.feed.seed,
    symbols: config.feed.symbols.map((s) => ({ ...s })),
    ticksPerSecond: config.feed.ticksPerSecond,
    startAt: Date.now(),
  });
}

/** How each implemented service starts. Services without an entry serve only health, metrics and admin. */
const STARTERS: Partial<Record<ServiceName, Starter>> = {
  marketdata: async (ctx) => {
    const feed = await openFeed(ctx.config);
    const service = new MarketDataService({ publisher: ctx.bus.publisher, feed, log: ctx.log });
    service.registerRoutes(ctx.http.app, ctx.http.guardAdmin);
    return { go: () => service.start(), close: () => service.close() };
  },
  'ai-engine': (ctx) => hostActor(ctx, createAiSpec(), 'ai-engine'),
  'risk-safety': async (ctx) => {
    const { bus, config, producer, log, registry } = ctx;
    const ess = new EssService({
      redis: bus.redis,
      keys: bus.keys,
      config,
      producer,
      consumer: producer,
      log,
      registry,
    });
    await ess.start();
    const store = new PolicyStore({ redis: bus.redis, keys: bus.keys });
    // Pre-trade takes the policy from the events: a stored one no event carries is published first.
    await announceStoredPolicy({ store, publisher: bus.publisher, redis: bus.redis, keys: bus.keys, log });
    const pretrade = new PretradeService({
      redis: bus.redis,
      keys: bus.keys,
      producer,
      consumer: producer,
      log,
      registry,
    });
    await pretrade.start();
    ess.registerRoutes(ctx.http.app, ctx.http.guardAdmin);
    registerPolicyRoutes(ctx.http.app, { store, publisher: bus.publisher, guardAdmin: ctx.http.guardAdmin, log });
    log.info(ess.status(), 'emergency stop system restored');
    return {
      close: async () => {
        await pretrade.close();
        await ess.close();
      },
    };
  },
  execution: async (ctx) => {
    const { bus, config, producer, log, registry } = ctx;
    const service = new ExecutionService({
      redis: bus.redis,
      keys: bus.keys,
      producer,
      consumer: producer,
      venue: venueFromConfig(config, { redis: bus.redis, keys: bus.keys, log }),
      dataDir: config.dataDir,
      brackets: { takeProfit: config.execution.takeProfit, stopLoss: config.execution.stopLoss },
      maxPendingMs: config.execution.maxPendingMs,
      log,
      registry,
    });
    await service.start();
    service.registerRoutes(ctx.http.app);
    log.info({ venue: service.venue.venue }, 'execution started');
    return { close: () => service.close() };
  },
  'portfolio-intelligence': (ctx) => hostActor(ctx, portfolioSpec, 'portfolio-intelligence'),
  'rl-training': (ctx) => hostActor(ctx, createRlSpec(ctx.config.rl), 'rl-training'),
};

/** Services that run actors today; the others serve health, metrics and admin only. */
export const IMPLEMENTED_SERVICES = SERVICE_NAMES.filter((n) => STARTERS[n] !== undefined);

/**
 * Starts the chosen services in dependency order. If one fails to start, the
 * ones already started are closed (in reverse order) before the error is
 * rethrown, so nothing is left half-running.
 */
export async function startServices(
  services: readonly ServiceName[],
  context: (name: ServiceName) => ServiceContext,
): Promise<RunningService[]> {
  const running: RunningService[] = [];
  try {
    for (const name of SERVICE_NAMES.filter((n) => services.includes(n))) {
      const start = STARTERS[name];
      if (start) running.push({ name, ...(await start(context(name))) });
    }
  } catch (err) {
    await stopServices(running);
    throw err;
  }
  return running;
}

/** Closes services in reverse start order: consumers of a topic stop before its producers. */
export async function stopServices(running: readonly RunningService[]): Promise<void> {
  for (const s of [...running].reverse()) await s.close();
}
