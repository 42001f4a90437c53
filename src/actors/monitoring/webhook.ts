/**
 * The optional webhook of monitoring-health (QT_HEALTH_WEBHOOK_URL, off by
 * default): each alert raised and cleared is POSTed as JSON with a
 * Slack-compatible `text` field. Sending never blocks a cycle: notices go
 * into a bounded queue a single worker drains in order, each retried with
 * exponential backoff. The URL is a secret (webhook URLs carry their token)
 * and is never logged (docs/monitoring.md, "Webhook").
 */
import { type Backoff, backoffDelay } from '../../backoff.js';
import { type Logger, silentLogger } from '../../log.js';
import type { Alert, AlertEvent } from './alerts.js';

/** Attempts at one notice, the first included. */
export const WEBHOOK_MAX_ATTEMPTS = 6;
/** Delays between attempts: 0.5 s, 1 s, 2 s, … up to 30 s, jittered. */
export const WEBHOOK_BACKOFF: Backoff = { baseMs: 500, maxMs: 30_000, jitter: 'equal' };
/** Notices waiting beyond this many drop the oldest (counted and logged). */
export const WEBHOOK_QUEUE_LIMIT = 1_000;
/** How long one POST may take. */
export const WEBHOOK_TIMEOUT_MS = 5_000;

/** What the receiver gets. */
export interface WebhookNotice {
  /** Slack-compatible: one line a person reads. */
  readonly text: string;
  readonly event: AlertEvent['type'];
  readonly alert: Alert;
}

/** The notice of an event about `alert`. */
export function webhookNotice(event: AlertEvent, alert: Alert): WebhookNotice {
  const text =
    event.type === 'health.alert_raised'
      ? `[${alert.level}] ${alert.title}: ${alert.message}`
      : `[RESOLVED] ${alert.title} (${event.data.reason === 'escalated' ? 'escalated' : 'cleared'} after ${alert.timestamp})`;
  return { text, event: event.type, alert };
}

/** How the notifier has fared, for `/health/metrics`. */
export interface WebhookCounts {
  readonly sent: number;
  readonly failed: number;
  readonly dropped: number;
  readonly queued: number;
}

/** Sends notices to one URL, in order, one at a time, retrying each. */
export class WebhookNotifier {
  readonly #url: string;
  readonly #log: Logger;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #queue: WebhookNotice[] = [];
  #worker: Promise<void> | undefined;
  #closed = false;
  #wake: () => void = () => {};
  readonly #woken = new Promise<void>((resolve) => {
    this.#wake = resolve;
  });
  #sent = 0;
  #failed = 0;
  #dropped = 0;

  constructor(options: { url: string; log?: Logger; sleep?: (ms: number) => Promise<void> }) {
    this.#url = options.url;
    this.#log = options.log ?? silentLogger;
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms).unref()));
  }

  get counts(): WebhookCounts {
    return { sent: this.#sent, failed: this.#failed, dropped: this.#dropped, queued: this.#queue.length };
  }

  /** Queues a notice; returns at once. */
  notify(notice: WebhookNotice): void {
    if (this.#closed) return;
    this.#queue.push(notice);
    if (this.#queue.length > WEBHOOK_QUEUE_LIMIT) {
      const dropped = this.#queue.shift();
      this.#dropped++;
      this.#log.error({ alertId: dropped?.alert.alert_id }, 'webhook queue full: oldest notice dropped');
    }
    this.#worker ??= this.#drain().finally(() => {
      this.#worker = undefined;
    });
  }

  async #drain(): Promise<void> {
    for (let notice = this.#queue.shift(); notice && !this.#closed; notice = this.#queue.shift()) {
      await this.#deliver(notice);
    }
  }

  async #deliver(notice: WebhookNotice): Promise<void> {
    for (let attempt = 1; attempt <= WEBHOOK_MAX_ATTEMPTS && !this.#closed; attempt++) {
      try {
        const response = await fetch(this.#url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(notice),
          signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
        });
        if (response.ok) {
          this.#sent++;
          return;
        }
        this.#log.warn(
          { status: response.status, attempt, alertId: notice.alert.alert_id },
          'webhook refused a notice',
        );
      } catch (err) {
        this.#log.warn({ err: (err as Error).message, attempt, alertId: notice.alert.alert_id }, 'webhook not reached');
      }
      // close() wakes a retry that is waiting.
      if (attempt < WEBHOOK_MAX_ATTEMPTS)
        await Promise.race([this.#sleep(backoffDelay(WEBHOOK_BACKOFF, attempt)), this.#woken]);
    }
    this.#failed++;
    this.#log.error({ alertId: notice.alert.alert_id, event: notice.event }, 'webhook notice given up after retries');
  }

  /** Stops sending; a notice being retried is abandoned. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#wake();
    await this.#worker;
  }
}
