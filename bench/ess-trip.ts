import type { Redis } from 'ioredis';
import { ActorHost } from '../src/actors/host.js';
import { toEssEvents } from '../src/actors/risk-safety/ess-events.js';
import { createEssMachine } from '../src/actors/risk-safety/ess-machine.js';
import { takeEssOutbox } from '../src/actors/risk-safety/ess-outbox.js';
import { decodeEntry } from '../src/streams/codec.js';
import type { Keys } from '../src/streams/keys.js';
import { RedisPublisher } from '../src/streams/publisher.js';
import { type BenchContext, type BenchResult, compare, now, percentile, progress, round } from './harness.js';
import { BENCH_SOURCE, tickEntryFields } from './workload.js';

/** Measured samples of each side; the p99 is then the 10th-worst, not the 2nd-worst of 200. */
const SAMPLES = 1_000;
const WARMUP = 50;
/**
 * The symbols the ESS watches, in turn. Production watches a fixed set
 * (`QT_SYMBOLS`); a fresh symbol per sample would grow the ESS's persisted
 * state by one price window a sample, which no deployment does.
 */
const SYMBOLS = Array.from({ length: 8 }, (_, i) => `S${i}USDT`);

/**
 * Emergency stop latency (docs/architecture.md §15: p99 < 5 ms): from the `market.tick`
 * that crosses the flash-crash threshold (a 20 % fall) being published, to
 * `ess.tripped` being durable, i.e. committed to the `ess` stream by the
 * actor host's transaction, seen by a blocking XREAD on another connection.
 * The ESS runs in an ActorHost exactly as in production. Between samples it
 * is reset (cooldown 1 ms); each sample is a fall from the symbol's last
 * price, which re-arms its window (a trip restarts the window at the crash
 * price).
 *
 * Baseline: the same round trip with raw ioredis and no runtime: XADD a tick,
 * a raw consumer (XREADGROUP BLOCK → XADD a reply → XACK) answers, and the
 * time runs until the reply is read.
 *
 * The two sides take turns, one sample each, on the same pace: a stall of
 * the machine (a 2-core VM stops a process for a few ms now and then) is as
 * likely to land in either, where a raw side run alone in a 40 ms burst
 * would rarely meet one and its p99 would read low.
 */
export async function run(bench: BenchContext): Promise<BenchResult[]> {
  await bench.flush();
  const raw = await startRawRoundTrip(bench);
  const ess = await startEss(bench);
  const rawLatencies: number[] = [];
  const essLatencies: number[] = [];
  try {
    for (let i = 0; i < SAMPLES + WARMUP; i++) {
      const rawMs = await raw.sample();
      const essMs = await ess.sample(SYMBOLS[i % SYMBOLS.length] as string);
      if (i >= WARMUP) {
        rawLatencies.push(rawMs);
        essLatencies.push(essMs);
      }
    }
  } finally {
    await ess.close();
    await raw.close();
  }
  const sorted = Float64Array.from(essLatencies).sort();
  const baseline = Float64Array.from(rawLatencies).sort();
  progress(`ess trip: p50 ${round(percentile(sorted, 50), 2)} ms, p99 ${round(percentile(sorted, 99), 2)} ms`);
  return [50, 99].map((p) =>
    compare(`ess.trip.latency.p${p}`, 'ms', round(percentile(sorted, p), 3), {
      name: `raw.consume-produce.roundtrip.p${p}`,
      value: round(percentile(baseline, p), 3),
    }),
  );
}

/** One side of the comparison: `sample` measures one round trip in ms. */
interface Side<A extends unknown[]> {
  sample(...args: A): Promise<number>;
  close(): Promise<void>;
}

