/**
 * What the soak (bench/soak.ts) reads of the running platform every sample:
 * `main`'s resident memory from /proc, every consumer group's lag and
 * pending count from XINFO GROUPS, and the marketdata service's count of
 * ticks published from its `GET /feed`.
 */
import { readFile } from 'node:fs/promises';
import type { Redis } from 'ioredis';
import { TOPICS } from '../src/events/catalog.js';
import { groupInfos, groupLag } from '../src/streams/group-lag.js';
import { DLQ_TOPIC, type Keys } from '../src/streams/keys.js';

/** One consumer group at one sample. */
export interface GroupSample {
  readonly topic: string;
  readonly group: string;
  /** Entries of the stream not yet delivered to the group. */
  readonly lag: number;
  /** Entries delivered to the group and not yet acknowledged. */
  readonly pending: number;
}

/** `pid`'s resident set (VmRSS) in MB, 1 decimal; Linux only. */
export async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]);
  if (!Number.isFinite(kb)) throw new Error(`soak: no VmRSS in /proc/${pid}/status`);
  return Math.round(kb / 102.4) / 10;
}

/** Every consumer group of every topic stream (and the dlq), as XINFO GROUPS reports it now. */
export async function sampleGroups(redis: Redis, keys: Keys, now: number): Promise<GroupSample[]> {
  const out: GroupSample[] = [];
  for (const topic of [...TOPICS, DLQ_TOPIC]) {
    const key = keys.stream(topic);
    for (const info of (await groupInfos(redis, key)) ?? []) {
      const { lag } = await groupLag(redis, key, info, now);
      out.push({ topic, group: info.name, lag, pending: info.pending });
    }
  }
  return out;
}

/** The marketdata service's ticks published so far (`GET /feed`'s `published`); undefined when it does not answer. */
export async function ticksPublished(feedUrl: string): Promise<number | undefined> {
  try {
    const response = await fetch(feedUrl, { signal: AbortSignal.timeout(3_000) });
    const body = (await response.json()) as { published?: unknown };
    return typeof body.published === 'number' ? body.published : undefined;
  } catch {
    return undefined;
  }
}
