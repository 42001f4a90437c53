import { ActorHost } from '../src/actors/host.js';
import { toEssEvents } from '../src/actors/risk-safety/ess-events.js';
import { createEssMachine } from '../src/actors/risk-safety/ess-machine.js';
import { takeEssOutbox } from '../src/actors/risk-safety/ess-outbox.js';
import { decodeEntry } from '../src/streams/codec.js';
import { RedisPublisher } from '../src/streams/publisher.js';
import { type BenchContext, type BenchResult, compare, now, percentile, progress, round } from './harness.js';
import { BENCH_SOURCE, tickEntryFields } from './workload.js';

const SAMPLES = 200;
const WARMUP = 20;

/**
 * Emergency stop latency (docs/architecture.md §15: p99 < 5 ms): from the `market.tick`
 * that crosses the flash-crash threshold (a 20 % fall) being published, to
 * `ess.tripped` being durable, i.e. committed to the `ess` stream by the
 * actor host's transaction, seen by a blocking XREAD on another connection.
 * The ESS runs in an ActorHost exactly as in production. Between samples it
 * is reset (cooldown 1 ms) and each sample uses a fresh symbol.
 *
 * Baseline: the same round trip with raw ioredis and no runtime: XADD a tick,
 * a raw consumer (XREADGROUP BLOCK → XADD a reply → XACK) answers, and the
 * time runs until the reply is read.
 */
export async function run(bench: BenchContext): Promise<BenchResult[]> {
  await bench.flush();
  const baseline = await rawRoundTrips(bench);

  await bench.flush();
  const keys = bench.keys('ess');
  const machine = createEssMachine({ cooldownMs: 1 });
  const host = new ActorHost({
    spec: {
      name: 'ess',
      machine,
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
  const essStream = keys.stream('ess');
  let lastId = '0-0'; // the streams start empty (flushed); '$' would miss a reply faster than the read
  const latencies: number[] = [];
  for (let i = 0; i < SAMPLES + WARMUP; i++) {
    const symbol = `S${i}USDT`;
    await publisher.publish('market.tick', { symbol, price: 100, volume: 1 });
    const started = now();
    await publisher.publish('market.tick', { symbol, price: 80, volume: 1 });
    // Wait for the ess.tripped entry: committed means durable.
    for (;;) {
      const reply = (await watcher.xread('BLOCK', 5_000, 'STREAMS', essStream, lastId)) as
        | [string, [string, string[]][]][]
        | null;
      if (!reply) throw new Error('bench: no ess.tripped within 5 s');
      const entries = reply[0]?.[1] ?? [];
      lastId = entries.at(-1)?.[0] ?? lastId;
      if (entries.some(([, f]) => decodeEntry(f).type === 'ess.tripped')) break;
    }
    if (i >= WARMUP) latencies.push(now() - started);
    // Re-arm for the next sample: the 1 ms cooldown is over by now.
    await new Promise((r) => setTimeout(r, 2));
    await host.send({ type: 'CLOCK', at: Date.now() });
    await host.send({ type: 'RESET', at: Date.now(), operator: 'bench', reason: 're-arm' });
    if (host.snapshot.value !== 'armed') throw new Error(`bench: ESS did not re-arm (${String(host.snapshot.value)})`);
  }
  await host.close();
  await publisher.close();
  const sorted = Float64Array.from(latencies).sort();
  progress(`ess trip: p50 ${round(percentile(sorted, 50), 2)} ms, p99 ${round(percentile(sorted, 99), 2)} ms`);
  return [50, 99].map((p) =>
    compare(`ess.trip.latency.p${p}`, 'ms', round(percentile(sorted, p), 3), {
      name: `raw.consume-produce.roundtrip.p${p}`,
      value: round(percentile(baseline, p), 3),
    }),
  );
}

/** Raw ioredis: XADD → a consumer's XREADGROUP → its XADD reply → read; sorted latencies in ms. */
async function rawRoundTrips(bench: BenchContext): Promise<Float64Array> {
  const keys = bench.keys('raw');
  const input = keys.stream('market');
  const output = keys.stream('ess');
  const producer = await bench.connect('raw-producer');
  const consumer = await bench.connect('raw-consumer');
  const reader = await bench.connect('raw-reader');
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
  let lastId = '0-0'; // the streams start empty (flushed); '$' would miss a reply faster than the read
  const latencies: number[] = [];
  for (let i = 0; i < SAMPLES + WARMUP; i++) {
    const started = now();
    await producer.xadd(input, '*', ...fields);
    const reply = (await reader.xread('BLOCK', 5_000, 'STREAMS', output, lastId)) as
      | [string, [string, string[]][]][]
      | null;
    if (!reply) throw new Error('bench: raw round trip timed out');
    lastId = reply[0]?.[1].at(-1)?.[0] ?? lastId;
    if (i >= WARMUP) latencies.push(now() - started);
  }
  running = false;
  await loop;
  return Float64Array.from(latencies).sort();
}
