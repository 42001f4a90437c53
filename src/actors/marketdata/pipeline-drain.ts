/**
 * How far the pipeline is behind the replay at `max` speed, read from Redis
 * (XINFO GROUPS, the numbers `qt groups` shows): per consumer group the
 * replay waits for, the entries not yet delivered (lag) and delivered but
 * not acknowledged (pending). The replay publishes its next instant only
 * when every group exists and both are 0 (docs/market-data.md, "Replay at
 * max speed").
 */
import type { Redis } from 'ioredis';
import { groupInfos, groupLag } from '../../streams/group-lag.js';
import type { Keys } from '../../streams/keys.js';
import type { PipelineGroup } from '../replay-run.js';

/** One group's backlog; `missing` when the group does not exist yet (its actor has not started). */
export interface GroupBacklog extends PipelineGroup {
  readonly missing: boolean;
  readonly lag: number;
  readonly pending: number;
}

/** The backlog of every group in `groups`, one XINFO GROUPS per topic, sent together. */
export async function pipelineBacklog(
  redis: Redis,
  keys: Keys,
  groups: readonly PipelineGroup[],
): Promise<GroupBacklog[]> {
  const topics = [...new Set(groups.map((g) => g.topic))];
  const infos = await Promise.all(topics.map((topic) => groupInfos(redis, keys.stream(topic))));
  const byTopic = new Map(topics.map((topic, i) => [topic, infos[i] ?? []]));
  return Promise.all(
    groups.map(async (g): Promise<GroupBacklog> => {
      const info = byTopic.get(g.topic)?.find((i) => i.name === g.group);
      if (info === undefined) return { ...g, missing: true, lag: 0, pending: 0 };
      // Redis knows the lag unless entries were deleted; then it is counted.
      const lag = info.lag ?? (await groupLag(redis, keys.stream(g.topic), info, Date.now())).lag;
      return { ...g, missing: false, lag, pending: info.pending };
    }),
  );
}

/** True when every group exists and has nothing undelivered or pending. */
export function isDrained(backlog: readonly GroupBacklog[]): boolean {
  return backlog.every((g) => !g.missing && g.lag === 0 && g.pending === 0);
}

/** The last entry id of each topic's stream (`0-0` for an empty or missing one): where a replay's events begin. */
export async function streamTails(
  redis: Redis,
  keys: Keys,
  topics: readonly string[],
): Promise<Record<string, string>> {
  const last = await Promise.all(topics.map((topic) => redis.xrevrange(keys.stream(topic), '+', '-', 'COUNT', 1)));
  return Object.fromEntries(topics.map((topic, i) => [topic, last[i]?.[0]?.[0] ?? '0-0']));
}
