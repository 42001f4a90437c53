/**
 * What the restart tests (test/ops/restart*.redis.test.ts) share, whichever
 * way they run the services (plain processes or systemd units through a
 * stand-in): reading a topic stream, and the state a restart must keep, a
 * filled position and a tripped ESS with its cooldown.
 */
import type { ExecutionContext } from 'ava';
import type { Envelope } from '../../src/events/envelope.js';
import { decodeEntry } from '../../src/streams/codec.js';
import { RedisPublisher } from '../../src/streams/publisher.js';
import { waitFor } from './bus.js';
import { getJson } from './monitoring.js';
import type { RedisRig } from './rig.js';

/** The admin token every restart test gives its services and `qt`. */
export const RESTART_TOKEN = 'a-restart-admin-token-for-tests';

/** What the shared steps need of a test's platform. */
export interface RestartPlatform {
  readonly rig: RedisRig;
  readonly url: (service: string) => string;
}

/** Every event of `topic`, decoded, in stream order. */
export async function streamEvents(p: RestartPlatform, topic: string): Promise<Envelope[]> {
  const redis = p.rig.server.client();
  try {
    return (await redis.xrange(p.rig.keys.stream(topic), '-', '+')).map(([, fields]) => decodeEntry(fields));
  } finally {
    redis.disconnect();
  }
}

/** The ESS as risk-safety reports it. */
export async function essOf(p: RestartPlatform): Promise<{ state: string; cooldownUntil: string | null }> {
  return (await getJson<{ state: string; cooldownUntil: string | null }>(`${p.url('risk-safety')}/ess`)).body;
}

/**
 * Opens a position (an approval of 0.01 of the ticking symbol, which the
 * paper venue fills at the current price) and trips the ESS, so a restart
 * has state to keep. Resolves with the ESS once tripped and the symbol held.
 */
export async function positionAndTrippedEss(
  t: ExecutionContext,
  p: RestartPlatform,
  options: { readonly orderId: string; readonly reason: string },
): Promise<{ ess: { state: string; cooldownUntil: string | null }; symbol: string }> {
  const redis = p.rig.server.client();
  const desk = new RedisPublisher({ redis, keys: p.rig.keys, producer: 'restart-desk', source: 'test' });
  t.teardown(async () => {
    await desk.close();
    redis.disconnect();
  });
  await waitFor(async () => (await streamEvents(p, 'market')).length > 10, 'ticks', 30_000, 200);
  const tick = (await streamEvents(p, 'market')).findLast((e) => e.type === 'market.tick') as Envelope<'market.tick'>;
  await desk.publish('order.approved', {
    orderId: options.orderId,
    symbol: tick.data.symbol,
    side: 'buy',
    type: 'market',
    quantity: 0.01,
    reduceOnly: false,
    notional: 0.01 * tick.data.price,
    decidedAt: new Date().toISOString(),
    asOf: {},
  });
  await waitFor(
    async () =>
      (await streamEvents(p, 'order')).some(
        (e) => e.type === 'order.filled' && (e.data as { orderId: string }).orderId === options.orderId,
      ),
    'the fill',
    30_000,
    200,
  );
  const trip = await fetch(`${p.url('risk-safety')}/ess/trip`, {
    method: 'POST',
    headers: { authorization: `Bearer ${RESTART_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ operator: 'alice', reason: options.reason }),
  });
  t.true(trip.status === 200 || trip.status === 202, `trip answered ${trip.status}`);
  await waitFor(async () => (await essOf(p)).state === 'tripped', 'tripped', 20_000, 200);
  return { ess: await essOf(p), symbol: tick.data.symbol };
}
