/**
 * The run summary of `npm start` (src/ops/run-summary.ts) on real Redis: it counts
 * what the streams carried since start, takes equity from the last
 * portfolio.updated and the ESS state from its projection, skips malformed
 * entries, survives a Redis outage with one warning, and closes at once.
 */
import { Writable } from 'node:stream';
import test from 'ava';
import type { Redis } from 'ioredis';
import { createLogger } from '../../src/log.js';
import { entriesInTimeOrder, RunSummary } from '../../src/ops/run-summary.js';
import { EMPTY_SUMMARY, formatSummary, type SummaryCounts } from '../../src/ops/summary-format.js';
import { RedisPublisher } from '../../src/streams/publisher.js';
import { testKeys, waitFor } from '../support/bus.js';
import { startRedis } from '../support/redis-fixture.js';

/** A pino logger writing JSON records into an array. */
function captureLogger() {
  const records: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line.trim()) records.push(JSON.parse(line));
      done();
    },
  });
  return { log: createLogger({ destination, level: 'debug' }), records };
}

const ZERO = EMPTY_SUMMARY;

const portfolio = (equity: number, drawdown: number) => ({
  equity,
  cash: equity,
  peakEquity: 100_500,
  drawdown,
  realizedPnl: 0,
  unrealizedPnl: 0,
  dailyRealizedPnl: 0,
  exposure: 0,
  positions: [],
});

const essProjection = (state: string) =>
  JSON.stringify({ state, cooldownUntil: null, updatedAt: new Date().toISOString() });

test('formatSummary: the human line, with the rare counts only when they matter', (t) => {
  const counts: SummaryCounts = {
    ...ZERO,
    ticks: 1204,
    signals: 8,
    approved: 6,
    rejected: 2,
    placed: 6,
    filled: 5,
    equity: 100_012.4,
    drawdown: 0.003,
    ess: 'armed',
  };
  t.is(
    formatSummary({ ...counts, ticksPerSecond: 12.3 }),
    'ticks 1204 (+12/s) · signals 8 · orders 6 approved / 2 rejected · fills 5 · equity 100012.40 (dd 0.3%) · ESS armed',
  );
  t.is(
    formatSummary(ZERO),
    'ticks 0 · signals 0 · orders 0 approved / 0 rejected · fills 0 · equity n/a · ESS unknown',
  );
  t.is(
    formatSummary({
      ...counts,
      ticksPerSecond: 5.94,
      cancelled: 1,
      failed: 2,
      essTrips: 1,
      skipped: 3,
      ess: 'tripped',
      redis: 'down',
    }),
    'ticks 1204 (+5.9/s) · signals 8 · orders 6 approved / 2 rejected · fills 5 · cancelled 1 · failed 2 · ' +
      'equity 100012.40 (dd 0.3%) · ESS tripped (1 trip) · skipped 3 · Redis down',
  );
  t.regex(formatSummary({ ...ZERO, ticksPerSecond: 0 }), /^ticks 0 \(\+0\/s\)/);
  t.throws(() => new RunSummary({ redis: {} as Redis, keys: testKeys('x'), intervalMs: 0 }), {
    code: 'QT_CONFIG_INVALID',
  } as never);
});

test('entriesInTimeOrder: one reply over several streams by the millisecond of the ids; ties and each stream keep their order', (t) => {
  const f = (name: string) => ['type', name];
  const reply: [string, [string, string[]][]][] = [
    [
      'order',
      [
        ['100-0', f('o1')],
        ['100-1', f('o2')],
        ['105-0', f('o3')],
        ['107-0', f('o4')],
      ],
    ],
    [
      'ess',
      [
        ['101-0', f('e1')],
        ['105-0', f('e2')],
        ['106-3', f('e3')],
      ],
    ],
  ];
  t.deepEqual(
    entriesInTimeOrder(reply).map((e) => `${e.stream}:${e.id}:${e.fields[1]}`),
    [
      'order:100-0:o1',
      'order:100-1:o2',
      'ess:101-0:e1',
      'order:105-0:o3',
      'ess:105-0:e2',
      'ess:106-3:e3',
      'order:107-0:o4',
    ],
  );
  t.deepEqual(entriesInTimeOrder(null), []);
});

