/**
 * ess-trigger: the equity drawdown passes the 10 % hard limit (one
 * `portfolio.updated` at 88 % of the peak, published on the bus as the
 * portfolio would). Checks: the ESS trips with `drawdown_hard`, a signal
 * sent while tripped is rejected (TRADING_HALTED) and nothing is placed,
 * a reset during the cooldown is refused (409), one after it is accepted,
 * and a signal after the reset is approved again.
 */
import { randomUUID } from 'node:crypto';
import type { Envelope } from '../../../src/events/envelope.js';
import { RedisPublisher } from '../../../src/streams/publisher.js';
import type { Cluster } from '../cluster.js';
import { SIM_SYMBOL, withPlatform } from '../platform.js';
import { eventsOf, latest, postAdmin, until } from '../probes.js';
import type { Scenario } from '../scenario.js';

const PEAK = 100_000;
const EQUITY = 88_000;

/** Publishes a buy signal for the simulated symbol at its last price; its signalId. */
async function sendSignal(cluster: Cluster, publisher: RedisPublisher): Promise<string> {
  const price = await latest(cluster, 'market', (e) =>
    e.type === 'market.tick' && (e.data as { symbol: string }).symbol === SIM_SYMBOL
      ? (e.data as { price: number }).price
      : undefined,
  );
  const signalId = randomUUID();
  await publisher.publish('signal.generated', {
    signalId,
    symbol: SIM_SYMBOL,
    side: 'buy',
    confidence: 0.9,
    price: price ?? 65_000,
    strategies: [],
  });
  return signalId;
}

/** The decision (`order.approved` / `order.rejected`) on a signal, waited for up to 15 s. */
async function decisionOn(cluster: Cluster, signalId: string): Promise<Envelope | undefined> {
  let found: Envelope | undefined;
  await until(
    async () => {
      found = (await eventsOf(cluster, 'order')).find(
        (e) =>
          (e.type === 'order.approved' || e.type === 'order.rejected') &&
          (e.data as { signalId?: string }).signalId === signalId,
      );
      return found !== undefined;
    },
    15_000,
    200,
  );
  return found;
}

export const essTrigger: Scenario = {
  name: 'ess-trigger',
  summary: `equity falls from ${PEAK} to ${EQUITY} (12 % drawdown, hard limit 10 %)`,
  run: (ctx) => {
    const cooldownMs = ctx.short ? 8_000 : 60_000;
    return withPlatform(ctx, { env: { QT_ESS_COOLDOWN_MS: String(cooldownMs) } }, async (cluster) => {
      const r = ctx.recorder;
      const redis = cluster.redis.client();
      const publisher = new RedisPublisher({
        redis,
        keys: cluster.keys,
        producer: 'sim-ess-trigger',
        source: 'simulator',
      });
      await until(async () => (await redis.xlen(cluster.keys.stream('portfolio'))) > 0, 30_000);

      r.mark('drawdown injected');
      const injectedAt = Date.now();
      await publisher.publish('portfolio.updated', {
        equity: EQUITY,
        cash: EQUITY,
        peakEquity: PEAK,
        drawdown: 1 - EQUITY / PEAK,
        realizedPnl: EQUITY - PEAK,
        unrealizedPnl: 0,
        dailyRealizedPnl: 0,
        exposure: 0,
        positions: [],
      });
      let tripped: Envelope | undefined;
      await until(async () => {
        tripped = (await eventsOf(cluster, 'ess')).find((e) => e.type === 'ess.tripped');
        return tripped !== undefined;
      }, 20_000);
      const trigger = (tripped?.data as { trigger?: string } | undefined)?.trigger;
      r.check(
        'ESS tripped with drawdown_hard',
        trigger === 'drawdown_hard',
        trigger === 'drawdown_hard' ? 1 : 0,
        'boolean',
      );
      const trippedAt = tripped ? Date.parse(tripped.time) : Date.now();
      r.check('time from drawdown to trip', tripped !== undefined, trippedAt - injectedAt, 'ms');
      r.mark('ESS tripped');

      const blocked = await decisionOn(cluster, await sendSignal(cluster, publisher));
      const reason = (blocked?.data as { reason?: string } | undefined)?.reason;
      r.check(
        'signal while tripped rejected TRADING_HALTED',
        reason === 'TRADING_HALTED',
        reason === 'TRADING_HALTED' ? 1 : 0,
        'boolean',
      );

      const operator = { operator: 'simulator', reason: 'ess-trigger scenario' };
      const early = await postAdmin(`${cluster.url('risk-safety')}/ess/reset`, operator);
      r.check('reset during the cooldown refused', early.status === 409, early.status, 'status');

      const remaining = trippedAt + cooldownMs - Date.now();
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, remaining) + 1_000));
      const late = await postAdmin(`${cluster.url('risk-safety')}/ess/reset`, operator);
      r.check('reset after the cooldown accepted', late.status === 200, late.status, 'status');
      r.mark('ESS reset');

      const placedWhileTripped = (await eventsOf(cluster, 'order')).filter(
        (e) => e.type === 'order.placed' && Date.parse(e.time) > trippedAt && Date.parse(e.time) < Date.now() - 500,
      ).length;
      r.check('orders placed while tripped', placedWhileTripped === 0, placedWhileTripped, 'orders');

      const resumedAt = Date.now();
      const resumed = await decisionOn(cluster, await sendSignal(cluster, publisher));
      r.check(
        'signal after the reset approved',
        resumed?.type === 'order.approved',
        resumed?.type === 'order.approved' ? 1 : 0,
        'boolean',
      );
      r.check(
        'time from reset to an approval',
        resumed !== undefined,
        resumed ? Date.parse(resumed.time) - resumedAt : Number.NaN,
        'ms',
      );
    });
  },
};