/** The ESS in an ActorHost on `market`, a feed publisher, and a watcher of the `ess` stream. */
async function startEss(bench: BenchContext): Promise<Side<[symbol: string]>> {
  const keys = bench.keys('ess');
  const host = new ActorHost({
    spec: {
      name: 'ess',
      machine: createEssMachine({ cooldownMs: 1 }),
      topics: ['market'],
      toEvents: toEssEvents,
      takeOutputs: (actor) => takeEssOutbox(actor).publish,
    },
    redis: await bench.connect('ess-host'),
    keys,
    producer: 'bench',
    source: 'risk-safety',
    consumer: 'bench-ess',
    consumerOptions: { blockMs: 1_000 },
  });
  await host.start();
  const publisher = new RedisPublisher({
    redis: await bench.connect('feed'),
    keys,
    producer: 'bench-feed',
    source: BENCH_SOURCE,
  });
  const watcher = await bench.connect('watcher');
  const reader = streamReader(watcher, keys, 'ess');
  return {
    async sample(symbol) {
      await publisher.publish('market.tick', { symbol, price: 100, volume: 1 });
      const started = now();
      await publisher.publish('market.tick', { symbol, price: 80, volume: 1 });
      // Wait for the ess.tripped entry: committed means durable.
      while (!(await reader.next()).some((fields) => decodeEntry(fields).type === 'ess.tripped'));
      const elapsed = now() - started;
      // Re-arm for the next sample: the 1 ms cooldown is over by now.
      await new Promise((r) => setTimeout(r, 2));
      await host.send({ type: 'CLOCK', at: Date.now() });
      await host.send({ type: 'RESET', at: Date.now(), operator: 'bench', reason: 're-arm' });
      if (host.snapshot.value !== 'armed')
        throw new Error(`bench: ESS did not re-arm (${String(host.snapshot.value)})`);
      return elapsed;
    },
    async close() {
      await host.close();
      await publisher.close();
    },
  };
}

/** Raw ioredis: XADD → a consumer's XREADGROUP → its XADD reply → read. */
async function startRawRoundTrip(bench: BenchContext): Promise<Side<[]>> {
  const keys = bench.keys('raw');
  const input = keys.stream('market');
  const output = keys.stream('ess');
  const producer = await bench.connect('raw-producer');
  const consumer = await bench.connect('raw-consumer');
  const reader = streamReader(await bench.connect('raw-reader'), keys, 'ess');
  await producer.xgroup('CREATE', input, 'g', '$', 'MKSTREAM');
  let running = true;
  const loop = (async () => {
    while (running) {
      const reply = (await consumer.xreadgroup('GROUP', 'g', 'c', 'COUNT', 10, 'BLOCK', 200, 'STREAMS', input, '>')) as
        | [string, [string, string[]][]][]
        | null;
      for (const [id, fields] of reply?.[0]?.[1] ?? []) {
        await consumer.xadd(output, '*', ...fields);
        await consumer.xack(input, 'g', id);
      }
    }
  })();
  const fields = tickEntryFields(1);
  return {
    async sample() {
      const started = now();
      await producer.xadd(input, '*', ...fields);
      await reader.next();
      const elapsed = now() - started;
      // The same pause between samples as the ESS side's re-arm.
      await new Promise((r) => setTimeout(r, 2));
      return elapsed;
    },
    async close() {
      running = false;
      await loop;
    },
  };
}

/**
 * Blocking XREAD of one topic's stream from where the last read ended: the
 * streams start empty (flushed), so '0-0' and not '$', which would miss a
 * reply faster than the read.
 */
function streamReader(redis: Redis, keys: Keys, topic: string): { next(): Promise<string[][]> } {
  const stream = keys.stream(topic);
  let lastId = '0-0';
  return {
    async next() {
      const reply = (await redis.xread('BLOCK', 5_000, 'STREAMS', stream, lastId)) as
        | [string, [string, string[]][]][]
        | null;
      if (!reply) throw new Error(`bench: nothing on ${stream} within 5 s`);
      const entries = reply[0]?.[1] ?? [];
      lastId = entries.at(-1)?.[0] ?? lastId;
      return entries.map(([, f]) => f);
    },
  };
}
