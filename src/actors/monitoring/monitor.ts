/**
 * The collection loop of monitoring-health: every QT_HEALTH_INTERVAL_MS it
 * polls every service's `GET /health`, Redis, the exchange, PostgreSQL (when
 * the trade store is there) and the trading probes in parallel, each with a
 * timeout; judges the system (`systemHealth`); feeds the checks to the
 * alert engine (AlertKeeper); and publishes `health.snapshot_updated`. A cycle still running when the next
 * is due makes that one skip, never overlap. With Redis down the loop goes
 * on: the snapshot is served over HTTP and published to the disk buffer
 * (docs/monitoring.md).
 */
import type { Redis } from 'ioredis';
import type { Config } from '../../config/load.js';
import { type Logger, silentLogger } from '../../log.js';
import type { Keys } from '../../streams/keys.js';
import type { Publisher } from '../../streams/publisher-contract.js';
import type { AlertKeeper } from './alert-keeper.js';
import { HEALTH_CODE, type monitorMetrics, SYSTEM_CODE } from './monitor-metrics.js';
import { type PolledService, pollServices, type ServiceTarget } from './poll-services.js';
import { type ExchangeTarget, type InfraReading, probeExchange, probeRedis } from './probe-infra.js';
import type { PostgresProbe } from './probe-postgres.js';
import { bufferProbes, FeedWatch, GapWatch, lagProbes, readEss, redisTime } from './probe-trading.js';
import type { ProbeResult } from './probes.js';
import { ProcessMap, type ProcessView } from './processes.js';
import {
  alertChecks,
  type EssObservation,
  type SystemHealth,
  type SystemLevel,
  type SystemObservation,
  systemHealth,
  systemStatus,
} from './system-status.js';

/** One cycle's result: what was observed and the verdict; served by `GET /health/system`. */
export interface HealthSnapshot {
  readonly at: string;
  readonly cycle: number;
  readonly durationMs: number;
  readonly observation: SystemObservation;
  readonly health: SystemHealth;
  /** The verdict without the ESS's own state (what the ESS judges). */
  readonly statusExcludingEss: SystemLevel;
  readonly infrastructure: readonly InfraReading[];
}

/** Settings of {@link Monitor}. */
export interface MonitorOptions {
  readonly config: Config;
  readonly redis: Redis;
  readonly keys: Keys;
  readonly publisher: Publisher;
  readonly keeper: AlertKeeper;
  readonly targets: readonly ServiceTarget[];
  readonly exchange: ExchangeTarget;
  /** The PostgreSQL trade store, when configured: `postgres` joins the infrastructure. */
  readonly postgres?: PostgresProbe | undefined;
  readonly metrics: ReturnType<typeof monitorMetrics>;
  readonly log?: Logger;
  readonly now?: () => number;
}

/** Runs the cycles; see the file comment. */
export class Monitor {
  readonly #o: MonitorOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #feed: FeedWatch;
  readonly #gaps = new GapWatch();
  readonly #processes = new ProcessMap();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #cycle = 0;
  #latest: HealthSnapshot | undefined;
  #closed = false;
  /** The status of the previous cycle: a change is logged. */
  #previousStatus: SystemLevel | undefined;
  /** When start() ran: cycles within one interval of it see services still starting. */
  #startedAt: number | undefined;

  constructor(options: MonitorOptions) {
    this.#o = options;
    this.#log = options.log ?? silentLogger;
    this.#now = options.now ?? Date.now;
    this.#feed = new FeedWatch(this.#now());
  }

  /** The last cycle's snapshot; undefined before the first ends. */
  get latest(): HealthSnapshot | undefined {
    return this.#latest;
  }

  /** Starts the cycles: the first at once, then every interval. */
  start(): void {
    if (this.#timer || this.#closed) return;
    this.#startedAt = this.#now();
    this.#tick();
    this.#timer = setInterval(() => this.#tick(), this.#o.config.health.intervalMs);
  }

  #tick(): void {
    if (this.#running) {
      this.#log.warn({ cycle: this.#cycle }, 'health cycle still running when the next was due: skipped one');
      return;
    }
    this.#running = this.runCycle()
      .then(
        () => undefined,
        (err) => this.#log.error({ err }, 'health cycle failed'),
      )
      .finally(() => {
        this.#running = undefined;
      });
  }

