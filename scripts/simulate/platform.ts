/**
 * The trading platform most scenarios run: every service but rl-training,
 * each in its own `main`, with the synthetic feed at 20 ticks/s, plus the
 * timeline sampling it. {@link withPlatform} always stops it.
 */
import type { ServiceName } from '../../src/actors/services.js';
import { type Cluster, type RedisEndpoint, startCluster } from './cluster.js';
import type { Sample } from './record.js';
import type { ScenarioContext } from './scenario.js';
import { type ExtraSeries, startTimeline, type Timeline } from './timeline.js';

/** The services of a trading platform (rl-training trains models, no scenario needs it). */
export const TRADING_SERVICES: readonly ServiceName[] = [
  'marketdata',
  'ai-engine',
  'risk-safety',
  'execution',
  'portfolio-intelligence',
  'monitoring-health',
];

/** The symbol scenarios crash and chart. */
export const SIM_SYMBOL = 'BTCUSDT';

/** Starts the platform, runs `body` with it and its timeline, stops both; returns the timeline. */
export async function withPlatform(
  ctx: ScenarioContext,
  options: {
    services?: readonly ServiceName[];
    env?: Record<string, string>;
    redis?: RedisEndpoint;
    /** Series the timeline samples besides the standard ones. */
    extra?: ExtraSeries;
  },
  body: (cluster: Cluster, timeline: Timeline) => Promise<void>,
): Promise<Sample[]> {
  const services = options.services ?? TRADING_SERVICES;
  ctx.log(
    `starting ${options.redis ? 'the' : 'redis-server and'} ${services.length} main processes (${services.join(', ')})`,
  );
  const cluster = await startCluster({
    services,
    ...(options.redis ? { redis: options.redis } : {}),
    env: { QT_FEED_TICKS_PER_SECOND: '20', QT_ESS_HEALTH_CRITICAL_MS: '3600000', ...options.env },
  });
  ctx.recorder.mark('started');
  const timeline = startTimeline(cluster, ctx.recorder, {
    symbol: SIM_SYMBOL,
    services,
    everyMs: 500,
    ...(options.extra ? { extra: options.extra } : {}),
  });
  try {
    await body(cluster, timeline);
    return await timeline.stop();
  } finally {
    await timeline.stop();
    await cluster.stop();
  }
}
