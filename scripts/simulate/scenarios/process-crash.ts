/**
 * process-crash: execution trades against the fake Binance, and is
 * SIGKILLed while a venue call is in flight: the venue has created (and
 * filled) the order but holds its answer back. Execution is then started
 * again. With the price held still, a crash-free order is placed first for
 * reference; each crashed order (1 short, 3 full) must then leave exactly
 * one venue order, one submission, one `order.placed` and one fill, and
 * move the state (execution's positions, the venue's balances, the
 * portfolio's positions and cash) exactly as the crash-free order did, with
 * no order left open and the ESS as it was. ai-engine is left out, so the
 * only orders are the scenario's.
 */

import type { Envelope } from '../../../src/events/envelope.js';
import { toVenueClientOrderId } from '../../../src/exchange/binance/client-order-id.js';
import { FAULTS } from '../../fake-binance/faults.js';
import type { FakeRequest } from '../../fake-binance/server.js';
import type { Cluster } from '../cluster.js';
import { startFakeVenue } from '../fake-venue.js';
import { SIM_SYMBOL, TRADING_SERVICES, withPlatform } from '../platform.js';
import { captureState, differences, stateChange } from '../platform-state.js';
import { eventsOf, getJson, until } from '../probes.js';
import type { Scenario } from '../scenario.js';
import { approvalOf, SignalSender } from '../signals.js';

/** How long the venue holds the answer of the order the crash interrupts (longer than any wait here). */
const HOLD_MS = 120_000;

/** The order of a signal once risk-safety approved it, its events, waited for until `done` holds. */
async function orderOf(
  cluster: Cluster,
  signalId: string,
  done: (events: Envelope[]) => boolean,
  timeoutMs: number,
): Promise<{ orderId: string | undefined; events: Envelope[] }> {
  let orderId: string | undefined;
  let events: Envelope[] = [];
  await until(
    async () => {
      orderId ??= ((await approvalOf(cluster, signalId))?.data as { orderId?: string } | undefined)?.orderId;
      if (orderId === undefined) return false;
      events = (await eventsOf(cluster, 'order')).filter((e) => (e.data as { orderId?: string }).orderId === orderId);
      return done(events);
    },
    timeoutMs,
    100,
  );
  return { orderId, events };
}

const count = (events: Envelope[], type: string) => events.filter((e) => e.type === type).length;
const filled = (events: Envelope[]) => count(events, 'order.filled') > 0;

/** Waits until the portfolio has published after the newest fill (its state includes it). */
async function portfolioCaughtUp(cluster: Cluster): Promise<void> {
  await until(
    async () => {
      const order = await eventsOf(cluster, 'order');
      const lastFill = order.findLast((e) => e.type === 'order.filled');
      if (!lastFill) return true;
      const portfolio = await eventsOf(cluster, 'portfolio');
      return portfolio.some((e) => e.type === 'portfolio.updated' && e.causationId === lastFill.id);
    },
    15_000,
    100,
  );
}

