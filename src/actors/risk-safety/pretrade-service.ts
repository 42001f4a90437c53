import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import type { EssState } from '../../events/catalog.js';
import type { Envelope } from '../../events/envelope.js';
import { type Logger, silentLogger } from '../../log.js';
import type { Keys } from '../../streams/keys.js';
import { ActorHost } from '../host.js';
import { takeOutbox } from '../outbox.js';
import { sizingModelOf } from '../rl-training/sizing.js';
import { DEFAULT_RISK_POLICY, type PolicyStore, type RiskPolicy } from './policy.js';
import { type PretradeEvent, type PretradeMachine, pretradeMachine } from './pretrade-machine.js';

/** How often the stored policy is read again (PUT /policy takes effect within this). */
export const POLICY_REFRESH_MS = 1_000;

/**
 * Hosts the pre-trade actor in risk-safety: `signal.generated` →
 * `order.approved` / `order.rejected`, with positions from
 * `portfolio.updated`, open orders from the order outcomes, and the live
 * sizing model from `model.promoted` (rl-training). Each decision uses the
 * ESS state of this process and the current stored policy.
 */
export class PretradeService {
  readonly host: ActorHost<PretradeMachine>;
  readonly #store: PolicyStore;
  readonly #log: Logger;
  #policy: RiskPolicy = DEFAULT_RISK_POLICY;
  #refresh: NodeJS.Timeout | undefined;

  constructor(options: {
    redis: Redis;
    keys: Keys;
    producer: string;
    consumer: string;
    store: PolicyStore;
    essState: () => EssState;
    log?: Logger;
    registry?: Registry;
    now?: () => number;
  }) {
    this.#store = options.store;
    this.#log = options.log ?? silentLogger;
    const now = options.now ?? Date.now;
    const toEvents = (event: Envelope): PretradeEvent[] => {
      switch (event.type) {
        case 'signal.generated':
          return [
            {
              type: 'SIGNAL',
              signal: event.data,
              signalTime: Date.parse(event.time),
              now: now(),
              essState: options.essState(),
              policy: this.#policy,
            },
          ];
        case 'portfolio.updated':
          return [
            {
              type: 'POSITIONS',
              positions: Object.fromEntries(event.data.positions.map((p) => [p.symbol, { quantity: p.quantity }])),
            },
          ];
        case 'model.promoted':
          return [{ type: 'MODEL_PROMOTED', model: sizingModelOf(event.data) }];
        case 'order.filled':
        case 'order.cancelled':
        case 'order.failed':
          return [{ type: 'ORDER_CLOSED' }];
        default:
          return [];
      }
    };
    this.host = new ActorHost({
      spec: {
        name: 'pretrade',
        machine: pretradeMachine,
        topics: ['signal', 'portfolio', 'order', 'model'],
        toEvents,
        takeOutputs: takeOutbox,
      },
      redis: options.redis,
      keys: options.keys,
      producer: options.producer,
      source: 'risk-safety',
      consumer: options.consumer,
      ...(options.log ? { log: options.log } : {}),
      ...(options.registry ? { registry: options.registry } : {}),
      now,
    });
  }

  async start(): Promise<void> {
    this.#policy = await this.#store.load();
    this.#refresh = setInterval(() => {
      this.#store.load().then(
        (p) => {
          this.#policy = p;
        },
        (err) => this.#log.warn({ err: (err as Error).message }, 'risk policy not refreshed'),
      );
    }, POLICY_REFRESH_MS);
    this.#refresh.unref();
    await this.host.start();
  }

  async close(): Promise<void> {
    clearInterval(this.#refresh);
    await this.host.close();
  }
}