  /** One cycle: observe, judge, alert, publish. Exposed for tests; the timer calls it. */
  async runCycle(): Promise<HealthSnapshot> {
    const started = performance.now();
    const { health: settings } = this.#o.config;
    const { observation, infrastructure, processes } = await this.#observe();
    const health = systemHealth(observation);
    const statusExcludingEss = systemStatus({ ...observation, ess: null }).status;
    const at = new Date(this.#now()).toISOString();
    const snapshot: HealthSnapshot = {
      at,
      cycle: ++this.#cycle,
      durationMs: Math.round(performance.now() - started),
      observation,
      health,
      statusExcludingEss,
      infrastructure,
    };
    this.#latest = snapshot;
    this.#record(snapshot);
    if (this.#o.keeper.loaded) {
      const checks = [...alertChecks(observation), ...processes.checks];
      await this.#o.keeper.apply({ type: 'evaluation', at, checks }, processes.graph);
    }
    await this.#o.publisher.publish('health.snapshot_updated', snapshotEvent(snapshot), {
      deadlineMs: Math.min(settings.timeoutMs, 2_000),
    });
    return snapshot;
  }

  async #observe(): Promise<{
    observation: SystemObservation;
    infrastructure: InfraReading[];
    processes: ProcessView;
  }> {
    const { config, redis } = this.#o;
    const s = config.health;
    const [polled, redisReading, exchange, trading, postgres] = await Promise.all([
      pollServices(this.#o.targets, { timeoutMs: s.timeoutMs, slowMs: s.httpSlowMs }),
      probeRedis(redis, { timeoutMs: s.timeoutMs, slowMs: s.redisSlowMs, minReplicas: config.redis.minReplicasAck }),
      probeExchange(this.#o.exchange, {
        timeoutMs: s.timeoutMs,
        slowMs: s.httpSlowMs,
        weight: s.thresholds.exchangeWeight,
        clockSkew: s.thresholds.clockSkewMs,
      }),
      this.#tradingProbes(),
      this.#o.postgres?.probe({ timeoutMs: s.timeoutMs }),
    ]);
    const probes: ProbeResult[] = [
      ...trading.probes,
      ...bufferProbes(polled, s.thresholds),
      ...this.#gaps.probes(polled, s.thresholds.sequenceGaps),
      ...exchange.probes,
    ];
    const infrastructure = [redisReading, exchange.reading, ...(postgres ? [postgres] : [])];
    return {
      observation: {
        services: polled.map((p: PolledService) => p.observation),
        infrastructure,
        probes,
        ess: trading.ess,
      },
      infrastructure,
      processes: this.#processes.view(polled),
    };
  }

  /**
   * The probes read from Redis: the feed's age, the groups' lag, the ESS.
   * With Redis not answering they are not measured (the alert engine keeps
   * their last known checks) and the ESS is unknown.
   */
  async #tradingProbes(): Promise<{ probes: ProbeResult[]; ess: EssObservation }> {
    const { redis, keys, config } = this.#o;
    const { timeoutMs, thresholds } = config.health;
    try {
      const now = await redisTime(redis, timeoutMs);
      const [feed, lag, ess] = await Promise.all([
        this.#feed.probe(redis, keys, now, thresholds.staleFeedMs, timeoutMs),
        lagProbes(redis, keys, now, thresholds, timeoutMs),
        readEss(redis, keys, timeoutMs),
      ]);
      return { probes: [...feed, ...lag], ess };
    } catch (err) {
      return { probes: [], ess: { known: false, error: `redis: ${(err as Error).message}` } };
    }
  }

  #record(snapshot: HealthSnapshot): void {
    const { metrics } = this.#o;
    metrics.cycles.inc();
    metrics.cycleDuration.set(snapshot.durationMs / 1_000);
    metrics.system.set(SYSTEM_CODE[snapshot.health.status]);
    for (const s of snapshot.observation.services) metrics.service.set({ service: s.service }, HEALTH_CODE[s.status]);
    for (const i of snapshot.infrastructure) metrics.infrastructure.set({ component: i.name }, HEALTH_CODE[i.status]);
    if (snapshot.health.status !== this.#previousStatus) {
      const findings = snapshot.health.findings.map((f) => f.message);
      if (snapshot.health.status !== 'OK' && this.#startingUp()) {
        // The services of this very process are still starting (their actors
        // wait for Redis): not yet a finding. Not remembered either, so a
        // status that holds past the first interval is logged at its level.
        this.#log.info({ findings }, `system ${snapshot.health.status} while starting up`);
        return;
      }
      const level = snapshot.health.status === 'OK' ? 'info' : snapshot.health.status === 'DEGRADED' ? 'warn' : 'error';
      this.#log[level]({ findings }, `system ${snapshot.health.status}`);
      this.#previousStatus = snapshot.health.status;
    }
  }

  /** Within one health interval of start(): the first cycle runs while the services are coming up. */
  #startingUp(): boolean {
    return this.#startedAt !== undefined && this.#now() - this.#startedAt < this.#o.config.health.intervalMs;
  }

  /** Stops the cycles and waits for the one running. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#running;
  }
}

/** The `health.snapshot_updated` data of a snapshot. */
export function snapshotEvent(snapshot: HealthSnapshot) {
  const component = (o: { status: 'OK' | 'DEGRADED' | 'DOWN'; latencyMs?: number | null; error?: string }) => ({
    status: o.status,
    latencyMs: o.latencyMs ?? null,
    ...(o.error === undefined ? {} : { error: o.error }),
  });
  const { health, observation } = snapshot;
  return {
    status: health.status,
    statusExcludingEss: snapshot.statusExcludingEss,
    services: Object.fromEntries(observation.services.map((s) => [s.service, component(s)])),
    infrastructure: Object.fromEntries(observation.infrastructure.map((i) => [i.name, component(i)])),
    probes: (observation.probes ?? []).map(({ component: c, condition, status, reason }) => ({
      component: c,
      condition,
      status,
      reason,
    })),
    findings: [...health.findings],
    criticalFailures: health.counts.critical_failures,
    averageLatencyMs: health.counts.average_latency_ms,
    maxLatencyMs: health.counts.max_latency_ms,
  };
}
