import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import type { Logger } from '../../log.js';
import type { Keys } from '../../streams/keys.js';
import { ActorHost } from '../host.js';
import { takeOutbox } from '../outbox.js';
import { ACTOR_TOPICS } from '../services.js';
import { type PretradeMachine, pretradeMachine, toPretradeEvents } from './pretrade-machine.js';

/**
 * Hosts the pre-trade actor in risk-safety: `signal.generated` →
 * `order.approved` / `order.rejected`. Everything a decision depends on is
 * an event the actor consumes: positions from `portfolio.updated`, open
 * orders from the order outcomes, the sizing model from `model.promoted`
 * (rl-training), the ESS state from the `ess` stream and the policy from
 * `risk.policy_updated`. The decision time is the host clock when the signal
 * is applied, recorded in the decision (docs/actors.md, pre-trade).
 */
export class PretradeService {
  readonly host: ActorHost<PretradeMachine>;

  constructor(options: {
    redis: Redis;
    keys: Keys;
    producer: string;
    consumer: string;
    log?: Logger;
    registry?: Registry;
    /** The host clock: decision times (injected by tests). */
    now?: () => number;
  }) {
    this.host = new ActorHost({
      spec: {
        name: 'pretrade',
        machine: pretradeMachine,
        topics: ACTOR_TOPICS.pretrade,
        toEvents: toPretradeEvents,
        takeOutputs: takeOutbox,
      },
      redis: options.redis,
      keys: options.keys,
      producer: options.producer,
      source: 'risk-safety',
      consumer: options.consumer,
      ...(options.log ? { log: options.log } : {}),
      ...(options.registry ? { registry: options.registry } : {}),
      ...(options.now ? { now: options.now } : {}),
    });
  }

  async start(): Promise<void> {
    await this.host.start();
  }

  async close(): Promise<void> {
    await this.host.close();
  }
}
