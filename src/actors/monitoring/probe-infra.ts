/**
 * The infrastructure probes of a monitoring cycle: Redis (PING latency,
 * role, replication) and the exchange (Binance `/api/v3/ping` and the skew
 * of its clock, its request weight; the paper venue otherwise). Each has a
 * timeout and never throws: what does not answer in time is DOWN, what is
 * slow DEGRADED (docs/monitoring.md, "What is collected").
 */
import type { Redis } from 'ioredis';
import type { Config } from '../../config/load.js';
import { classifyAnswer } from '../../exchange/binance/classify.js';
import { BINANCE_MAINNET_URL, BINANCE_TESTNET_URL } from '../../exchange/binance/endpoints.js';
import {
  DEFAULT_BINANCE_BAN_MS,
  DEFAULT_BINANCE_ORDERS_PER_10S,
  DEFAULT_BINANCE_ORDERS_PER_DAY,
  DEFAULT_BINANCE_WEIGHT_PER_MINUTE,
  SharedLimits,
} from '../../exchange/binance/limits.js';
import type { Keys } from '../../streams/keys.js';
import { parseInfo } from '../../streams/redis-link.js';
import { clockSkew, exchangeWeight, type ProbeResult, type Thresholds } from './probes.js';
import type { InfrastructureObservation } from './system-status.js';

/** An infrastructure observation with what was measured, for the snapshot. */
export interface InfraReading extends InfrastructureObservation {
  readonly details: Readonly<Record<string, string | number | boolean | null>>;
}

/** Rejects with `what: no answer within ms` when `work` takes longer. */
export function deadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

const rounded = (ms: number) => Math.round(ms * 10) / 10;

/**
 * Redis: PING latency (DEGRADED over `slowMs`), then INFO replication. A
 * replica where the master should be is DEGRADED (writes would fail), as is
 * a master with fewer replicas connected than REDIS_MIN_REPLICAS_ACK asks
 * for. No answer within `timeoutMs` is DOWN.
 */
export async function probeRedis(
  redis: Redis,
  options: { readonly timeoutMs: number; readonly slowMs: number; readonly minReplicas: number },
): Promise<InfraReading> {
  const started = performance.now();
  try {
    await deadline(redis.ping(), options.timeoutMs, 'PING');
    const latencyMs = rounded(performance.now() - started);
    const info = parseInfo(await deadline(redis.info('replication'), options.timeoutMs, 'INFO replication'));
    const role = info.role ?? 'unknown';
    const replicas = Number(info.connected_slaves ?? 0);
    const details = { role, connected_replicas: replicas, master_link_status: info.master_link_status ?? null };
    const trouble: string[] = [];
    if (latencyMs > options.slowMs) trouble.push(`PING took ${Math.round(latencyMs)} ms (over ${options.slowMs} ms)`);
    if (role !== 'master') trouble.push(`connected to a ${role}, not the master`);
    else if (replicas < options.minReplicas)
      trouble.push(`${replicas} replica${replicas === 1 ? '' : 's'} connected, ${options.minReplicas} required`);
    return {
      name: 'redis',
      status: trouble.length > 0 ? 'DEGRADED' : 'OK',
      latencyMs,
      ...(trouble.length > 0 ? { error: trouble.join('; ') } : {}),
      details,
    };
  } catch (err) {
    return { name: 'redis', status: 'DOWN', latencyMs: null, error: (err as Error).message, details: {} };
  }
}

/** What the exchange probe needs: the venue, and for Binance where it is and its shared budget. */
export type ExchangeTarget =
  | { readonly venue: 'paper' }
  | { readonly venue: 'binance' | 'binance-testnet'; readonly baseUrl: string; readonly limits: SharedLimits };

/** The exchange of the configuration. */
export function exchangeTarget(config: Config, redis: Redis, keys: Keys): ExchangeTarget {
  const { venue, baseUrl } = config.exchange;
  if (venue === 'paper') return { venue };
  return {
    venue,
    baseUrl: baseUrl ?? (venue === 'binance' ? BINANCE_MAINNET_URL : BINANCE_TESTNET_URL),
    // The default limits: the same budget the execution adapter spends (src/exchange/binance/binance-adapter.ts).
    limits: new SharedLimits({
      redis,
      key: keys.venueLimits(venue),
      limits: {
        weightPerMinute: DEFAULT_BINANCE_WEIGHT_PER_MINUTE,
        ordersPer10s: DEFAULT_BINANCE_ORDERS_PER_10S,
        ordersPerDay: DEFAULT_BINANCE_ORDERS_PER_DAY,
      },
      now: Date.now,
    }),
  };
}

