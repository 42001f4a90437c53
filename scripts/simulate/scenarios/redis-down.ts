/**
 * redis-down: redis-server is SIGKILLed while the platform trades and
 * started again after 60 s (5 s in the short version); its AOF
 * (`appendfsync always`) keeps what was acknowledged. Checks: publishes
 * went to the disk buffers meanwhile (rows seen), every process is still
 * running, the buffers drain to 0, consumers catch up by themselves (lag
 * back near 0), and the per-producer seq audit of every stream finds
 * nothing lost, duplicated or reordered.
 */
import { auditStreams } from '../audit.js';
import { TRADING_SERVICES, withPlatform } from '../platform.js';
import { bufferRows, totalLag, until } from '../probes.js';
import type { Scenario } from '../scenario.js';

/** Lag at or below this counts as caught up: what 60 ticks/s leave between two reads. */
const CAUGHT_UP_LAG = 20;

export const redisDown: Scenario = {
  name: 'redis-down',
  summary: 'redis-server SIGKILLed for 60 s while trading, then started again',
  run: (ctx) => {
    const outageMs = ctx.short ? 5_000 : 60_000;
    return withPlatform(ctx, {}, async (cluster) => {
      const r = ctx.recorder;
      const redis = cluster.redis.client();
      const ticking = await until(async () => (await redis.xlen(cluster.keys.stream('market'))) > 100, 30_000);
      if (ticking === undefined) throw new Error('the feed published no ticks within 30 s');

      const server = cluster.standalone;
      if (!server) throw new Error('redis-down needs the standalone redis-server');
      r.mark('redis killed');
      await server.kill();
      let maxRows = 0;
      const outageEnds = Date.now() + outageMs;
      while (Date.now() < outageEnds) {
        maxRows = Math.max(maxRows, await bufferRows(cluster, TRADING_SERVICES));
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      r.check('events held in the disk buffers during the outage (max)', maxRows > 0, maxRows, 'rows');
      await server.restart();
      r.mark('redis restarted');
      const restartedAt = Date.now();

      const drainedMs = await until(async () => (await bufferRows(cluster, TRADING_SERVICES)) === 0, 60_000, 250);
      r.check('disk buffers drained after the restart', drainedMs !== undefined, drainedMs ?? Number.NaN, 'ms');
      const caughtUpMs = await until(
        async () => ((await totalLag(cluster)) ?? Number.POSITIVE_INFINITY) <= CAUGHT_UP_LAG,
        60_000,
        250,
      );
      r.check(
        'consumers caught up (lag <= 20) after the restart',
        caughtUpMs !== undefined,
        caughtUpMs ?? Number.NaN,
        'ms',
      );
      const exited = TRADING_SERVICES.filter((s) => cluster.process(s).child.exitCode !== null).length;
      r.check('processes that exited during the outage', exited === 0, exited, 'processes');
      ctx.log(`recovered ${Date.now() - restartedAt} ms after the restart; auditing`);

      // Let a few more seconds flow so the audit covers events after the recovery too.
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      const audit = await auditStreams(cluster);
      r.check('events audited (every stream, per producer)', audit.events > 0, audit.events, 'events');
      r.check('events lost', audit.lost === 0, audit.lost, 'events');
      r.check('events duplicated', audit.duplicated === 0, audit.duplicated, 'events');
      r.check('events reordered', audit.reordered === 0, audit.reordered, 'events');
    });
  },
};
