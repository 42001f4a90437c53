/**
 * Reads of a running platform the scenarios and the timeline share: the ESS
 * state, the last price and equity on the streams, consumer lag summed over
 * every group, disk-buffer rows summed over every process, and a topic's
 * events decoded.
 */
import type { ServiceName } from '../../src/actors/services.js';
import type { Envelope } from '../../src/events/envelope.js';
import { decodeEntry } from '../../src/streams/codec.js';
import { type Cluster, SIM_ADMIN_TOKEN } from './cluster.js';

/** Every topic stream of the platform. */
export const TOPICS = ['market', 'signal', 'order', 'portfolio', 'ess', 'risk', 'health', 'model'] as const;

/** GET a JSON answer within 3 s; undefined when the service does not answer. */
export async function getJson<T>(url: string): Promise<{ status: number; body: T } | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(3_000) });
    return { status: response.status, body: (await response.json()) as T };
  } catch {
    return undefined;
  }
}

/** POST (or `method`) JSON with the admin token; the status and body. */
export async function postAdmin(
  url: string,
  body: unknown,
  method = 'POST',
): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${SIM_ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: response.status, body: await response.json().catch(() => null) };
}

/** The ESS state risk-safety reports (`armed`, `reducing`, `tripped`), or undefined when it does not answer. */
export async function essState(cluster: Cluster): Promise<string | undefined> {
  const answer = await getJson<{ state?: string; unconfirmed?: { state?: string } }>(
    `${cluster.url('risk-safety')}/ess`,
  );
  return answer?.body.state ?? answer?.body.unconfirmed?.state;
}

/** Every event of a topic, decoded, oldest first. */
export async function eventsOf(cluster: Cluster, topic: string): Promise<Envelope[]> {
  const entries = await cluster.redis.client().xrange(cluster.keys.stream(topic), '-', '+');
  return entries.map(([, fields]) => decodeEntry(fields));
}

/** Consumer lag summed over every group of every topic (XINFO GROUPS `lag`); undefined when Redis does not answer. */
export async function totalLag(cluster: Cluster): Promise<number | undefined> {
  const redis = cluster.redis.client();
  try {
    let sum = 0;
    for (const topic of TOPICS) {
      const key = cluster.keys.stream(topic);
      if ((await redis.exists(key)) === 0) continue;
      const groups = (await redis.xinfo('GROUPS', key)) as unknown[][];
      for (const group of groups) {
        const lagAt = group.indexOf('lag');
        const lag = lagAt >= 0 ? Number(group[lagAt + 1]) : 0;
        sum += Number.isFinite(lag) ? lag : 0;
      }
    }
    return sum;
  } catch {
    return undefined;
  }
}

/** Disk-buffer rows summed over the `/health` of the given services (those that answer). */
export async function bufferRows(cluster: Cluster, services: readonly ServiceName[]): Promise<number> {
  const answers = await Promise.all(
    services.map((s) => getJson<{ metrics?: { buffer_rows?: number } }>(`${cluster.url(s)}/health`)),
  );
  return answers.reduce((sum, a) => sum + (a?.body.metrics?.buffer_rows ?? 0), 0);
}

/** The last value of `pick` over the newest `count` entries of a topic, newest first; undefined if none. */
export async function latest<T>(
  cluster: Cluster,
  topic: string,
  pick: (e: Envelope) => T | undefined,
  count = 50,
): Promise<T | undefined> {
  try {
    const entries = await cluster.redis.client().xrevrange(cluster.keys.stream(topic), '+', '-', 'COUNT', count);
    for (const [, fields] of entries) {
      const value = pick(decodeEntry(fields));
      if (value !== undefined) return value;
    }
  } catch {
    // Redis down: no reading this time.
  }
  return undefined;
}

/** Polls `condition` every `everyMs` until it is true (the elapsed ms) or `timeoutMs` passes (undefined). */
export async function until(
  condition: () => Promise<boolean> | boolean,
  timeoutMs: number,
  everyMs = 100,
): Promise<number | undefined> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (await condition()) return Date.now() - started;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return undefined;
}
