/**
 * The webhook notifier (src/actors/monitoring/webhook.ts) against a real
 * local HTTP receiver: notices in order with the Slack-compatible `text`,
 * retries with backoff until the receiver takes one, giving up after
 * WEBHOOK_MAX_ATTEMPTS, notify() not waiting for the receiver, close()
 * while a retry waits, and the URL (a secret) never in the log.
 */
import type { ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import test from 'ava';
import {
  type Alert,
  type AlertCheck,
  type AlertEvent,
  type AlertState,
  INITIAL_ALERT_STATE,
  stepAlerts,
} from '../../../src/actors/monitoring/alerts.js';
import {
  WEBHOOK_BACKOFF,
  WEBHOOK_MAX_ATTEMPTS,
  type WebhookNotice,
  WebhookNotifier,
  webhookNotice,
} from '../../../src/actors/monitoring/webhook.js';
import { createLogger } from '../../../src/log.js';
import { waitFor } from '../../support/bus.js';
import { startLocalServer } from '../../support/health-server.js';

/** Real notices from the alert engine: `redis:health` raised, then resolved, then `ai-engine:health` raised. */
function notices(): WebhookNotice[] {
  const at = (s: number) => new Date(Date.UTC(2025, 0, 1, 0, 0, s)).toISOString();
  const check = (component: string, level: 'CRITICAL' | 'WARNING' | null): AlertCheck => ({
    component,
    condition: 'health',
    level,
    title: `${component} ${level === null ? 'OK' : 'DOWN'}`,
    message: `${component} ${level === null ? 'OK' : 'DOWN (connect ECONNREFUSED)'}`,
  });
  const step = (state: AlertState, s: number, checks: AlertCheck[]) =>
    stepAlerts(state, { type: 'evaluation', at: at(s), checks });
  const raised = step(INITIAL_ALERT_STATE, 0, [check('redis', 'CRITICAL'), check('ai-engine', null)]);
  const resolved = step(raised.state, 5, [check('redis', null)]);
  const ai = step(resolved.state, 10, [check('ai-engine', 'WARNING')]);
  return [
    webhookNotice(raised.events[0] as AlertEvent, raised.state.active['redis:health'] as Alert),
    webhookNotice(resolved.events[0] as AlertEvent, resolved.state.history[0] as Alert),
    webhookNotice(ai.events[0] as AlertEvent, ai.state.active['ai-engine:health'] as Alert),
  ];
}

/** A receiver answering each POST with the next status of `statuses` (the last one repeats), keeping the bodies. */
async function receiver(t: Parameters<typeof startLocalServer>[0], statuses: number[]) {
  const bodies: WebhookNotice[] = [];
  const contentTypes: string[] = [];
  const server = await startLocalServer(t, (req, res) => {
    let raw = '';
    req.on('data', (chunk: Buffer) => {
      raw += chunk.toString('utf8');
    });
    req.on('end', () => {
      bodies.push(JSON.parse(raw) as WebhookNotice);
      contentTypes.push(String(req.headers['content-type']));
      res.writeHead(statuses[Math.min(bodies.length - 1, statuses.length - 1)] as number);
      res.end();
    });
  });
  return { server, bodies, contentTypes };
}

/** A sleep that records each wait and waits 1 ms. */
function quickSleep() {
  const waits: number[] = [];
  const sleep = (ms: number) => {
    waits.push(ms);
    return new Promise<void>((resolve) => setTimeout(resolve, 1));
  };
  return { waits, sleep };
}

test('notices arrive in order, as JSON with the Slack-compatible text and the alert', async (t) => {
  const { server, bodies, contentTypes } = await receiver(t, [200]);
  const webhook = new WebhookNotifier({ url: `${server.url}/hook`, sleep: quickSleep().sleep });
  const sent = notices();
  for (const n of sent) webhook.notify(n);
  await waitFor(() => webhook.counts.sent === 3, 'three notices sent');
  await webhook.close();
  t.deepEqual(bodies, JSON.parse(JSON.stringify(sent)));
  t.deepEqual(contentTypes, ['application/json', 'application/json', 'application/json']);
  t.deepEqual(
    bodies.map((b) => b.text),
    [
      '[CRITICAL] redis DOWN: redis DOWN (connect ECONNREFUSED)',
      '[RESOLVED] redis DOWN (cleared after 2025-01-01T00:00:00.000Z)',
      '[WARNING] ai-engine DOWN: ai-engine DOWN (connect ECONNREFUSED)',
    ],
  );
  t.deepEqual(
    bodies.map((b) => `${b.event} ${b.alert.alert_id}`),
    ['health.alert_raised redis:health', 'health.alert_cleared redis:health', 'health.alert_raised ai-engine:health'],
  );
  t.deepEqual(webhook.counts, { sent: 3, failed: 0, dropped: 0, queued: 0 });
});

test('a receiver answering 500 twice then 200 gets the notice, and the next one after it', async (t) => {
  const { server, bodies } = await receiver(t, [500, 500, 200]);
  const { waits, sleep } = quickSleep();
  const webhook = new WebhookNotifier({ url: server.url, sleep });
  const [first, second] = notices() as [WebhookNotice, WebhookNotice];
  webhook.notify(first);
  webhook.notify(second);
  await waitFor(() => webhook.counts.sent === 2, 'both notices sent');
  await webhook.close();
  t.deepEqual(
    bodies.map((b) => b.event),
    ['health.alert_raised', 'health.alert_raised', 'health.alert_raised', 'health.alert_cleared'],
    'the first is retried before the second is sent',
  );
  t.is(waits.length, 2);
  // Equal jitter: each wait is between half the step and the step, and the step doubles.
  t.true(
    (waits[0] as number) >= WEBHOOK_BACKOFF.baseMs / 2 && (waits[0] as number) <= WEBHOOK_BACKOFF.baseMs,
    `${waits}`,
  );
  t.true((waits[1] as number) >= WEBHOOK_BACKOFF.baseMs && (waits[1] as number) <= 2 * WEBHOOK_BACKOFF.baseMs);
  t.deepEqual(webhook.counts, { sent: 2, failed: 0, dropped: 0, queued: 0 });
});

test('a receiver that never answers OK: the notice is counted failed after WEBHOOK_MAX_ATTEMPTS, the next still goes', async (t) => {
  const statuses = [...Array.from({ length: WEBHOOK_MAX_ATTEMPTS }, () => 503), 200];
  const { server, bodies } = await receiver(t, statuses);
  const webhook = new WebhookNotifier({ url: server.url, sleep: quickSleep().sleep });
  const [first, second] = notices() as [WebhookNotice, WebhookNotice];
  webhook.notify(first);
  await waitFor(() => webhook.counts.failed === 1, 'the first notice given up');
  t.is(bodies.length, WEBHOOK_MAX_ATTEMPTS, 'every attempt reached the receiver');
  t.is(webhook.counts.sent, 0);
  webhook.notify(second);
  await waitFor(() => webhook.counts.sent === 1, 'the next notice sent');
  await webhook.close();
  t.is(bodies.at(-1)?.event, 'health.alert_cleared');
  t.deepEqual(webhook.counts, { sent: 1, failed: 1, dropped: 0, queued: 0 });
});

test('notify() returns at once: a receiver that has not answered yet holds up nothing', async (t) => {
  const held: ServerResponse[] = [];
  const server = await startLocalServer(t, (req, res) => {
    req.resume();
    req.on('end', () => held.push(res));
  });
  const webhook = new WebhookNotifier({ url: server.url, sleep: quickSleep().sleep });
  const [first, second] = notices() as [WebhookNotice, WebhookNotice];
  t.is(webhook.notify(first) as unknown, undefined, 'nothing to wait for');
  await waitFor(() => held.length === 1, 'the receiver holds the first request');
  webhook.notify(second);
  t.deepEqual(webhook.counts, { sent: 0, failed: 0, dropped: 0, queued: 1 }, 'the first in flight, the second queued');
  held.shift()?.writeHead(200).end();
  await waitFor(() => held.length === 1, 'the second request arrives once the first was answered');
  held.shift()?.writeHead(200).end();
  await waitFor(() => webhook.counts.sent === 2, 'both sent');
  await webhook.close();
  t.is(server.requests, 2);
});

test('close() while a retry waits returns promptly and sends nothing more', async (t) => {
  const { server } = await receiver(t, [500]);
  let waiting = 0;
  // A wait that would never end by itself: only close() can cut it short.
  const sleep = () => {
    waiting++;
    return new Promise<void>(() => {});
  };
  const webhook = new WebhookNotifier({ url: server.url, sleep });
  const [first] = notices() as [WebhookNotice];
  webhook.notify(first);
  await waitFor(() => waiting === 1, 'the notifier waits to retry');
  const closed = await Promise.race([
    webhook.close().then(() => 'closed'),
    new Promise((resolve) => setTimeout(resolve, 5_000, 'still waiting after 5 s')),
  ]);
  t.is(closed, 'closed');
  webhook.notify(first);
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.is(server.requests, 1, 'no retry and no new notice after close');
  t.is(webhook.counts.sent, 0);
});

test('the webhook URL, with its token, never reaches the log', async (t) => {
  const token = 'T0SECRET/B0SECRET/xoxb-4f1c9a7e2d5b8c3a6f0e';
  let logged = '';
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logged += chunk.toString('utf8');
      done();
    },
  });
  const log = createLogger({ level: 'debug', destination });
  const { server } = await receiver(t, [500]);
  const url = `${server.url}/services/${token}`;
  const webhook = new WebhookNotifier({ url, log, sleep: quickSleep().sleep });
  const [first, second] = notices() as [WebhookNotice, WebhookNotice];
  webhook.notify(first);
  await waitFor(() => webhook.counts.failed === 1, 'refused by the receiver');
  await server.close();
  webhook.notify(second);
  await waitFor(() => webhook.counts.failed === 2, 'receiver gone');
  await webhook.close();
  t.regex(logged, /webhook refused a notice/);
  t.regex(logged, /webhook not reached/);
  t.regex(logged, /webhook notice given up after retries/);
  t.false(logged.includes('xoxb-4f1c9a7e2d5b8c3a6f0e'), 'the token is not logged');
  t.false(logged.includes('SECRET'), 'no part of the path is logged');
  t.false(logged.includes(`127.0.0.1:${server.port}`), 'not even the host and port');
});