test('counts exactly what the streams carried since start; logs the line and the fields; closes while blocked', async (t) => {
  const server = await startRedis({ name: 'summary' });
  t.teardown(() => server.stop());
  const redis = server.client();
  const keys = testKeys('summary');
  const feed = new RedisPublisher({ redis, keys, producer: 'feed', source: 'test' });
  t.teardown(() => feed.close());

  // Before start: none of this is counted.
  await feed.publish('market.tick', { symbol: 'BTCUSDT', price: 65_000, volume: 1 });
  await feed.publish('order.filled', {
    orderId: 'o-0',
    symbol: 'BTCUSDT',
    side: 'buy',
    venue: 'paper',
    venueOrderId: 'v-0',
    quantity: 0.01,
    price: 65_000,
    fee: 0.5,
    feeAsset: 'USDT',
  });
  await feed.publish('portfolio.updated', portfolio(1, 0.5));
  await redis.set(keys.projection('ess'), essProjection('reducing'));

  const { log, records } = captureLogger();
  const summary = new RunSummary({ redis, keys, intervalMs: 100, blockMs: 30_000, log });
  await summary.start();
  t.teardown(() => summary.close());
  t.like(summary.snapshot(), { ...ZERO, ess: 'reducing' }, 'the ESS state is read at start');

  for (let i = 0; i < 5; i++) await feed.publish('market.tick', { symbol: 'ETHUSDT', price: 3_200 + i, volume: 1 });
  const signal = { symbol: 'ETHUSDT', side: 'buy', confidence: 0.7, price: 3_200 } as const;
  const strategies = [{ name: 'ema-crossover', side: 'buy', score: 0.7 }] as const;
  await feed.publish('signal.generated', { ...signal, signalId: 's-1', strategies: [...strategies] });
  await feed.publish('signal.generated', { ...signal, signalId: 's-2', side: 'sell', strategies: [] });
  const ref = { symbol: 'ETHUSDT', side: 'buy' } as const;
  const approved = { ...ref, type: 'market', quantity: 0.3, reduceOnly: false, notional: 960 } as const;
  await feed.publish('order.approved', { ...approved, orderId: 'o-1' });
  await feed.publish('order.approved', { ...approved, orderId: 'o-2' });
  await feed.publish('order.rejected', { ...ref, orderId: 'o-3', reason: 'LOW_CONFIDENCE', detail: 'low' });
  const venue = { venue: 'paper', venueOrderId: 'v-1', quantity: 0.3 };
  await feed.publish('order.placed', { ...ref, ...venue, orderId: 'o-1' });
  await feed.publish('order.filled', { ...ref, ...venue, orderId: 'o-1', price: 3_200, fee: 1, feeAsset: 'USDT' });
  await feed.publish('order.cancelled', { ...ref, orderId: 'o-2', reason: 'ESS' });
  await feed.publish('order.failed', { ...ref, orderId: 'o-4', reason: 'venue down', retryable: true });
  await feed.publish('portfolio.updated', portfolio(100_100, 0.01));
  await feed.publish('portfolio.updated', portfolio(100_012.4, 0.003));
  await feed.publish('ess.tripped', {
    trigger: 'manual',
    reason: 'drill',
    cooldownUntil: new Date(Date.now() + 60_000).toISOString(),
  });
  // Entries that are not envelopes: skipped, never thrown.
  await redis.xadd(keys.stream('order'), '*', 'type', 'order.filled', 'env', '{not json');
  await redis.xadd(keys.stream('market'), '*', 'type', 'market.tick');
  // A type the summary does not count, and a stream it does not tail.
  await feed.publish('ess.reset', { operator: 'ops', reason: 'drill over' });
  await feed.publish('health.alert_cleared', { alertId: 'a-1' });
  await redis.set(keys.projection('ess'), essProjection('tripped'));

  const expected: SummaryCounts = {
    ticks: 5,
    signals: 2,
    approved: 2,
    rejected: 1,
    placed: 1,
    filled: 1,
    cancelled: 1,
    failed: 1,
    essTrips: 1,
    skipped: 2,
    equity: 100_012.4,
    drawdown: 0.003,
    ess: 'tripped',
  };
  const line =
    'ticks 5 (+0/s) · signals 2 · orders 2 approved / 1 rejected · fills 1 · cancelled 1 · failed 1 · ' +
    'equity 100012.40 (dd 0.3%) · ESS tripped (1 trip) · skipped 2';
  // The counts are final once the reads caught up; the ESS state with the next line; then a line with no new ticks.
  await waitFor(() => records.some((r) => r.msg === line), `the line "${line}"`);
  t.deepEqual(summary.snapshot(), expected);
  const record = records.find((r) => r.msg === line);
  t.like(record, { ...expected, level: 30, ticksPerSecond: 0, redis: 'up' });
  const first = records.find((r) => typeof r.msg === 'string' && r.msg.startsWith('ticks 5 ('));
  t.regex(String(first?.msg), /^ticks 5 \(\+\d+(\.\d)?\/s\)/, 'a line with the ticks shows their rate');
  t.false(
    records.some((r) => Number(r.level) >= 40),
    'no warnings',
  );

  // Blocked in XREAD for up to 30 s: close() breaks it at once, and is idempotent.
  await new Promise((resolve) => setTimeout(resolve, 150));
  const started = performance.now();
  const closing = summary.close();
  t.is(summary.close(), closing);
  await closing;
  t.true(performance.now() - started < 2_000, `closed in ${Math.round(performance.now() - started)} ms`);
  const lines = records.length;
  await feed.publish('market.tick', { symbol: 'ETHUSDT', price: 3_300, volume: 1 });
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.is(summary.snapshot().ticks, 5, 'nothing counted after close');
  t.is(records.length, lines, 'no line after close');
});

