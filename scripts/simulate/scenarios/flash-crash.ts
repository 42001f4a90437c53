/**
 * flash-crash: while the platform trades, BTCUSDT is made to fall 20 %
 * through marketdata's `POST /scenario/flash-crash` (the ESS trips at 15 %
 * within 60 s of event time). Checks: the ESS trips with `flash_crash`, how
 * long that took, no order is placed after the trip except emergency exits,
 * and monitoring-health raises a CRITICAL alert on the ESS.
 */
import type { Envelope } from '../../../src/events/envelope.js';
import { SIM_SYMBOL, withPlatform } from '../platform.js';
import { eventsOf, getJson, postAdmin, until } from '../probes.js';
import type { Scenario } from '../scenario.js';

/** The fall injected: past the ESS's 15 % rule. */
const DROP = 0.2;

interface Alert {
  readonly level: string;
  readonly component: string;
  readonly message: string;
  readonly timestamp: string;
}

export const flashCrash: Scenario = {
  name: 'flash-crash',
  summary: `${SIM_SYMBOL} falls ${DROP * 100} % at once while trading`,
  run: (ctx) =>
    withPlatform(ctx, {}, async (cluster) => {
      const r = ctx.recorder;
      const ticking = await until(
        async () => (await cluster.redis.client().xlen(cluster.keys.stream('market'))) > 100,
        30_000,
      );
      if (ticking === undefined) throw new Error('the feed published no ticks within 30 s');
      // Trading under way if it comes soon; the crash goes in either way.
      const placedBefore = async () =>
        (await eventsOf(cluster, 'order')).filter((e) => e.type === 'order.placed').length;
      await until(async () => (await placedBefore()) > 0, ctx.short ? 15_000 : 60_000, 500);
      r.check('orders placed before the crash', true, await placedBefore(), 'orders');

      r.mark('crash injected');
      const injectedAt = Date.now();
      const crash = await postAdmin(`${cluster.url('marketdata')}/scenario/flash-crash`, {
        symbol: SIM_SYMBOL,
        drop: DROP,
      });
      r.check('crash injected (HTTP status)', crash.status === 202, crash.status, 'status');

      let tripped: Envelope | undefined;
      await until(async () => {
        tripped = (await eventsOf(cluster, 'ess')).find((e) => e.type === 'ess.tripped');
        return tripped !== undefined;
      }, 30_000);
      const trigger = (tripped?.data as { trigger?: string } | undefined)?.trigger;
      r.check('ESS tripped with flash_crash', trigger === 'flash_crash', trigger === 'flash_crash' ? 1 : 0, 'boolean');
      const tripMs = tripped ? Date.parse(tripped.time) - injectedAt : Number.NaN;
      r.check('time from injection to trip', tripped !== undefined && tripMs < 10_000, tripMs, 'ms');
      if (tripped) r.mark('ESS tripped');

      let alert: Alert | undefined;
      await until(
        async () => {
          const active = await getJson<{ alerts: Alert[] }>(`${cluster.url('monitoring-health')}/alerts/active`);
          alert = active?.body.alerts.find((a) => a.level === 'CRITICAL' && /ess/i.test(a.component));
          return alert !== undefined;
        },
        30_000,
        250,
      );
      r.check('CRITICAL alert on the ESS raised', alert !== undefined, alert ? 1 : 0, 'boolean');
      const alertMs = alert && tripped ? Date.parse(alert.timestamp) - Date.parse(tripped.time) : Number.NaN;
      r.check('time from the trip to the CRITICAL alert', alert !== undefined && tripped !== undefined, alertMs, 'ms');

      // Watch what execution does after the trip for a while.
      await new Promise((resolve) => setTimeout(resolve, ctx.short ? 5_000 : 30_000));
      const orders = await eventsOf(cluster, 'order');
      const exits = new Set(
        orders
          .filter((e) => e.type === 'order.approved' && (e.data as { emergencyExit?: boolean }).emergencyExit === true)
          .map((e) => (e.data as { orderId: string }).orderId),
      );
      const tripTime = tripped ? Date.parse(tripped.time) : Number.POSITIVE_INFINITY;
      const placedAfter = orders.filter(
        (e) =>
          e.type === 'order.placed' &&
          Date.parse(e.time) > tripTime &&
          !exits.has((e.data as { orderId: string }).orderId),
      ).length;
      r.check(
        'orders placed after the trip (emergency exits excepted)',
        tripped !== undefined && placedAfter === 0,
        placedAfter,
        'orders',
      );
    }),
};
