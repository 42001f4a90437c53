/**
 * Signals a scenario sends on the bus as ai-engine would
 * (`signal.generated`, confidence 0.9, at the price it names), so the
 * orders it looks at are its own, and the decisions risk-safety took on
 * them.
 */
import { randomUUID } from 'node:crypto';
import type { Envelope } from '../../src/events/envelope.js';
import { RedisPublisher } from '../../src/streams/publisher.js';
import type { Cluster } from './cluster.js';
import { eventsOf } from './probes.js';

/** Publishes signals under one producer id. */
export class SignalSender {
  readonly #publisher: RedisPublisher;

  constructor(cluster: Cluster, producer: string) {
    this.#publisher = new RedisPublisher({
      redis: cluster.redis.client(),
      keys: cluster.keys,
      producer,
      source: 'simulator',
    });
  }

  /** Sends one signal; its signalId. */
  async send(symbol: string, side: 'buy' | 'sell', price: number): Promise<string> {
    const signalId = randomUUID();
    await this.#publisher.publish('signal.generated', {
      signalId,
      symbol,
      side,
      confidence: 0.9,
      price,
      strategies: [],
    });
    return signalId;
  }
}

/** The `order.approved` of a signal, if risk-safety approved it (and the order events so far). */
export async function approvalOf(cluster: Cluster, signalId: string): Promise<Envelope | undefined> {
  return (await eventsOf(cluster, 'order')).find(
    (e) => e.type === 'order.approved' && (e.data as { signalId?: string }).signalId === signalId,
  );
}
