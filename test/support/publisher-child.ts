/**
 * A producer in its own process, so a test can SIGKILL it mid-replay or
 * mid-publish and start it again on the same disk buffer file.
 *
 * Settings come from the environment the runtime reads (REDIS_URL,
 * QT_DATA_DIR, QT_KEY_PREFIX, ...); argv: `producer mode from to`.
 *
 * Modes (every event is a `market.tick` whose price is its number):
 * - `now`: publishes prices from..to at once, then keeps running.
 * - `after-drain`: waits until Redis is ready and the buffer is empty, then
 *   publishes from..to (so they go directly to Redis).
 * - `burst`: publishes from `from` upward without end, 20 events a millisecond.
 *
 * It prints one line per fact, read by the parent:
 * - `open backlog=B inDoubt=D maxSeq=S` once the bus is open (D buffered rows
 *   already carry a seq: they were sent with an unknown outcome);
 * - `backlog=B redis=STATUS` every 20 ms;
 * - `published n=N buffer=B redis=R firstSeq=F lastSeq=L` once all publish()
 *   calls of `now`/`after-drain` resolved (seqs known for via 'redis' only);
 * - `resolved=P called=C` in `burst` mode: publishes from..P have all
 *   resolved, from..C have been called (the rest is in flight);
 * - `metrics replayed=R present=P absent=A`: the drainer's counters (with
 *   each `published` line, and on request via SIGUSR2);
 * - `closed` after a graceful close on SIGTERM.
 */
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { loadConfig } from '../../src/config/load.js';
import { createRedis } from '../../src/streams/connection.js';
import { openEventBus } from '../../src/streams/event-bus.js';
import type { Published } from '../../src/streams/publisher.js';

const [producer = '', mode = '', fromArg = '', toArg = ''] = process.argv.slice(2);
const from = Number(fromArg);
const to = Number(toArg);
if (!producer || !['now', 'after-drain', 'burst'].includes(mode) || !Number.isInteger(from)) {
  process.stderr.write('usage: publisher-child.ts producer now|after-drain|burst from [to]\n');
  process.exit(2);
}

const say = (line: string) => process.stdout.write(`${line}\n`); // synchronous on a pipe: no line is lost to SIGKILL
const registry = new Registry();
const config = loadConfig(process.env);
const bus = await openEventBus(config, {
  producer,
  source: 'publisher-child',
  registry,
  // The connection openEventBus would make, named so the parent can tell when Redis has let go of it.
  redis: createRedis(config, { connectionName: `publisher-child-${process.pid}` }),
  log: pino({ level: 'warn' }, pino.destination(2)),
});
const topic = 'market';
const inDoubt = bus.buffer.oldest(topic, Number.MAX_SAFE_INTEGER).filter((r) => r.seq !== null).length;
say(`open backlog=${bus.buffer.backlog(topic)} inDoubt=${inDoubt} maxSeq=${bus.buffer.maxSeq(topic) ?? 0}`);

const progress = setInterval(() => say(`backlog=${bus.buffer.backlog(topic)} redis=${bus.redis.status}`), 20);

async function metrics(): Promise<string> {
  const value = async (name: string, result?: string) => {
    const m = await registry.getSingleMetric(name)?.get();
    return m?.values.find((v) => result === undefined || v.labels.result === result)?.value ?? 0;
  };
  const inDoubtMetric = 'eventbus_buffer_in_doubt_checks_total';
  return `metrics replayed=${await value('eventbus_buffer_replayed_total')} present=${await value(inDoubtMetric, 'present')} absent=${await value(inDoubtMetric, 'absent')}`;
}

const tick = (price: number) => bus.publisher.publish('market.tick', { symbol: 'BTCUSDT', price, volume: 1 });

async function publishRange(): Promise<void> {
  const sends: Promise<Published>[] = [];
  for (let price = from; price <= to; price++) sends.push(tick(price));
  const results = await Promise.all(sends);
  const seqs = results.map((r) => r.envelope.seq);
  const buffered = results.filter((r) => r.via === 'buffer').length;
  say(
    `published n=${results.length} buffer=${buffered} redis=${results.length - buffered} firstSeq=${seqs[0] ?? 0} lastSeq=${seqs.at(-1) ?? 0}`,
  );
  say(await metrics());
}

async function burst(): Promise<void> {
  // Publishes of one topic resolve in call order; `resolved` only moves over a contiguous prefix,
  // and is printed after the fact, so every printed price had resolved before the line was written.
  let next = from;
  let resolved = from - 1;
  let printed = resolved;
  const done = new Set<number>();
  for (;;) {
    for (let i = 0; i < 20 && next - resolved <= 5_000; i++) {
      const price = next++;
      void tick(price).then(() => {
        done.add(price);
        while (done.delete(resolved + 1)) resolved++;
      });
    }
    if (resolved !== printed) {
      printed = resolved;
      say(`resolved=${printed} called=${next - 1}`);
    }
    await new Promise((r) => setTimeout(r, 1));
  }
}

process.on('SIGUSR2', () => void metrics().then(say));
process.on('SIGTERM', () => {
  clearInterval(progress);
  void bus.close().then(() => {
    say('closed');
    process.exit(0);
  });
});

if (mode === 'now') await publishRange();
else if (mode === 'after-drain') {
  while (bus.buffer.backlog(topic) > 0 || bus.redis.status !== 'ready') await new Promise((r) => setTimeout(r, 5));
  await publishRange();
} else await burst();
