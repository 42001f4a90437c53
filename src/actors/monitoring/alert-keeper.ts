/**
 * The alert engine at work: holds its state, applies each input (a cycle's
 * checks, an `ess.tripped`, an operator's clear) one at a time, saves the
 * result in Redis with its events in the outbox, publishes the events
 * (`health.alert_raised` / `health.alert_cleared`; with Redis down they go
 * to the disk buffer, durably), saves again with the outbox empty, and hands
 * each event to the webhook. A save that fails (Redis down) is retried at
 * the next input: publishing never waits for it (docs/monitoring.md,
 * "Persistence").
 */
import { type Logger, silentLogger } from '../../log.js';
import { Mutex } from '../../streams/mutex.js';
import type { Publisher } from '../../streams/publisher-contract.js';
import { type AlertStore, EMPTY_ALERTS, type StoredAlerts } from './alert-store.js';
import {
  type Alert,
  type AlertEvent,
  type AlertInput,
  type AlertOptions,
  type AlertStep,
  stepAlerts,
} from './alerts.js';
import { countActive, type monitorMetrics } from './monitor-metrics.js';
import { type WebhookNotifier, webhookNotice } from './webhook.js';

/** Settings of {@link AlertKeeper}. */
export interface AlertKeeperOptions {
  readonly store: AlertStore;
  readonly publisher: Publisher;
  readonly metrics: ReturnType<typeof monitorMetrics>;
  readonly historyLimit: number;
  readonly webhook?: WebhookNotifier | undefined;
  readonly log?: Logger;
}

/** Keeps the alerts: see the file comment. */
export class AlertKeeper {
  readonly #o: AlertKeeperOptions;
  readonly #log: Logger;
  readonly #lock = new Mutex();
  #stored: StoredAlerts = EMPTY_ALERTS;
  #loaded = false;
  /** The state in memory is newer than the one in Redis. */
  #unsaved = false;
  #graph: AlertOptions['graph'];

  constructor(options: AlertKeeperOptions) {
    this.#o = options;
    this.#log = options.log ?? silentLogger;
  }

  /** True once the state was loaded from Redis (alerts are judged only then). */
  get loaded(): boolean {
    return this.#loaded;
  }

  /** The alerts not yet resolved, newest first. */
  active(): Alert[] {
    return Object.values(this.#stored.state.active).sort((a, b) => b.timestamp.localeCompare(a.timestamp));
  }

  /** Resolved alerts, newest first. */
  history(limit: number): Alert[] {
    return this.#stored.state.history.slice(0, limit);
  }

  /**
   * Loads the state from Redis (throws while Redis does not answer; the
   * caller retries) and publishes what the outbox still holds: the events of
   * a step a crash may have cut short.
   */
  async load(): Promise<void> {
    await this.#lock.run(async () => {
      if (this.#loaded) return;
      const loaded = await this.#o.store.load();
      if (!loaded.found && loaded.unreadable)
        this.#log.error(
          { key: this.#o.store.key, why: loaded.unreadable },
          'alert state unreadable: set aside, starting afresh',
        );
      this.#stored = loaded.found ? loaded.stored : EMPTY_ALERTS;
      this.#loaded = true;
      countActive(this.#o.metrics, this.active());
      const outbox = this.#stored.outbox;
      if (outbox.length > 0) {
        this.#log.warn({ events: outbox.length }, 'publishing alert events a previous run may not have published');
        await this.#publish(outbox);
        await this.#save({ ...this.#stored, outbox: [] });
      }
      this.#log.info(
        { active: Object.keys(this.#stored.state.active).length, history: this.#stored.state.history.length },
        'alert state loaded',
      );
    });
  }

  /** Applies one input; the step's events are published before this resolves. Refused before `load()`. */
  async apply(input: AlertInput, graph?: AlertOptions['graph']): Promise<AlertStep> {
    return this.#lock.run(async () => {
      if (!this.#loaded) throw new Error('the alert state is not loaded yet (waiting for Redis)');
      const before = this.#stored.state;
      // The last cycle's graph (with its processes) also judges the inputs between cycles.
      if (graph) this.#graph = graph;
      const step = stepAlerts(before, input, { historyLimit: this.#o.historyLimit, graph: this.#graph });
      if (step.refused) return step;
      // Events an earlier publish failed to send (or load() could not) stay in the outbox, ahead of this step's.
      const outbox = [...this.#stored.outbox, ...step.events];
      this.#stored = { version: this.#stored.version + 1, state: step.state, outbox };
      // A cycle that changed only the checks' wording need not be written; one that changed alerts must.
      const changed =
        outbox.length > 0 ||
        input.type !== 'evaluation' ||
        JSON.stringify(step.state.active) !== JSON.stringify(before.active);
      if (changed || this.#unsaved) await this.#save(this.#stored);
      if (outbox.length > 0) {
        await this.#publish(outbox);
        this.#stored = { ...this.#stored, outbox: [] };
        await this.#save(this.#stored);
      }
      countActive(this.#o.metrics, this.active());
      return step;
    });
  }

  async #save(stored: StoredAlerts): Promise<void> {
    try {
      await this.#o.store.save(stored);
      this.#unsaved = false;
    } catch (err) {
      this.#unsaved = true;
      this.#log.warn({ err: (err as Error).message }, 'alert state not saved; retried at the next cycle');
    }
  }

  async #publish(events: readonly AlertEvent[]): Promise<void> {
    for (const event of events) {
      await this.#o.publisher.publish(event.type, event.data as never);
      if (event.type === 'health.alert_raised') {
        this.#o.metrics.raised.inc({ level: event.data.severity === 'critical' ? 'CRITICAL' : 'WARNING' });
        this.#log.warn({ alertId: event.data.alertId, blastRadius: event.data.blastRadius }, event.data.message);
      } else {
        this.#o.metrics.cleared.inc({ reason: event.data.reason });
        this.#log.info({ alertId: event.data.alertId, reason: event.data.reason }, 'alert cleared');
      }
      const alert = this.#alertOf(event);
      if (alert && this.#o.webhook) this.#o.webhook.notify(webhookNotice(event, alert));
    }
  }

  /** The alert an event is about: active for a raise, the newest resolved occurrence for a clear. */
  #alertOf(event: AlertEvent): Alert | undefined {
    const id = event.data.alertId;
    if (event.type === 'health.alert_raised') return this.#stored.state.active[id];
    return this.#stored.state.history.find((a) => a.alert_id === id);
  }
}