test('a Redis outage: one warning, lines keep coming, and counting resumes when Redis is back', async (t) => {
  const server = await startRedis({ name: 'summary-outage' });
  t.teardown(() => server.stop());
  // As the runtime's connections: no offline queue, so every command fails fast while Redis is down.
  const redis = server.client({
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: () => 100,
    lazyConnect: true,
  });
  await redis.connect();
  const keys = testKeys('summary-outage');
  const { log, records } = captureLogger();
  const summary = new RunSummary({ redis, keys, intervalMs: 100, blockMs: 200, log });
  await summary.start();
  t.teardown(() => summary.close());
  const feed = new RedisPublisher({ redis, keys, producer: 'feed', source: 'test' });
  t.teardown(() => feed.close());
  await feed.publish('market.tick', { symbol: 'BTCUSDT', price: 65_000, volume: 1 });
  await waitFor(() => summary.snapshot().ticks === 1, 'one tick');

  await server.kill();
  const warnings = () => records.filter((r) => r.level === 40);
  await waitFor(() => warnings().length > 0, 'an outage warning');
  const downLines = () => records.filter((r) => typeof r.msg === 'string' && r.msg.endsWith('· Redis down'));
  // Several failed reads (one retry a second) and lines later, still one warning.
  await waitFor(() => downLines().length >= 20, 'lines during the outage', 10_000);
  t.is(warnings().length, 1, JSON.stringify(warnings()));
  t.like(downLines().at(-1), { ticks: 1, redis: 'down' });

  await server.restart();
  await waitFor(() => records.some((r) => r.msg === 'run summary: Redis reachable again'), 'back', 15_000);
  await feed.publish('market.tick', { symbol: 'BTCUSDT', price: 65_100, volume: 1 });
  await waitFor(() => summary.snapshot().ticks === 2, 'the tick after the outage', 10_000);
  await waitFor(() => records.at(-1)?.redis === 'up', 'a line with Redis up');
  t.is(warnings().length, 1);
  await summary.close();
});

