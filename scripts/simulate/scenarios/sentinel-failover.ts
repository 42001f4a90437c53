/**
 * sentinel-failover: the platform runs on a Sentinel group (publishes
 * acknowledged only once a replica has them, `REDIS_MIN_REPLICAS_ACK=1`)
 * and the master is SIGKILLed while it trades. Checks: the sentinels
 * promote a replica, publishes resume on the new master, the disk buffers
 * drain, no process exits, and the per-producer seq audit of every stream
 * on the new master finds nothing lost, duplicated or reordered.
 */
import { auditStreams } from '../audit.js';
import { TRADING_SERVICES, withPlatform } from '../platform.js';
import { bufferRows, until } from '../probes.js';
import type { Scenario } from '../scenario.js';
import { startSentinelGroup } from '../sentinel-group.js';

export const sentinelFailover: Scenario = {
  name: 'sentinel-failover',
  summary: 'the Sentinel-managed master SIGKILLed while trading',
  run: async (ctx) => {
    ctx.log('starting a master, 2 replicas and 3 sentinels');
    const group = await startSentinelGroup();
    return withPlatform(ctx, { redis: group }, async (cluster) => {
      const r = ctx.recorder;
      const redis = cluster.redis.client();
      const market = cluster.keys.stream('market');
      const ticking = await until(async () => (await redis.xlen(market)) > 100, 30_000);
      if (ticking === undefined) throw new Error('the feed published no ticks within 30 s');

      const oldPort = group.master.port;
      r.mark('master killed');
      const killedAt = Date.now();
      await group.master.kill();
      const failoverMs = await until(
        async () => {
          const port = await group.currentMasterPort();
          return port !== undefined && port !== oldPort;
        },
        30_000,
        200,
      );
      r.check('a replica promoted (time after the kill)', failoverMs !== undefined, failoverMs ?? Number.NaN, 'ms');
      r.mark('failover');

      const before = await redis.xlen(market).catch(() => 0);
      const resumedMs = await until(async () => (await redis.xlen(market).catch(() => 0)) > before + 20, 60_000, 250);
      r.check(
        'publishes resumed on the new master (time after the kill)',
        resumedMs !== undefined,
        resumedMs === undefined ? Number.NaN : Date.now() - killedAt,
        'ms',
      );
      const drainedMs = await until(async () => (await bufferRows(cluster, TRADING_SERVICES)) === 0, 60_000, 250);
      r.check('disk buffers drained', drainedMs !== undefined, drainedMs ?? Number.NaN, 'ms');
      const exited = TRADING_SERVICES.filter((s) => cluster.process(s).child.exitCode !== null).length;
      r.check('processes that exited', exited === 0, exited, 'processes');

      await new Promise((resolve) => setTimeout(resolve, 3_000));
      const audit = await auditStreams(cluster);
      r.check(
        'events audited on the new master (every stream, per producer)',
        audit.events > 0,
        audit.events,
        'events',
      );
      r.check('events lost', audit.lost === 0, audit.lost, 'events');
      r.check('events duplicated', audit.duplicated === 0, audit.duplicated, 'events');
      r.check('events reordered', audit.reordered === 0, audit.reordered, 'events');
    });
  },
};
