/**
 * signal-flood: 50 `signal.generated` in 5 s (10 every second, alternating
 * buy and sell) published on the bus as ai-engine would, with the policy's
 * order-rate limit set to 5 per second. Checks: every signal gets exactly
 * one decision, approvals stay within the limit (5/s × the flood's seconds
 * + 1), the rate limit rejects some, consumer lag stays bounded and drains,
 * and nothing reaches the DLQ.
 */
import { randomUUID } from 'node:crypto';
import { RedisPublisher } from '../../../src/streams/publisher.js';
import { SIM_SYMBOL, withPlatform } from '../platform.js';
import { eventsOf, getJson, latest, postAdmin, totalLag, until } from '../probes.js';
import type { Scenario } from '../scenario.js';

const SIGNALS = 50;
const FLOOD_SECONDS = 5;
const RATE_LIMIT = 5;
/** Most consumer lag (entries, every group) the flood may cause. */
const LAG_BOUND = 500;
const CAUGHT_UP_LAG = 20;

export const signalFlood: Scenario = {
  name: 'signal-flood',
  summary: `${SIGNALS} signals in ${FLOOD_SECONDS} s against an order-rate limit of ${RATE_LIMIT}/s`,
  run: (ctx) =>
    withPlatform(ctx, {}, async (cluster, timeline) => {
      const r = ctx.recorder;
      const risk = cluster.url('risk-safety');
      const put = await postAdmin(
        `${risk}/policy`,
        { operator: 'simulator', policy: { maxOrdersPerSecond: RATE_LIMIT } },
        'PUT',
      );
      if (put.status !== 200) throw new Error(`PUT /policy answered ${put.status}: ${JSON.stringify(put.body)}`);
      const inForce = await until(async () => {
        const policy = await getJson<{ maxOrdersPerSecond?: number }>(`${risk}/policy`);
        return policy?.body.maxOrdersPerSecond === RATE_LIMIT;
      }, 10_000);
      if (inForce === undefined)
        throw new Error(`the policy did not show maxOrdersPerSecond ${RATE_LIMIT} within 10 s`);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const redis = cluster.redis.client();
      const price = await latest(cluster, 'market', (e) =>
        e.type === 'market.tick' && (e.data as { symbol: string }).symbol === SIM_SYMBOL
          ? (e.data as { price: number }).price
          : undefined,
      );
      const publisher = new RedisPublisher({
        redis,
        keys: cluster.keys,
        producer: 'sim-signal-flood',
        source: 'simulator',
      });

      r.mark('flood starts');
      const ids = new Set<string>();
      const floodStarted = Date.now();
      let maxLag = 0;
      for (let i = 0; i < SIGNALS; i++) {
        const due = floodStarted + (i * FLOOD_SECONDS * 1000) / SIGNALS;
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - Date.now())));
        const signalId = randomUUID();
        ids.add(signalId);
        const side = i % 2 === 0 ? 'buy' : 'sell';
        await publisher.publish('signal.generated', {
          signalId,
          symbol: SIM_SYMBOL,
          side,
          confidence: 0.9,
          price: price ?? 65_000,
          strategies: [],
        });
        if (i % 5 === 0) maxLag = Math.max(maxLag, (await totalLag(cluster)) ?? 0);
      }
      r.mark('flood ends');

      const decided = async () =>
        (await eventsOf(cluster, 'order')).filter(
          (e) =>
            (e.type === 'order.approved' || e.type === 'order.rejected') &&
            ids.has((e.data as { signalId?: string }).signalId ?? ''),
        );
      const drainedMs = await until(
        async () => {
          maxLag = Math.max(maxLag, (await totalLag(cluster)) ?? 0);
          return (
            (await decided()).length >= SIGNALS &&
            ((await totalLag(cluster)) ?? Number.POSITIVE_INFINITY) <= CAUGHT_UP_LAG
          );
        },
        60_000,
        250,
      );
      maxLag = Math.max(maxLag, ...timeline.values('consumer lag (entries)'));
      const decisions = await decided();
      const perSignal = new Map<string, number>();
      for (const d of decisions) {
        const id = (d.data as { signalId: string }).signalId;
        perSignal.set(id, (perSignal.get(id) ?? 0) + 1);
      }
      const exactlyOnce = [...ids].filter((id) => perSignal.get(id) === 1).length;
      r.check('signals with exactly one risk decision', exactlyOnce === SIGNALS, exactlyOnce, 'signals');
      const approved = decisions.filter((d) => d.type === 'order.approved').length;
      const bound = RATE_LIMIT * (FLOOD_SECONDS + 1);
      r.check(`orders approved (limit ${RATE_LIMIT}/s: at most ${bound})`, approved <= bound, approved, 'orders');
      const limited = decisions.filter((d) => (d.data as { reason?: string }).reason === 'RATE_LIMIT_EXCEEDED').length;
      r.check('signals rejected by the order-rate limit', limited > 0, limited, 'signals');
      r.check(`max consumer lag during the flood (bound ${LAG_BOUND})`, maxLag <= LAG_BOUND, maxLag, 'entries');
      r.check('time from the flood end to lag drained', drainedMs !== undefined, drainedMs ?? Number.NaN, 'ms');
      const dlq = await redis.xlen(cluster.keys.dlq());
      r.check('entries in the DLQ', dlq === 0, dlq, 'entries');
    }),
};
