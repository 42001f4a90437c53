/**
 * What real `main` processes export on `GET /metrics`, for the infra tests
 * (test/infra/prometheus.test.ts, test/infra/grafana.test.ts): a
 * `main --actors=all` on the paper venue, with one approved order driven
 * through to a fill and then an operator's ESS trip, so the trading, ESS and
 * alert series have samples, and a
 * `main --actors=execution` on the fake Binance, whose venue-budget series
 * only a Binance venue has.
 */
import type { ExecutionContext } from 'ava';
import { SERVICE_NAMES, SERVICES, type ServiceName } from '../../src/actors/services.js';
import { decodeEntry } from '../../src/streams/codec.js';
import { RedisPublisher } from '../../src/streams/publisher.js';
import { waitFor } from './bus.js';
import { startFakeBinance } from './fake-binance.js';
import { startMain } from './main-process.js';
import { redisRig } from './rig.js';

const ADMIN_TOKEN = 'live-metrics-admin-token';

/** A running `main` and the services whose ports it serves. */
export interface LiveMain {
  readonly services: readonly ServiceName[];
  /** `GET /metrics` of each service, in the exposition format. */
  scrape(): Promise<Map<ServiceName, string>>;
}

/** The metric names with at least one sample in an exposition (`_bucket`, `_sum`, `_count` as they appear). */
export function sampledNames(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const line of exposition.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
    if (m) names.add(m[1] as string);
  }
  return names;
}

function live(services: readonly ServiceName[], port: (base: number) => number): LiveMain {
  return {
    services,
    async scrape() {
      const out = new Map<ServiceName, string>();
      for (const name of services) {
        const res = await fetch(`http://127.0.0.1:${port(SERVICES[name].port)}/metrics`);
        out.set(name, await res.text());
      }
      return out;
    },
  };
}

/** `main --actors=all` on the paper venue, with one order approved and filled, then the ESS tripped. */
export async function startPaperMain(t: ExecutionContext): Promise<LiveMain> {
  const rig = await redisRig(t, 'metrics-all');
  const { port } = await startMain(t, ['--actors=all'], {
    ...rig.env,
    QT_SUMMARY_INTERVAL_MS: '0',
    QT_ADMIN_TOKEN: ADMIN_TOKEN,
  });
  const redis = rig.server.client();
  t.teardown(() => redis.quit().then(() => undefined));
  const risk = new RedisPublisher({ redis, keys: rig.keys, producer: 'metrics-test', source: 'risk-safety' });
  const fills = async () =>
    (await redis.xrange(rig.keys.stream('order'), '-', '+'))
      .map(([, f]) => decodeEntry(f))
      .filter((e) => e.type === 'order.filled' && (e.data as { orderId: string }).orderId === 'ord-metrics-1');
  // Execution fills at the last price it saw: wait for its first tick, then approve one order.
  await waitFor(async () => (await redis.xlen(rig.keys.stream('market'))) > 20, 'ticks', 30_000, 100);
  await risk.publish('order.approved', {
    orderId: 'ord-metrics-1',
    symbol: 'BTCUSDT',
    side: 'buy',
    type: 'market',
    quantity: 0.001,
    reduceOnly: false,
    notional: 50,
  });
  await waitFor(async () => (await fills()).length === 1, 'the order filled', 30_000, 100);
  // A trip: the ESS state and trip series move, and monitoring-health raises its alert.
  const trip = await fetch(`http://127.0.0.1:${port(SERVICES['risk-safety'].port)}/ess/trip`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ operator: 'metrics-test', reason: 'series of a trip' }),
  });
  if (trip.status !== 200) throw new Error(`POST /ess/trip answered ${trip.status}: ${await trip.text()}`);
  return live(SERVICE_NAMES, port);
}

/** `main --actors=execution` with QT_EXCHANGE=binance-testnet against the fake Binance. */
export async function startBinanceMain(t: ExecutionContext): Promise<LiveMain> {
  const rig = await redisRig(t, 'metrics-binance');
  const fake = await startFakeBinance({ prices: { BTCUSDT: 50_000 } });
  t.teardown(() => fake.close());
  const { port } = await startMain(t, ['--actors=execution'], {
    ...rig.env,
    QT_SUMMARY_INTERVAL_MS: '0',
    QT_EXCHANGE: 'binance-testnet',
    BINANCE_BASE_URL: fake.url,
    BINANCE_API_KEY: fake.apiKey,
    BINANCE_API_SECRET: fake.apiSecret,
  });
  return live(['execution'], port);
}

/**
 * Scrapes until every name of `wanted` has a sample somewhere (series set on
 * a schedule, like a consumer's lag or monitoring-health's statuses, need a
 * cycle), or `timeoutMs` passes; returns the last scrapes either way.
 */
export async function scrapeUntil(
  mains: readonly LiveMain[],
  wanted: ReadonlySet<string>,
  timeoutMs = 60_000,
): Promise<{ expositions: Map<string, string>; names: Set<string> }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const expositions = new Map<string, string>();
    const names = new Set<string>();
    for (const [i, main] of mains.entries()) {
      for (const [service, text] of await main.scrape()) {
        expositions.set(`${i}:${service}`, text);
        for (const n of sampledNames(text)) names.add(n);
      }
    }
    if ([...wanted].every((n) => names.has(n)) || Date.now() > deadline) return { expositions, names };
    await new Promise((r) => setTimeout(r, 1_000));
  }
}