test('one line per order placed, filled, cancelled or failed and per ESS transition, in the order they were published, across streams', async (t) => {
  const server = await startRedis({ name: 'summary-lines' });
  t.teardown(() => server.stop());
  const redis = server.client();
  const keys = testKeys('summary-lines');
  const { log, records } = captureLogger();
  const summary = new RunSummary({ redis, keys, intervalMs: 100, blockMs: 30_000, log });
  await summary.start();
  t.teardown(() => summary.close());
  const ref = { symbol: 'ETHUSDT', side: 'sell' } as const;
  const approved = { ...ref, type: 'market', quantity: 0.5, reduceOnly: false, notional: 1_600 } as const;
  const venue = { venue: 'paper', venueOrderId: 'v-l1', quantity: 0.5 };
  const cooldownUntil = new Date(Date.now() + 60_000).toISOString();
  const risk = new RedisPublisher({ redis, keys, producer: 'lines-risk', source: 'risk-safety' });
  const ess = new RedisPublisher({ redis, keys, producer: 'lines-ess', source: 'risk-safety' });
  t.teardown(() => Promise.all([risk.close(), ess.close()]));
  const eventLines = () => records.filter((r) => typeof r.event === 'string' && r.event !== 'run.summary');
  /** Publishes, then waits for the line it makes: the order of two streams is then the order of publishing. */
  async function publish(send: () => Promise<unknown>, makesLine = true): Promise<void> {
    const before = eventLines().length;
    await send();
    if (makesLine) await waitFor(() => eventLines().length > before, 'its line');
  }
  await publish(() => risk.publish('order.approved', { ...approved, orderId: 'o-l1' }), false);
  await publish(() => risk.publish('order.approved', { ...approved, orderId: 'o-l2' }), false);
  await publish(() => risk.publish('order.placed', { ...ref, ...venue, orderId: 'o-l1', price: 3_200 }));
  await publish(() =>
    risk.publish('order.filled', { ...ref, ...venue, orderId: 'o-l1', price: 3_201.5, fee: 1.6, feeAsset: 'USDT' }),
  );
  await publish(() =>
    ess.publish('ess.tripped', { trigger: 'manual', reason: 'drill', cooldownUntil, operator: 'ops' }),
  );
  await publish(() =>
    ess.publish('ess.state_changed', {
      from: 'armed',
      to: 'tripped',
      trigger: 'manual',
      reason: 'drill',
      cooldownUntil,
    }),
  );
  await publish(() =>
    risk.publish('order.cancelled', { ...ref, orderId: 'o-l2', reason: 'ESS tripped: TRADING_HALTED' }),
  );
  await publish(() => risk.publish('order.failed', { ...ref, orderId: 'o-l3', reason: 'venue down', retryable: true }));
  await publish(() => ess.publish('ess.reset', { operator: 'ops', reason: 'drill over' }));

  const lines = eventLines;
  await waitFor(
    () =>
      records.some(
        (r) => r.event === 'run.summary' && r.msg === formatSummary({ ...summary.snapshot(), ticksPerSecond: 0 }),
      ),
    'a summary line after them',
  );
  t.deepEqual(
    lines().map((r) => r.msg),
    [
      'placed SELL 0.5 ETHUSDT @ 3200.00 on paper',
      'filled SELL 0.5 ETHUSDT @ 3201.50 fee 1.60 USDT',
      `ESS trip (manual by ops): drill; cooldown until ${cooldownUntil}`,
      `ESS armed → tripped: manual drill; cooldown until ${cooldownUntil}`,
      'cancelled SELL 0.5 ETHUSDT: ESS tripped: TRADING_HALTED',
      'failed SELL ETHUSDT: venue down (retryable)',
      'ESS reset by ops: drill over',
    ],
  );
  t.like(lines()[1], {
    level: 30,
    event: 'order.filled',
    orderId: 'o-l1',
    symbol: 'ETHUSDT',
    side: 'sell',
    quantity: 0.5,
    price: 3_201.5,
    fee: 1.6,
    feeAsset: 'USDT',
  });
  t.like(lines()[4], {
    event: 'order.cancelled',
    orderId: 'o-l2',
    quantity: 0.5,
    reason: 'ESS tripped: TRADING_HALTED',
  });
  t.like(lines()[3], { event: 'ess.state_changed', from: 'armed', to: 'tripped', trigger: 'manual', cooldownUntil });
  for (const line of lines()) t.is(typeof line.correlationId, 'string');
  t.like(
    summary.snapshot(),
    { approved: 2, placed: 1, filled: 1, cancelled: 1, failed: 1, essTrips: 1 },
    'the counts are unchanged',
  );
});
