/**
 * The trading probes of a monitoring cycle, measured: the age of each
 * symbol's last `market.tick` (read from the market stream, dated by Redis's
 * own clock), each consumer group's lag, each process's disk-buffer backlog
 * and the sequence gaps its consumers counted (both from the services'
 * health reports), and the ESS state (its projection). The judging is in
 * probes.ts; this file only measures (docs/monitoring.md, "Probes").
 */
import type { Redis } from 'ioredis';
import type { ProbeThresholdName, Thresholds } from '../../config/health.js';
import { TOPICS } from '../../events/catalog.js';
import { FIELD_ENVELOPE, FIELD_TYPE } from '../../streams/codec.js';
import { groupInfos, groupLag, idTime } from '../../streams/group-lag.js';
import type { Keys } from '../../streams/keys.js';
import { parseEssProjection } from '../risk-safety/ess-projection.js';
import { ACTOR_TOPICS, type ActorName, SERVICE_NAMES, SERVICES } from '../services.js';
import type { PolledService } from './poll-services.js';
import { deadline } from './probe-infra.js';
import { consumerLag, diskBufferBacklog, type ProbeResult, sequenceGaps, staleFeed } from './probes.js';
import type { EssObservation } from './system-status.js';

/** Probe thresholds by setting name (QT_HEALTH_*). */
export type ProbeThresholds = Readonly<Record<ProbeThresholdName, Thresholds>>;

/** Entries of the market stream read back per cycle when looking for the newest tick of each symbol. */
export const FEED_SCAN_COUNT = 2_000;

/** The symbol a feed that never ticked is judged under, before any symbol is known. */
export const ANY_SYMBOL = 'ANY';

/** Redis's clock (TIME), epoch ms: entry ids are stamped by it, so ages are measured against it. */
export async function redisTime(redis: Redis, timeoutMs: number): Promise<number> {
  const [seconds, micros] = await deadline(redis.time(), timeoutMs, 'TIME');
  return Number(seconds) * 1_000 + Math.floor(Number(micros) / 1_000);
}

/**
 * Remembers the time each symbol last ticked, from the market stream. Each
 * cycle reads the entries added since the previous one, newest first, up to
 * {@link FEED_SCAN_COUNT} (a symbol that ticked only earlier keeps its time).
 * A symbol once seen stays watched until the process restarts: one that
 * stops ticking is exactly what this probe is for. Before any tick, the feed
 * is judged from the time the watch started, under {@link ANY_SYMBOL}.
 */
export class FeedWatch {
  readonly #lastTickAt = new Map<string, number>();
  readonly #startedAt: number;
  #lastId = '-';

  constructor(startedAt: number) {
    this.#startedAt = startedAt;
  }