/** The exchange's reading and its probes (weight, clock skew). */
export interface ExchangeReading {
  readonly reading: InfraReading;
  readonly probes: readonly ProbeResult[];
}

/**
 * One probe call. A 418 or a 429 is shared through the limits hash before it
 * is thrown, as the adapter's own calls share theirs: without it the other
 * processes would keep calling into a ban only the probe had been told of.
 */
async function getJson(url: string, timeoutMs: number, limits: SharedLimits): Promise<unknown> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const call = `GET ${new URL(url).pathname}`;
  if (response.status === 418 || response.status === 429) {
    const now = Date.now();
    const body: unknown = await response.json().catch(() => undefined);
    const answer = { status: response.status, headers: response.headers, body };
    const error = classifyAnswer(answer, { call, now, defaultBanMs: DEFAULT_BINANCE_BAN_MS, scrub: (t) => t });
    // Redis unreachable: no process can call before it is back anyway (acquire needs it).
    await limits.shareRefusal(answer, error, now).catch(() => undefined);
    throw error;
  }
  if (!response.ok) throw new Error(`${call} answered HTTP ${response.status}`);
  return response.json();
}

/**
 * The exchange. Paper: OK (it runs inside execution; execution's own health
 * covers it). Binance: `GET /api/v3/ping` (its latency; DEGRADED over
 * `slowMs`) and `GET /api/v3/time` (the skew of its clock from ours,
 * judged by the clock-skew thresholds), both paid from the shared weight
 * budget, and the weight used this minute against the limit. A 418 or a
 * 429 with `Retry-After` answered to the probe holds every process off
 * through the shared limits, like one answered to an order.
 */
export async function probeExchange(
  target: ExchangeTarget,
  options: {
    readonly timeoutMs: number;
    readonly slowMs: number;
    readonly weight: Thresholds;
    readonly clockSkew: Thresholds;
  },
): Promise<ExchangeReading> {
  if (target.venue === 'paper')
    return { reading: { name: 'exchange', status: 'OK', latencyMs: null, details: { venue: 'paper' } }, probes: [] };
  const details = { venue: target.venue };
  const fail = (error: string): ExchangeReading => ({
    reading: { name: 'exchange', status: 'DOWN', latencyMs: null, error, details },
    probes: [],
  });
  try {
    const admission = await deadline(target.limits.acquire(2, 0), options.timeoutMs, 'weight budget');
    if (!admission.ok)
      return fail(
        `${admission.reason === 'banned' ? 'banned' : 'held off'} until ${new Date(admission.until).toISOString()}`,
      );
    const started = performance.now();
    await getJson(`${target.baseUrl}/api/v3/ping`, options.timeoutMs, target.limits);
    const latencyMs = rounded(performance.now() - started);
    const before = Date.now();
    const time = (await getJson(`${target.baseUrl}/api/v3/time`, options.timeoutMs, target.limits)) as {
      serverTime?: unknown;
    };
    const after = Date.now();
    if (typeof time.serverTime !== 'number') return fail('GET /api/v3/time answered without serverTime');
    const skew = clockSkew({ skewMs: time.serverTime - (before + after) / 2 }, options.clockSkew);
    const usage = await deadline(target.limits.weightUsage(), options.timeoutMs, 'weight usage');
    const weight = exchangeWeight({ used: usage.used, limit: usage.limit }, options.weight);
    const slow = latencyMs > options.slowMs;
    return {
      reading: {
        name: 'exchange',
        status: slow ? 'DEGRADED' : 'OK',
        latencyMs,
        ...(slow ? { error: `GET /api/v3/ping took ${Math.round(latencyMs)} ms (over ${options.slowMs} ms)` } : {}),
        details,
      },
      probes: [skew, weight],
    };
  } catch (err) {
    const e = err as Error;
    return fail(e.name === 'TimeoutError' ? `no answer within ${options.timeoutMs} ms` : e.message);
  }
}
