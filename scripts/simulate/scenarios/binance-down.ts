/**
 * binance-down: the platform trades against the fake Binance (orders,
 * market data, monitoring's probe) while the venue answers, in turn, 5xx
 * (before and after creating the order), -1003, -1015, a 429 with
 * Retry-After, and a 418 ban (on monitoring's probe, with the market-data
 * stream cut at the same moment so marketdata wants a back-fill during it);
 * the full version then holds the minute's request weight a few units below
 * the limit, as other clients of the IP would. The scenario sends a signal
 * every 500 ms (1 s full), buy and sell in turn. Checks, from the venue's
 * own records: retries stay bounded, no request reaches the venue during
 * the hold or the ban, the minute's weight never passes the limit, no order
 * is made twice, and every approved order ends filled, failed or cancelled.
 */
import { FAULTS } from '../../fake-binance/faults.js';
import { startFakeVenue, WEIGHT_LIMIT } from '../fake-venue.js';
import { SIM_SYMBOL, withPlatform } from '../platform.js';
import { eventsOf, getJson, until } from '../probes.js';
import type { Scenario } from '../scenario.js';
import { SignalSender } from '../signals.js';
import { auditOrderTable, byCaller, ordersWithoutOutcome, requestsInside, requestsPerOrder } from '../venue-audit.js';

/** The part of monitoring's `GET /health/system` the scenario reads. */
interface SystemBody {
  readonly components?: { readonly infrastructure?: { readonly exchange?: { readonly error?: string | null } } };
}

/** How long after the first 418 the ban counts as known to every process (shared in Redis, read before each request). */
const BAN_SHARE_MS = 250;
const ORDER = { method: 'POST', path: '/api/v3/order' } as const;
/** Most requests one order may cost: the adapter's 4 submissions and a lookup after each. */
const REQUESTS_PER_ORDER_BOUND = 8;
/** Weight left to the platform in a minute held near the limit: a few orders' and probes' worth. */
const WEIGHT_HEADROOM = 20;