export const processCrash: Scenario = {
  name: 'process-crash',
  summary: 'execution SIGKILLed while the venue holds an order call open, then restarted',
  run: async (ctx) => {
    const crashes = ctx.short ? 1 : 3;
    const watchMs = ctx.short ? 2_000 : 10_000;
    const venue = await startFakeVenue();
    const rest = venue.rest;
    const services = TRADING_SERVICES.filter((s) => s !== 'ai-engine');
    try {
      return await withPlatform(ctx, { services, env: venue.env() }, async (cluster) => {
        const r = ctx.recorder;
        const ready = await until(
          async () => (await cluster.redis.client().xlen(cluster.keys.stream('portfolio'))) > 0,
          30_000,
          200,
        );
        if (ready === undefined) throw new Error('the portfolio published nothing within 30 s');
        venue.freeze(true);
        const signals = new SignalSender(cluster, 'sim-process-crash');

        // The reference: one order with no crash, at the held price.
        const s0 = await captureState(cluster, rest);
        const reference = await orderOf(
          cluster,
          await signals.send(SIM_SYMBOL, 'buy', venue.price(SIM_SYMBOL)),
          filled,
          20_000,
        );
        if (!filled(reference.events)) throw new Error('the crash-free reference order was not filled within 20 s');
        await portfolioCaughtUp(cluster);
        const s1 = await captureState(cluster, rest);
        const perOrder = stateChange(s0, s1);
        r.mark('reference filled');

        const crashed: { orderId: string; venueId: string; held: FakeRequest; killAfterMs: number }[] = [];
        let slowestFillMs = 0;
        for (let i = 0; i < crashes; i++) {
          rest.fail(FAULTS.holdAfterCreate(HOLD_MS));
          const arrived = new Promise<FakeRequest>((resolve) =>
            rest.onRequest((q) => {
              if (q.method === 'POST' && q.path === '/api/v3/order') resolve(q);
            }),
          );
          const signalId = await signals.send(SIM_SYMBOL, 'buy', venue.price(SIM_SYMBOL));
          const held = await Promise.race([
            arrived,
            new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 15_000)),
          ]);
          if (!held) throw new Error('the order never reached the venue');
          await cluster.kill('execution');
          const killAfterMs = Date.now() - held.time;
          r.mark(`execution killed (${i + 1})`);
          ctx.log(
            `execution SIGKILLed ${killAfterMs} ms after the venue received order ${held.params.newClientOrderId}`,
          );
          const restartedAt = Date.now();
          await cluster.start('execution');
          r.mark(`execution restarted (${i + 1})`);
          const { orderId } = await orderOf(cluster, signalId, filled, 30_000);
          if (orderId === undefined) throw new Error('the crashed order was never approved');
          slowestFillMs = Math.max(slowestFillMs, Date.now() - restartedAt);
          crashed.push({ orderId, venueId: toVenueClientOrderId(orderId), held, killAfterMs });
        }
        await new Promise((resolve) => setTimeout(resolve, watchMs));
        await portfolioCaughtUp(cluster);
        const s2 = await captureState(cluster, rest);

        const n = crashed.length;
        const inFlight = crashed.filter(
          (c) => c.held.status === undefined && rest.order(c.venueId) !== undefined,
        ).length;
        r.check(
          'orders whose call was in flight (created, answer held) at the kill',
          inFlight === crashes,
          inFlight,
          'orders',
        );
        r.check(
          'kill after the venue received the order (slowest)',
          true,
          Math.max(...crashed.map((c) => c.killAfterMs)),
          'ms',
        );
        const orderEvents = await eventsOf(cluster, 'order');
        const eventsFor = (id: string) => orderEvents.filter((e) => (e.data as { orderId?: string }).orderId === id);
        const exactlyOne = (what: (c: (typeof crashed)[number]) => number) =>
          crashed.filter((c) => what(c) === 1).length;
        const venueOrders = exactlyOne((c) => rest.orders.filter((o) => o.clientOrderId === c.venueId).length);
        r.check('crashed orders with exactly one venue order', venueOrders === n, venueOrders, 'orders');
        const submitted = exactlyOne(
          (c) => rest.requestsTo('POST', '/api/v3/order').filter((q) => q.params.newClientOrderId === c.venueId).length,
        );
        r.check(
          'crashed orders submitted once (looked up after the restart, not resent)',
          submitted === n,
          submitted,
          'orders',
        );
        const lookups = crashed.reduce(
          (sum, c) =>
            sum +
            rest.requestsTo('GET', '/api/v3/order').filter((q) => q.params.origClientOrderId === c.venueId).length,
          0,
        );
        r.check('lookups by client order id after the restarts', lookups >= n, lookups, 'requests');
        const placedOnce = exactlyOne((c) => count(eventsFor(c.orderId), 'order.placed'));
        r.check('crashed orders with one order.placed', placedOnce === n, placedOnce, 'orders');
        const filledOnce = exactlyOne((c) => count(eventsFor(c.orderId), 'order.filled'));
        r.check('crashed orders with one fill (order.filled)', filledOnce === n, filledOnce, 'orders');
        const trades = await getJson<{ clientOrderId: string }[]>(`${cluster.url('execution')}/trades?limit=1000`);
        const recorded = exactlyOne((c) => (trades?.body ?? []).filter((t) => t.clientOrderId === c.orderId).length);
        r.check("crashed orders with one trade in execution's store", recorded === n, recorded, 'orders');
        r.check('restart to the fill (slowest)', slowestFillMs > 0, slowestFillMs, 'ms');

        const expected = Object.fromEntries(
          Object.entries(perOrder).map(([name, v]) => [name, name.endsWith('average price') ? v : v * n]),
        );
        const diff = differences(stateChange(s1, s2), expected);
        for (const d of diff) ctx.log(`state differs: ${d.name} moved ${d.actual}, expected ${d.expected}`);
        r.check(
          `state figures moved otherwise than ${n} crash-free order${n === 1 ? '' : 's'} would (of ${Object.keys(expected).length})`,
          diff.length === 0 && Object.keys(expected).length > 0,
          diff.length,
          'figures',
        );
        const position = `execution ${SIM_SYMBOL} quantity`;
        r.check(
          `execution ${SIM_SYMBOL} position moved by (${n} crash-free fill${n === 1 ? '' : 's'}' worth)`,
          diff.every((d) => d.name !== position),
          (s2.figures[position] ?? 0) - (s1.figures[position] ?? 0),
          SIM_SYMBOL.replace('USDT', ''),
        );
        r.check(
          `working orders in execution's book after (before: ${s1.workingOrders})`,
          s2.workingOrders === s1.workingOrders,
          s2.workingOrders,
          'orders',
        );
        r.check(
          `orders open at the venue after (before: ${s1.venueOpenOrders})`,
          s2.venueOpenOrders === s1.venueOpenOrders,
          s2.venueOpenOrders,
          'orders',
        );
        r.check(`ESS state unchanged (${s1.ess})`, s2.ess === s1.ess, s2.ess === s1.ess ? 1 : 0, 'boolean');
      });
    } finally {
      await venue.stop();
    }
  },
};
