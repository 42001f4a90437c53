/**
 * The monitoring-health service (port 8080; docs/monitoring.md): the
 * collection loop (Monitor), the alert engine with its state in Redis
 * (AlertKeeper), the optional webhook, the HTTP API, and a consumer of the
 * `ess` stream so that `ess.tripped` raises its CRITICAL alert at once
 * rather than at the next cycle.
 *
 * Phases (PreparedService): prepared without Redis (routes registered),
 * `go()` starts the cycles (they run with Redis down too), `start()` loads
 * the alert state and starts the consumer once Redis answers.
 */
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import type { Config } from '../../config/load.js';
import type { AdminGuard } from '../../http/auth.js';
import { type Logger, silentLogger } from '../../log.js';
import { StreamConsumer } from '../../streams/consumer.js';
import type { Keys } from '../../streams/keys.js';
import type { Publisher } from '../../streams/publisher-contract.js';
import { ACTOR_TOPICS } from '../services.js';
import { AlertKeeper } from './alert-keeper.js';
import { AlertStore } from './alert-store.js';
import { essTrippedInput } from './alerts.js';
import { Monitor } from './monitor.js';
import { monitorMetrics } from './monitor-metrics.js';
import { registerMonitoringRoutes } from './monitoring-routes.js';
import { serviceTargets } from './poll-services.js';
import { exchangeTarget } from './probe-infra.js';
import { type PostgresProbe, postgresProbeFromConfig } from './probe-postgres.js';
import { WebhookNotifier } from './webhook.js';

/** The consumer group (and actor name) of monitoring-health. */
export const MONITORING_GROUP = 'monitoring-health';

/** What the service needs from its process. */
export interface MonitoringServiceOptions {
  readonly config: Config;
  readonly redis: Redis;
  readonly keys: Keys;
  readonly publisher: Publisher;
  readonly producer: string;
  readonly log?: Logger;
  readonly registry: Registry;
}

/** monitoring-health; see the file comment. */
export class MonitoringService {
  /** What its consumer group reads: the service table's `consumes` for monitoring-health. */
  static readonly topics: readonly string[] = ACTOR_TOPICS[MONITORING_GROUP];
  readonly monitor: Monitor;
  readonly keeper: AlertKeeper;
  readonly #webhook: WebhookNotifier | undefined;
  readonly #consumers: StreamConsumer[];
  readonly #postgres: PostgresProbe | undefined;
  readonly #log: Logger;

  /** Throws QT_CONFIG_INVALID when QT_HEALTH_TARGETS names an unknown service. */
  constructor(options: MonitoringServiceOptions) {
    const { config, redis, keys, publisher, registry } = options;
    this.#log = (options.log ?? silentLogger).child({ service: 'monitoring-health' });
    const metrics = monitorMetrics(registry);
    this.#webhook = config.health.webhookUrl
      ? new WebhookNotifier({ url: config.health.webhookUrl, log: this.#log })
      : undefined;
    this.keeper = new AlertKeeper({
      store: new AlertStore(redis, keys),
      publisher,
      metrics,
      historyLimit: config.health.historyLimit,
      webhook: this.#webhook,
      log: this.#log,
    });
    this.#postgres = postgresProbeFromConfig(config);
    this.monitor = new Monitor({
      config,
      redis,
      keys,
      publisher,
      keeper: this.keeper,
      targets: serviceTargets(config),
      exchange: exchangeTarget(config, redis, keys),
      postgres: this.#postgres,
      metrics,
      log: this.#log,
    });
    this.#consumers = MonitoringService.topics.map(
      (topic) =>
        new StreamConsumer({
          redis,
          keys,
          topic,
          group: MONITORING_GROUP,
          consumer: options.producer,
          // A new group starts at the present: trips from before monitoring existed are the ESS's history, not alerts.
          startFrom: '$',
          handler: async (event) => {
            if (event.type !== 'ess.tripped') return;
            const data = event.data as { trigger: string; reason: string };
            await this.keeper.apply(essTrippedInput(event.time, data.trigger, data.reason));
          },
          log: this.#log,
          registry,
          ...config.consumer,
        }),
    );
  }

  registerRoutes(app: FastifyInstance, guardAdmin: AdminGuard): void {
    registerMonitoringRoutes(
      app,
      {
        latest: () => this.monitor.latest,
        keeper: this.keeper,
        webhook: () => this.#webhook?.counts ?? null,
        counters: () => ({ cycles: this.monitor.latest?.cycle ?? 0 }),
      },
      guardAdmin,
      this.#log,
    );
  }

  /** Starts the cycles (Redis not needed). */
  go(): void {
    this.monitor.start();
  }

  /** Loads the alert state and starts the `ess` consumer; throws while Redis does not answer (retried). */
  async start(): Promise<void> {
    await this.keeper.load();
    for (const c of this.#consumers) await c.start();
  }

  async close(): Promise<void> {
    await this.monitor.close();
    for (const c of this.#consumers) await c.close();
    await this.#webhook?.close();
    await this.#postgres?.close();
  }
}