export const binanceDown: Scenario = {
  name: 'binance-down',
  summary: '5xx, -1003, -1015, 429 with Retry-After and a 418 ban from the fake Binance, in turn, while trading',
  run: async (ctx) => {
    const short = ctx.short;
    const settleMs = short ? 1_500 : 5_000;
    const holdSec = short ? 2 : 5;
    const banSec = short ? 5 : 30;
    const maxPendingMs = short ? 8_000 : 30_000;
    const venue = await startFakeVenue();
    const rest = venue.rest;
    try {
      const extra = () => {
        const window = rest.weightWindows().at(-1);
        const now = Date.now();
        return {
          'venue weight this minute': window && now - window.start < 60_000 ? window.weight : 0,
          'venue requests per second': rest.requests.filter((r) => r.time > now - 1_000).length,
        };
      };
      const env = { ...venue.env(), QT_ORDER_MAX_PENDING_MS: String(maxPendingMs) };
      return await withPlatform(ctx, { env, extra }, async (cluster) => {
        const r = ctx.recorder;
        const ticking = await until(
          async () => (await cluster.redis.client().xlen(cluster.keys.stream('market'))) > 50,
          30_000,
        );
        if (ticking === undefined) throw new Error("the fake venue's feed published no ticks within 30 s");

        const signals = new SignalSender(cluster, 'sim-binance-down');
        let pumping = true;
        let sent = 0;
        const pump = (async () => {
          while (pumping) {
            const side = sent % 2 === 0 ? 'buy' : 'sell';
            await signals.send(SIM_SYMBOL, side, venue.price(SIM_SYMBOL)).catch(() => undefined);
            sent++;
            await new Promise((resolve) => setTimeout(resolve, short ? 500 : 1_000));
          }
        })();
        // Trading first, so every fault meets an order stream under way.
        await until(async () => rest.orders.length >= 2, 20_000, 200);

        let injected = 0;
        /** Queues faults, waits until the venue has answered them all, then lets the platform settle. */
        const phase = async (label: string, faults: Parameters<typeof rest.fail>[0][]) => {
          r.mark(label);
          ctx.log(`injecting ${label}`);
          for (const f of faults) {
            rest.fail(f);
            injected += f.times ?? 1;
          }
          const answered = await until(() => rest.pendingFaults() === 0, 30_000, 50);
          if (answered === undefined) ctx.log(`${label}: ${rest.pendingFaults()} faults still unanswered after 30 s`);
          await new Promise((resolve) => setTimeout(resolve, settleMs));
        };

        await phase('5xx', [FAULTS.serverError(502, { ...ORDER, times: 2 }), FAULTS.serverErrorAfterCreate(503)]);
        await phase('-1003', [FAULTS.tooManyRequests({ ...ORDER, times: 2 })]);
        await phase('-1015', [FAULTS.tooManyOrders({ ...ORDER, times: 2 })]);

        const holdFrom = rest.requests.length;
        await phase('429 Retry-After', [FAULTS.http429(holdSec, ORDER)]);
        const holdAnswer = rest.requests.slice(holdFrom).find((q) => q.status === 429);
        const hold = holdAnswer ? { from: holdAnswer.time, until: holdAnswer.time + holdSec * 1000 } : undefined;

        r.mark('418 ban');
        ctx.log(`injecting a ${banSec} s ban on monitoring's probe, cutting the streams`);
        rest.fail(FAULTS.http418(banSec, { method: 'GET', path: '/api/v3/ping' }));
        injected++;
        await until(() => rest.bans.length > 0, 30_000, 20);
        venue.interrupt(1_500);
        const ban = rest.bans[0];
        const banAnswer = ban ? rest.requests.find((q) => q.status === 418 && q.time >= ban.from - 1) : undefined;
        const approvedBefore = (await eventsOf(cluster, 'order')).filter((e) => e.type === 'order.approved').length;
        // What the processes themselves say while it lasts: monitoring's exchange reading.
        let probeSawBan = false;
        while (Date.now() < (ban?.until ?? 0)) {
          const system = await getJson<SystemBody>(`${cluster.url('monitoring-health')}/health/system`);
          if (/banned/.test(system?.body.components?.infrastructure?.exchange?.error ?? '')) probeSawBan = true;
          await new Promise((resolve) =>
            setTimeout(resolve, Math.min(500, Math.max(0, (ban?.until ?? 0) - Date.now()))),
          );
        }
        r.mark('ban over');
        const feed = await getJson<{ details?: { backfillFailures?: number } }>(`${cluster.url('marketdata')}/feed`);
        const heldBackfills = feed?.body.details?.backfillFailures ?? 0;
        const approvedDuringBan =
          (await eventsOf(cluster, 'order')).filter((e) => e.type === 'order.approved').length - approvedBefore;
        await new Promise((resolve) => setTimeout(resolve, settleMs));

        let pinned = 0;
        if (!short) {
          r.mark('weight held near the limit');
          ctx.log("holding the minute's weight near the limit (other clients of the IP)");
          pinned = await venue.holdWeightNearLimit(15_000, WEIGHT_HEADROOM);
        }
        pumping = false;
        await pump;
        r.mark('signals stop');

        // Every approved order must come to an end: placed and filled, or failed, or cancelled.
        const outcomeWait = maxPendingMs + 75_000;
        const endedMs = await until(
          async () => ordersWithoutOutcome(await eventsOf(cluster, 'order')).open.length === 0,
          outcomeWait,
          500,
        );
        ctx.log(`orders ended ${endedMs ?? 'never'} ms after the signals stopped`);
        const orderEvents = await eventsOf(cluster, 'order');

        r.check('faults answered by the venue', rest.pendingFaults() === 0, injected - rest.pendingFaults(), 'faults');
        const counted = requestsPerOrder(rest);
        const perOrder = [...counted.values()];
        const most = Math.max(0, ...perOrder);
        const costliest = [...counted].find(([, n]) => n === most)?.[0];
        const trail = rest.requests
          .filter((q) => (q.params.newClientOrderId ?? q.params.origClientOrderId) === costliest)
          .map((q) => `${q.method} ${q.status ?? 'dropped'}`);
        ctx.log(`the costliest order (${most} requests): ${trail.join(', ')}`);
        r.check(
          `most venue requests for one order (bound ${REQUESTS_PER_ORDER_BOUND})`,
          most <= REQUESTS_PER_ORDER_BOUND,
          most,
          'requests',
        );
        const retries = perOrder.reduce((sum, n) => sum + n - 1, 0);
        r.check(
          `venue retries and lookups in all (bound ${REQUESTS_PER_ORDER_BOUND} per fault)`,
          retries <= REQUESTS_PER_ORDER_BOUND * injected,
          retries,
          'requests',
        );

        const inHold = hold && holdAnswer ? requestsInside(rest, hold, holdAnswer) : [];
        r.check(
          'requests during the Retry-After hold (every process)',
          hold !== undefined && inHold.length === 0,
          inHold.length,
          'requests',
        );
        // The platform learns of a ban from its first 418 (monitoring's probe here), which that process
        // shares through Redis: a request another process signed before it could read that is not one
        // that ignored the ban. Counted from BAN_SHARE_MS after the first 418 answer.
        const knownAt = (banAnswer?.time ?? ban?.from ?? 0) + BAN_SHARE_MS;
        const inBan = ban ? requestsInside(rest, { from: knownAt, until: ban.until }, banAnswer) : [];
        const beforeShared = ban ? requestsInside(rest, { from: ban.from, until: knownAt }, banAnswer) : [];
        ctx.log(
          `requests during the ban: ${JSON.stringify(byCaller(inBan))}; signed before it was shared: ${JSON.stringify(byCaller(beforeShared))}`,
        );
        r.check(
          'requests during the ban (every process)',
          ban !== undefined && inBan.length === 0,
          inBan.length,
          'requests',
        );
        r.check('ban length', ban !== undefined, ban ? ban.until - ban.from : Number.NaN, 'ms');
        r.check(
          'orders approved during the ban (execution had to wait)',
          approvedDuringBan > 0,
          approvedDuringBan,
          'orders',
        );
        r.check("monitoring's exchange probe reported the ban", probeSawBan, probeSawBan ? 1 : 0, 'boolean');
        r.check('marketdata back-fills refused by the shared ban', heldBackfills > 0, heldBackfills, 'attempts');
        const backfills = ban ? rest.requestsTo('GET', '/api/v3/klines').filter((q) => q.time >= ban.until) : [];
        r.check(
          'klines back-fills after the ban (marketdata waited)',
          backfills.length > 0,
          backfills.length,
          'requests',
        );

        const maxWeight = Math.max(0, ...rest.weightWindows().map((w) => w.weight));
        r.check(
          `most request weight in one minute (limit ${WEIGHT_LIMIT})`,
          maxWeight <= WEIGHT_LIMIT,
          maxWeight,
          'weight',
        );
        if (!short) r.check('minutes held near the limit', pinned > 0, pinned, 'minutes');

        const table = auditOrderTable(rest, orderEvents);
        r.check('venue orders', table.venueOrders > 0, table.venueOrders, 'orders');
        r.check('duplicate venue orders (same client order id)', table.duplicates === 0, table.duplicates, 'orders');
        r.check('venue orders execution never reported', table.unreported === 0, table.unreported, 'orders');
        const outcomes = ordersWithoutOutcome(orderEvents);
        for (const e of orderEvents.filter((x) => x.type === 'order.failed' || x.type === 'order.cancelled'))
          ctx.log(`${e.type} ${(e.data as { orderId: string }).orderId}: ${(e.data as { reason?: string }).reason}`);
        r.check('orders filled', outcomes.filled > 0, outcomes.filled, 'orders');
        r.check('orders failed or cancelled', true, outcomes.failed + outcomes.cancelled, 'orders');
        r.check('orders without a final outcome (hanging)', outcomes.open.length === 0, outcomes.open.length, 'orders');
      });
    } finally {
      await venue.stop();
    }
  },
};
