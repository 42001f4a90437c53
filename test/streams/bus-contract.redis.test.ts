/**
 * The event bus contract (docs/architecture.md §5), proven against a real redis-server:
 * ordering, ack, redelivery, DLQ, reclaim, duplicates, gaps, NOGROUP, close.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { Registry } from 'prom-client';
import type { Envelope } from '../../src/events/envelope.js';
import { encodeEntry } from '../../src/streams/codec.js';
import { type SequenceGap, StreamConsumer, type StreamConsumerOptions } from '../../src/streams/consumer.js';
import { RedisPublisher } from '../../src/streams/publisher.js';
import { deadLetters, pendingCount, testKeys, waitFor } from '../support/bus.js';
import { type RedisServer, startRedis } from '../support/redis-fixture.js';

let server: RedisServer;
test.before(async () => {
  server = await startRedis({ name: 'contract' });
});
test.after.always(async () => {
  await server?.stop();
});

const tick = (price: number) => ({ symbol: 'BTCUSDT', price, volume: 1 });

function setup(label: string, on: RedisServer = server) {
  const redis = on.client();
  const keys = testKeys(label);
  const consumers: StreamConsumer[] = [];
  const consumer = (opts: Partial<StreamConsumerOptions> & Pick<StreamConsumerOptions, 'handler'>) => {
    const c = new StreamConsumer({
      redis,
      keys,
      topic: 'market',
      group: 'g',
      consumer: 'c1',
      blockMs: 100,
      retryDelayMs: 5,
      ...opts,
    });
    consumers.push(c);
    return c;
  };
  const publisher = (producer = 'p1') => new RedisPublisher({ redis, keys, producer, source: 'test' });
  const closeAll = () => Promise.all(consumers.map((c) => c.close()));
  return { redis, keys, consumer, publisher, closeAll };
}

test('events of one producer and topic arrive in publish order, across producers', async (t) => {
  const { consumer, publisher, closeAll } = setup('order');
  const seen: Envelope[] = [];
  await consumer({ handler: (e) => void seen.push(e) }).start();
  const p1 = publisher('p1');
  const p2 = publisher('p2');
  const calls: Promise<unknown>[] = [];
  for (let i = 1; i <= 400; i++) {
    calls.push(p1.publish('market.tick', tick(i)));
    if (i % 3 === 0) calls.push(p2.publish('market.tick', tick(10_000 + i)));
  }
  await Promise.all(calls);
  await waitFor(() => seen.length === 533, 'all events');
  for (const producer of ['p1', 'p2']) {
    const mine = seen.filter((e) => e.producer === producer);
    t.deepEqual(
      mine.map((e) => e.seq),
      mine.map((_, i) => i + 1),
      `${producer} seqs`,
    );
    const prices = mine.map((e) => (e.data as { price: number }).price);
    t.deepEqual(
      prices,
      [...prices].sort((a, b) => a - b),
      `${producer} call order`,
    );
  }
  await closeAll();
});

test('a handled entry is acked and recorded as processed', async (t) => {
  const { redis, keys, consumer, publisher, closeAll } = setup('ack');
  let handled = 0;
  await consumer({ handler: () => void handled++ }).start();
  const pub = publisher();
  for (let i = 0; i < 25; i++) await pub.publish('market.tick', tick(100 + i));
  await waitFor(() => handled === 25, 'handled');
  await waitFor(async () => (await pendingCount(redis, keys.stream('market'), 'g')) === 0, 'no pending');
  t.is(await redis.hget(keys.groupSeqs('market', 'g'), 'p1'), '25');
  await closeAll();
});

test('a handler error leaves the entry pending and it is redelivered before later entries', async (t) => {
  const { consumer, publisher, closeAll } = setup('redeliver');
  const order: number[] = [];
  const attempts: number[] = [];
  await consumer({
    handler: (e, ctx) => {
      if (e.seq === 3) {
        attempts.push(ctx.deliveries);
        if (ctx.deliveries < 3) throw new Error('transient');
      }
      order.push(e.seq);
    },
  }).start();
  const pub = publisher();
  await Promise.all([1, 2, 3, 4, 5].map((i) => pub.publish('market.tick', tick(i))));
  await waitFor(() => order.length === 5, 'five handled');
  t.deepEqual(attempts, [1, 2, 3], 'delivery count rises with each redelivery');
  t.deepEqual(order, [1, 2, 3, 4, 5]);
  await closeAll();
});

test('after maxDeliveries failures the entry goes to dlq and is acked', async (t) => {
  const { redis, keys, consumer, publisher, closeAll } = setup('maxdel');
  const ok: number[] = [];
  await consumer({
    maxDeliveries: 3,
    handler: (e) => {
      if (e.seq === 2) throw new Error('poison pill');
      ok.push(e.seq);
    },
  }).start();
  const pub = publisher();
  const published = await Promise.all([1, 2, 3].map((i) => pub.publish('market.tick', tick(i))));
  await waitFor(() => ok.length === 2, 'others handled');
  const dead = await deadLetters(redis, keys);
  t.is(dead.length, 1);
  t.like(dead[0], {
    topic: 'market',
    group: 'g',
    reason: 'max_deliveries',
    deliveries: '3',
    error: 'poison pill',
    entryId: published[1]?.entryId,
  });
  t.deepEqual(JSON.parse(dead[0]?.raw ?? '[]')[0], 'type');
  t.deepEqual(ok, [1, 3]);
  t.is(await pendingCount(redis, keys.stream('market'), 'g'), 0);
  await closeAll();
});

test('malformed entries written by hand go to dlq at once and never reach the handler', async (t) => {
  const { redis, keys, consumer, publisher, closeAll } = setup('malformed');
  const handled: Envelope[] = [];
  await consumer({ handler: (e) => void handled.push(e) }).start();
  const pub = publisher();
  await pub.publish('market.tick', tick(1));
  const stream = keys.stream('market');
  const badIds = [
    await redis.xadd(stream, '*', 'type', 'market.tick', 'env', '{not json'),
    await redis.xadd(stream, '*', 'hello', 'world'),
    await redis.xadd(stream, '*', 'type', 'market.tick', 'env', JSON.stringify({ id: 'x', type: 'market.tick' })),
  ];
  await pub.publish('market.tick', tick(2));
  await waitFor(() => handled.length === 2, 'valid events handled');
  await waitFor(async () => (await deadLetters(redis, keys)).length === 3, 'three dead letters');
  const dead = await deadLetters(redis, keys);
  t.deepEqual(
    dead.map((d) => d.entryId),
    badIds,
  );
  t.true(dead.every((d) => d.reason === 'invalid' && d.deliveries === '1'));
  t.regex(dead[0]?.error ?? '', /not JSON/);
  t.regex(dead[1]?.error ?? '', /no "env" field/);
  t.regex(dead[2]?.error ?? '', /invalid envelope/);
  t.deepEqual(
    handled.map((e) => e.seq),
    [1, 2],
  );
  await waitFor(async () => (await pendingCount(redis, stream, 'g')) === 0, 'all acked');
  await closeAll();
});

test('entries of a consumer killed mid-handler are reclaimed by another consumer', async (t) => {
  const { redis, keys, consumer, publisher, closeAll } = setup('reclaim');
  await redis.xgroup('CREATE', keys.stream('market'), 'g', '0', 'MKSTREAM');
  const child = spawn(
    process.execPath,
    [
      '--import=tsx',
      fileURLToPath(new URL('../support/consumer-child.ts', import.meta.url)),
      server.url,
      keys.prefix,
      'market',
      'g',
      'doomed',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.on('data', (d) => {
    out += String(d);
  });
  await waitFor(() => out.includes('ready'), 'child consumer ready', 20_000);
  const pub = publisher();
  await pub.publish('market.tick', tick(1));
  await waitFor(() => out.includes('handling 1'), 'child inside its handler');
  child.kill('SIGKILL');
  await once(child, 'exit');
  t.is(await pendingCount(redis, keys.stream('market'), 'g'), 1, 'the entry is left pending');

  const got: { seq: number; deliveries: number }[] = [];
  await consumer({
    consumer: 'survivor',
    claimIdleMs: 300,
    claimIntervalMs: 100,
    handler: (e, ctx) => void got.push({ seq: e.seq, deliveries: ctx.deliveries }),
  }).start();
  await waitFor(() => got.length === 1, 'reclaimed entry handled');
  t.deepEqual(got, [{ seq: 1, deliveries: 2 }]);
  await waitFor(async () => (await pendingCount(redis, keys.stream('market'), 'g')) === 0, 'acked');
  await closeAll();
});

test('a duplicate (same producer and seq) is acked without reaching the handler', async (t) => {
  const { redis, keys, consumer, publisher, closeAll } = setup('dup');
  const registry = new Registry();
  const handled: number[] = [];
  await consumer({ registry, handler: (e) => void handled.push(e.seq) }).start();
  const pub = publisher();
  const first = await pub.publish('market.tick', tick(1));
  await pub.publish('market.tick', tick(2));
  // A replayed copy: same envelope, new stream entry (as a re-sent XADD would make).
  await redis.xadd(keys.stream('market'), '*', ...encodeEntry(first.envelope as Envelope));
  await pub.publish('market.tick', tick(3));
  await waitFor(() => handled.length === 3, 'three handled');
  await waitFor(async () => (await pendingCount(redis, keys.stream('market'), 'g')) === 0, 'all acked');
  t.deepEqual(handled, [1, 2, 3]);
  const consumed = await registry.getSingleMetric('eventbus_messages_consumed_total')?.get();
  const dupes = consumed?.values.find((v) => v.labels.outcome === 'duplicate');
  t.is(dupes?.value, 1);
  t.is(await redis.xlen(keys.stream('market')), 4, 'the copy is in the stream; it was just not re-applied');
  await closeAll();
});

test('repeats inside one batch, across interleaved producers, are acked without reaching the handler', async (t) => {
  const { redis, keys, consumer, publisher, closeAll } = setup('dup-batch');
  const a = publisher();
  const sent: Envelope[] = [];
  for (let i = 1; i <= 3; i++) sent.push((await a.publish('market.tick', tick(i))).envelope as Envelope);
  const [a1, a2, a3] = sent as [Envelope, Envelope, Envelope];
  const b1 = { ...a1, id: a2.id, producer: 'other-producer', seq: 1 } as Envelope;
  // Written before the consumer starts, so one read takes them all: a3, a2, a1 again, and b1 twice around them.
  for (const copy of [b1, a3, a2, b1, a1]) await redis.xadd(keys.stream('market'), '*', ...encodeEntry(copy));
  const registry = new Registry();
  const handled: string[] = [];
  await consumer({ registry, handler: (e) => void handled.push(`${e.producer}#${e.seq}`) }).start();
  await waitFor(
    async () => (await pendingCount(redis, keys.stream('market'), 'g')) === 0 && handled.length >= 4,
    'all acked',
  );
  t.deepEqual(handled, [`${a1.producer}#1`, `${a1.producer}#2`, `${a1.producer}#3`, 'other-producer#1']);
  const consumed = await registry.getSingleMetric('eventbus_messages_consumed_total')?.get();
  t.is(consumed?.values.find((v) => v.labels.outcome === 'duplicate')?.value, 4);
  t.is(consumed?.values.find((v) => v.labels.outcome === 'handled')?.value, 4);
  await closeAll();
});

test('re-sending an append never duplicates a stream entry', async (t) => {
  const { redis, keys, publisher } = setup('idem');
  const env = (await publisher().publish('market.tick', tick(1))).envelope;
  const send = () =>
    redis.qtAppend(
      keys.stream('market'),
      keys.producerSeqs('market'),
      keys.gaps('market'),
      'p9',
      'instance-1',
      1,
      1,
      'market.tick',
      JSON.stringify({ ...env, producer: 'p9' }),
    );
  // The same batch twice, as ioredis re-sending after a lost reply would.
  const first = await send();
  const second = await send();
  t.regex(String(first[2]), /^\d+-\d+$/, 'appended the first time');
  t.is(Number(second[2]), 0, 'reported as a duplicate the second time');
  t.is(await redis.xlen(keys.stream('market')), 2, 'one entry from the publisher, one from p9');
});

test('a second live process with the same producer id is refused, not deduplicated', async (t) => {
  const { redis, keys, publisher } = setup('twins');
  const a = publisher('same');
  const b = publisher('same');
  await a.publish('market.tick', tick(1));
  await b.publish('market.tick', tick(2)); // b reads seq 1 back from Redis and continues at 2
  // a still believes seq 2 is next; Redis has it from b.
  await t.throwsAsync(a.publish('market.tick', tick(3)), { code: 'QT_PUBLISH_OUT_OF_ORDER' } as never);
  const stream = await redis.xrange(keys.stream('market'), '-', '+');
  t.is(stream.length, 2, 'the refused event was not appended under a reused seq');
});

test('a gap in a producer sequence is counted and reported', async (t) => {
  const { redis, keys, consumer, publisher, closeAll } = setup('gap');
  const registry = new Registry();
  const gaps: SequenceGap[] = [];
  const handled: number[] = [];
  await consumer({ registry, onGap: (g) => void gaps.push(g), handler: (e) => void handled.push(e.seq) }).start();
  const pub = publisher('p1');
  const one = await pub.publish('market.tick', tick(1));
  await waitFor(() => handled.length === 1, 'first');
  // seqs 2..4 never reach the stream (lost): write seq 5 directly.
  const lost = { ...one.envelope, id: '01890a5d-ac96-774b-bcce-b302099a8057', seq: 5 };
  await redis.xadd(keys.stream('market'), '*', ...encodeEntry(lost as Envelope));
  await waitFor(() => gaps.length === 1, 'gap reported');
  t.like(gaps[0], { producer: 'p1', missing: 3, afterSeq: 1, seenSeq: 5 });
  t.deepEqual(handled, [1, 5]);
  const metric = await registry.getSingleMetric('eventbus_sequence_gaps_total')?.get();
  t.is(metric?.values[0]?.value, 3);
  await closeAll();
});

test('a destroyed group is recreated without skipping or re-applying entries', async (t) => {
  const { redis, keys, consumer, publisher, closeAll } = setup('nogroup');
  const handled: number[] = [];
  await consumer({ handler: (e) => void handled.push(e.seq) }).start();
  const pub = publisher();
  for (let i = 1; i <= 5; i++) await pub.publish('market.tick', tick(i));
  await waitFor(() => handled.length === 5, 'first five');
  await redis.xgroup('DESTROY', keys.stream('market'), 'g');
  for (let i = 6; i <= 8; i++) await pub.publish('market.tick', tick(i));
  await waitFor(() => handled.length >= 8, 'after recreation');
  await waitFor(async () => (await pendingCount(redis, keys.stream('market'), 'g')) === 0, 'all acked');
  t.deepEqual(handled, [1, 2, 3, 4, 5, 6, 7, 8], 'old entries deduplicated, new ones handled once');
  await closeAll();
});

test('close() returns promptly while blocked and is idempotent', async (t) => {
  const { consumer } = setup('close');
  const c = consumer({ blockMs: 30_000, handler: () => undefined });
  await c.start();
  await new Promise((r) => setTimeout(r, 100)); // let it enter the blocking read
  const started = Date.now();
  const first = c.close();
  t.is(c.close(), first, 'same promise on repeat');
  await first;
  t.true(Date.now() - started < 5_000, 'did not wait for the 30 s BLOCK');
});

test('close() lets the current entry finish and leaves the rest pending for the next start', async (t) => {
  const { redis, keys, consumer, publisher } = setup('closemid');
  const handled: number[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const c = consumer({
    handler: async (e) => {
      if (e.seq === 2) await gate;
      handled.push(e.seq);
    },
  });
  await c.start();
  const pub = publisher();
  await Promise.all([1, 2, 3, 4].map((i) => pub.publish('market.tick', tick(i))));
  await waitFor(() => handled.length === 1, 'first handled');
  const closing = c.close();
  release();
  await closing;
  t.deepEqual(handled, [1, 2], 'the entry in its handler finished; no new one started');
  t.is(await pendingCount(redis, keys.stream('market'), 'g'), 2, 'entries 3 and 4 stay pending');
  const again = consumer({ handler: (e) => void handled.push(e.seq) });
  await again.start();
  await waitFor(() => handled.length === 4, 'rest handled after restart');
  t.deepEqual(handled, [1, 2, 3, 4]);
  await again.close();
});

test('commitWith writes land atomically with the ack', async (t) => {
  const { redis, keys, consumer, publisher, closeAll } = setup('commitwith');
  const effects = `${keys.prefix}:effects`;
  await consumer({
    handler: () => undefined,
    commitWith: (events) => [['RPUSH', effects, ...events.map((e) => String(e.seq))]],
  }).start();
  const pub = publisher();
  await Promise.all([1, 2, 3].map((i) => pub.publish('market.tick', tick(i))));
  await waitFor(async () => (await redis.llen(effects)) === 3, 'effects committed');
  t.deepEqual(await redis.lrange(effects, 0, -1), ['1', '2', '3']);
  t.is(await pendingCount(redis, keys.stream('market'), 'g'), 0);
  await closeAll();
});

test('after Redis restarts empty the group is recreated and new events flow', async (t) => {
  const own = await startRedis({ name: 'restart-empty' });
  t.teardown(() => own.stop());
  const { redis, consumer, publisher, closeAll } = setup('restart', own);
  t.teardown(closeAll);
  const handled: number[] = [];
  const c = consumer({ handler: (e) => void handled.push(e.seq) });
  await c.start();
  const pub = publisher();
  await pub.publish('market.tick', tick(1));
  await waitFor(() => handled.length === 1, 'before restart');
  await own.kill();
  await own.restart();
  await waitFor(() => redis.status === 'ready', 'client reconnected');
  await pub.publish('market.tick', tick(2));
  await waitFor(() => handled.length === 2, 'after restart', 15_000);
  t.deepEqual(handled, [1, 2], 'the publisher kept its sequence; the consumer took it as a new baseline');
  await c.close();
});