  /** Reads the new ticks and judges every known symbol at `now` (Redis's clock). */
  async probe(redis: Redis, keys: Keys, now: number, limits: Thresholds, timeoutMs: number): Promise<ProbeResult[]> {
    const from = this.#lastId === '-' ? '-' : `(${this.#lastId}`;
    const entries = await deadline(
      redis.xrevrange(keys.stream('market'), '+', from, 'COUNT', FEED_SCAN_COUNT),
      timeoutMs,
      'XREVRANGE market',
    );
    const newest = entries[0]?.[0];
    if (newest !== undefined) this.#lastId = newest;
    for (const [id, fields] of entries) this.#note(id, fields);
    if (this.#lastTickAt.size === 0)
      return [staleFeed({ symbol: ANY_SYMBOL, lastTickAt: this.#startedAt, now }, limits)];
    const symbols = [...this.#lastTickAt.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([symbol, lastTickAt]) => staleFeed({ symbol, lastTickAt, now }, limits));
    return [this.#anyTicked(), ...symbols];
  }

  /**
   * `ANY` once the feed has ticked: OK, and still reported, because the
   * alert engine keeps a condition's last known check while it goes
   * unreported. Dropped instead, a stale `ANY` from the first seconds (or
   * from before a monitoring restart) would stay failing for ever and
   * raise its own alert beside the per-symbol ones.
   */
  #anyTicked(): ProbeResult {
    return {
      component: 'marketdata',
      condition: `stale_feed:${ANY_SYMBOL}`,
      status: 'OK',
      reason: `the feed has ticked; ${this.#lastTickAt.size} symbol(s) watched`,
      details: { symbols: this.#lastTickAt.size },
    };
  }

  #note(id: string, fields: readonly string[]): void {
    let type: string | undefined;
    let raw: string | undefined;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      if (fields[i] === FIELD_TYPE) type = fields[i + 1];
      else if (fields[i] === FIELD_ENVELOPE) raw = fields[i + 1];
    }
    if (type !== 'market.tick' || raw === undefined) return;
    let symbol: unknown;
    try {
      symbol = (JSON.parse(raw) as { data?: { symbol?: unknown } }).data?.symbol;
    } catch {
      return; // A malformed entry is the consumers' business (the DLQ), not the feed's age.
    }
    const at = idTime(id);
    if (typeof symbol !== 'string' || at === null) return;
    // Entries come newest first: the first seen of a symbol in this read is its latest.
    if ((this.#lastTickAt.get(symbol) ?? Number.NEGATIVE_INFINITY) < at) this.#lastTickAt.set(symbol, at);
  }
}

/** The service that hosts an actor (consumer group); the group's own name when no service does. */
function serviceOfGroup(group: string): string {
  const host = SERVICE_NAMES.find((s) => (SERVICES[s].actors as readonly string[]).includes(group));
  return host ?? group;
}

/** The groups the platform's actors read each topic with. */
function isPlatformGroup(topic: string, group: string): boolean {
  return Object.hasOwn(ACTOR_TOPICS, group) && (ACTOR_TOPICS[group as ActorName] as readonly string[]).includes(topic);
}

/**
 * Each platform consumer group's lag on each topic it reads, in entries and
 * seconds (at `now`, Redis's clock), judged by the lag thresholds. Groups
 * of other readers (a `qt` session, a test) are not the platform's and are
 * left out.
 */
export async function lagProbes(
  redis: Redis,
  keys: Keys,
  now: number,
  limits: ProbeThresholds,
  timeoutMs: number,
): Promise<ProbeResult[]> {
  const out: ProbeResult[] = [];
  await Promise.all(
    TOPICS.map(async (topic) => {
      const key = keys.stream(topic);
      const infos = (await deadline(groupInfos(redis, key), timeoutMs, `XINFO GROUPS ${topic}`)) ?? [];
      for (const info of infos.filter((g) => isPlatformGroup(topic, g.name))) {
        const lag = await deadline(groupLag(redis, key, info, now), timeoutMs, `lag of ${info.name} on ${topic}`);
        out.push(
          consumerLag(
            {
              component: serviceOfGroup(info.name),
              group: info.name,
              topic,
              entries: lag.lag,
              seconds: Math.round(lag.lagMs / 100) / 10,
            },
            { entries: limits.lagEntries, seconds: limits.lagSeconds },
          ),
        );
      }
    }),
  );
  return out.sort((a, b) => a.condition.localeCompare(b.condition));
}

/** The process behind each answering service, by producer id: the services it hosts (table order) and its report's numbers. */
function processes(
  polled: readonly PolledService[],
): Map<string, { services: string[]; metrics: Record<string, number> }> {
  const out = new Map<string, { services: string[]; metrics: Record<string, number> }>();
  for (const p of polled) {
    if (!p.report) continue;
    const producer = p.report.producer ?? p.report.service;
    const known = out.get(producer);
    if (known) known.services.push(p.report.service);
    else out.set(producer, { services: [p.report.service], metrics: p.report.metrics });
  }
  return out;
}

/**
 * Each process's disk-buffer backlog (`buffer_rows`, `buffer_oldest_age_ms`
 * of its health report), under the first service it hosts: one probe per
 * process, not one per service of it.
 */
export function bufferProbes(polled: readonly PolledService[], limits: ProbeThresholds): ProbeResult[] {
  return [...processes(polled).entries()].map(([producer, p]) => {
    const result = diskBufferBacklog(
      {
        component: p.services[0] as string,
        pending: p.metrics.buffer_rows ?? 0,
        oldestAgeMs: p.metrics.buffer_oldest_age_ms ?? null,
      },
      { backlog: limits.bufferBacklog, oldestMs: limits.bufferOldestMs },
    );
    return { ...result, details: { ...result.details, producer } };
  });
}

/**
 * The sequence gaps each process's consumers counted since the previous
 * cycle (`sequence_gaps` of its health report, a counter). The first
 * reading of a process is its baseline.
 */
export class GapWatch {
  readonly #previous = new Map<string, number>();

  probes(polled: readonly PolledService[], limits: Thresholds): ProbeResult[] {
    const out: ProbeResult[] = [];
    for (const [producer, p] of processes(polled)) {
      const current = p.metrics.sequence_gaps ?? 0;
      const previous = this.#previous.get(producer) ?? current;
      this.#previous.set(producer, current);
      const result = sequenceGaps({ component: p.services[0] as string, previous, current }, limits);
      out.push({ ...result, details: { ...result.details, producer } });
    }
    return out;
  }
}

/** The ESS as its projection says; no projection yet is `armed` (a fresh key prefix). */
export async function readEss(redis: Redis, keys: Keys, timeoutMs: number): Promise<EssObservation> {
  const key = keys.projection('ess');
  try {
    const raw = await deadline(redis.get(key), timeoutMs, `GET ${key}`);
    if (raw === null) return { known: true, state: 'armed' };
    const projection = parseEssProjection(raw);
    if (!projection) return { known: false, error: `the projection ${key} is unreadable` };
    return { known: true, state: projection.state, ...(projection.trip ? { trip: projection.trip } : {}) };
  } catch (err) {
    return { known: false, error: (err as Error).message };
  }
}
