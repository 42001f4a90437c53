/**
 * Execution on real Redis with the SQLite paper exchange: approved orders
 * are placed and filled once, the ESS projection stops orders before the
 * venue, and an order whose outcome is unknown (a venue error after the
 * order was created, or a process that died mid-call) is looked up, never
 * placed twice.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import type { Redis } from 'ioredis';
import { ExecutionService } from '../../../src/actors/execution/execution-service.js';
import type { EventData } from '../../../src/events/catalog.js';
import type { Envelope } from '../../../src/events/envelope.js';
import { type ExchangeAdapter, VenueError } from '../../../src/exchange/adapter.js';
import { PaperExchange } from '../../../src/exchange/paper-exchange.js';
import { decodeEntry } from '../../../src/streams/codec.js';
import type { Keys } from '../../../src/streams/keys.js';
import { type Published, RedisPublisher } from '../../../src/streams/publisher.js';
import { testKeys, waitFor } from '../../support/bus.js';
import { type RedisServer, startRedis } from '../../support/redis-fixture.js';

let server: RedisServer;
test.before(async () => {
  server = await startRedis({ name: 'execution' });
});
test.after.always(() => server?.stop());

interface Rig {
  redis: Redis;
  keys: Keys;
  dir: string;
  upstream: RedisPublisher;
  orders(): Promise<Envelope[]>;
  approve(orderId: string, quantity?: number): Promise<Published<'order.approved'>>;
  tick(price: number): Promise<Published<'market.tick'>>;
  service(
    venue?: (priceOf: (s: string) => number | undefined) => ExchangeAdapter,
    options?: { closeOnTeardown?: boolean; stopLoss?: number },
  ): Promise<ExecutionService>;
}

function rig(t: ExecutionContext, label: string): Rig {
  const redis = server.client();
  const keys = testKeys(label);
  const dir = mkdtempSync(join(tmpdir(), `qt-exec-${label}-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const upstream = new RedisPublisher({ redis, keys, producer: 'risk', source: 'risk-safety' });
  const approved = (orderId: string, quantity: number): EventData<'order.approved'> => ({
    orderId,
    symbol: 'BTCUSDT',
    side: 'buy',
    type: 'market',
    quantity,
    reduceOnly: false,
    notional: quantity * 50_000,
  });
  return {
    redis,
    keys,
    dir,
    upstream,
    orders: async () => (await redis.xrange(keys.stream('order'), '-', '+')).map(([, f]) => decodeEntry(f)),
    approve: (orderId, quantity = 0.02) => upstream.publish('order.approved', approved(orderId, quantity)),
    tick: (price) => upstream.publish('market.tick', { symbol: 'BTCUSDT', price, volume: 1 }),
    service: async (venue, { closeOnTeardown = true, stopLoss = 0 } = {}) => {
      const service = new ExecutionService({
        redis,
        keys,
        producer: 'exec',
        consumer: 'exec-1',
        dataDir: dir,
        venue:
          venue ??
          ((priceOf) =>
            new PaperExchange({ path: join(dir, 'paper.sqlite'), priceOf, slippageBps: 0, feeRate: 0.001 })),
        brackets: { takeProfit: 0, stopLoss },
      });
      await service.start();
      if (closeOnTeardown) t.teardown(() => service.close());
      return service;
    },
  };
}

/** A venue that forwards to `inner`, with some calls replaced (to inject faults or count calls). */
function wrap(inner: ExchangeAdapter, overrides: Partial<ExchangeAdapter>): ExchangeAdapter {
  return {
    venue: inner.venue,
    placeOrder: (req) => inner.placeOrder(req),
    findOrder: (s, id) => inner.findOrder(s, id),
    cancelOrder: (s, id) => inner.cancelOrder(s, id),
    openOrders: (s) => inner.openOrders(s),
    balances: () => inner.balances(),
    close: () => inner.close(),
    ...overrides,
  };
}

/** What happened to an order: its outcome events, without its approval and the venue answers (order.reported). */
const outcomes = (events: Envelope[], orderId: string) =>
  events
    .filter(
      (e) =>
        (e.data as { orderId?: string }).orderId === orderId &&
        e.type !== 'order.approved' &&
        e.type !== 'order.reported',
    )
    .map((e) => e.type);

test('an approved order is placed on the paper venue and filled once; the trade store records it', async (t) => {
  const r = rig(t, 'fill');
  const service = await r.service();
  await r.tick(50_000);
  const approval = await r.approve('ord-a');
  await waitFor(async () => outcomes(await r.orders(), 'ord-a').length === 2, 'placed and filled');
  const events = await r.orders();
  t.deepEqual(outcomes(events, 'ord-a'), ['order.placed', 'order.filled']);
  const filled = events.find((e) => e.type === 'order.filled');
  t.like(filled?.data, { orderId: 'ord-a', venue: 'paper', quantity: 0.02, price: 50_000, feeAsset: 'USDT' });
  t.is(filled?.source, 'execution');
  t.is(filled?.correlationId, approval.envelope.correlationId, 'the fill carries the correlation id of the approval');
  t.is(filled?.causationId, approval.envelope.id, 'and is caused by it');
  const reported = events.filter((e) => e.type === 'order.reported');
  t.is(reported.length, 1, 'one venue answer, published with the fill');
  t.like(reported[0]?.data, { orderId: 'ord-a', status: 'filled', purpose: 'signal', fills: [{ quantity: 0.02 }] });
  // The writer records it from the stream, through its own group.
  await waitFor(async () => (await service.trades.counts()).trades === 1, 'the writer records the fill');
  t.like(await service.trades.counts(), { orders: 1, trades: 1 });
  t.is((await service.trades.orders())[0]?.status, 'filled');
  t.is(
    (await service.trades.trades())[0]?.tradeId,
    (reported[0]?.data as EventData<'order.reported'> | undefined)?.fills[0]?.tradeId,
  );
  t.true(((await service.venue.balances()).BTC?.free ?? 0) > 0.0199);
});

test('with the ESS projection tripped, an approved order never reaches the venue and is cancelled', async (t) => {
  const r = rig(t, 'halt');
  await r.redis.set(
    r.keys.projection('ess'),
    JSON.stringify({
      state: 'tripped',
      cooldownUntil: new Date(Date.now() + 60_000).toISOString(),
      updatedAt: new Date().toISOString(),
    }),
  );
  let venueOrders = 0;
  const service = await r.service((priceOf) => {
    const paper = new PaperExchange({ path: ':memory:', priceOf });
    return wrap(paper, {
      placeOrder: (req) => {
        venueOrders++;
        return paper.placeOrder(req);
      },
    });
  });
  await r.tick(50_000);
  await r.approve('ord-h');
  await waitFor(async () => outcomes(await r.orders(), 'ord-h').length === 1, 'the order is cancelled');
  const cancelled = (await r.orders()).find((e) => e.type === 'order.cancelled');
  t.like(cancelled?.data, { orderId: 'ord-h' });
  t.is((cancelled?.data as { reason?: string } | undefined)?.reason, 'ESS tripped (TRADING_HALTED)');
  t.is(venueOrders, 0, 'no venue call that could place an order was made');
  t.deepEqual(await service.trades.counts(), { orders: 0, trades: 0 });
});

test('while the ESS projection is tripped only an emergency exit reaches the venue; a refusal names the trip', async (t) => {
  const r = rig(t, 'exit');
  const placed: string[] = [];
  await r.service((priceOf) => {
    const paper = new PaperExchange({ path: ':memory:', priceOf });
    return wrap(paper, {
      placeOrder: (req) => {
        placed.push(req.clientOrderId);
        return paper.placeOrder(req);
      },
    });
  });
  await r.tick(50_000);
  await r.approve('ord-open', 0.04);
  await waitFor(async () => outcomes(await r.orders(), 'ord-open').includes('order.filled'), 'a position');
  await r.redis.set(
    r.keys.projection('ess'),
    JSON.stringify({
      state: 'tripped',
      cooldownUntil: new Date(Date.now() + 60_000).toISOString(),
      updatedAt: new Date().toISOString(),
      trip: { trigger: 'manual', reason: 'drill', operator: 'alice' },
    }),
  );
  const sell = (orderId: string, extra: Partial<EventData<'order.approved'>>) =>
    r.upstream.publish('order.approved', {
      orderId,
      symbol: 'BTCUSDT',
      side: 'sell',
      type: 'market',
      quantity: 0.04,
      reduceOnly: true,
      notional: 2_000,
      ...extra,
    });
  await r.approve('ord-more');
  await sell('ord-reduce', {});
  await sell('flat-1', { emergencyExit: true });
  await waitFor(async () => {
    const events = await r.orders();
    return ['ord-more', 'ord-reduce', 'flat-1'].every((id) =>
      outcomes(events, id).some((type) => type !== 'order.placed'),
    );
  }, 'every order settled');
  const events = await r.orders();
  t.deepEqual(outcomes(events, 'flat-1'), ['order.placed', 'order.filled'], 'the exit went out and filled');
  for (const id of ['ord-more', 'ord-reduce']) {
    t.deepEqual(outcomes(events, id), ['order.cancelled']);
    t.is(
      (events.find((e) => e.type === 'order.cancelled' && e.data.orderId === id)?.data as { reason?: string })?.reason,
      'ESS tripped: tripped by operator alice: drill (TRADING_HALTED)',
    );
  }
  t.deepEqual(placed, ['ord-open', 'flat-1'], 'nothing else reached the venue after the trip');
});

test('an unreadable ESS projection is QT_PROJECTION_INVALID: no order is sent until it reads again', async (t) => {
  const r = rig(t, 'badproj');
  const key = r.keys.projection('ess');
  await r.redis.set(key, JSON.stringify({ state: 'halted', cooldownUntil: null, updatedAt: new Date().toISOString() }));
  let venueOrders = 0;
  const service = await r.service((priceOf) => {
    const paper = new PaperExchange({ path: ':memory:', priceOf });
    return wrap(paper, {
      placeOrder: (req) => {
        venueOrders++;
        return paper.placeOrder(req);
      },
    });
  });
  await t.throwsAsync(service.essState(), { code: 'QT_PROJECTION_INVALID', message: new RegExp(key) } as never);
  await r.tick(50_000);
  await r.approve('ord-p');
  await new Promise((resolve) => setTimeout(resolve, 500));
  t.is(venueOrders, 0, 'nothing was sent while the ESS state could not be read');
  const armed = { state: 'armed', cooldownUntil: null, updatedAt: new Date().toISOString() };
  await r.redis.set(key, JSON.stringify(armed));
  await waitFor(async () => outcomes(await r.orders(), 'ord-p').length === 2, 'placed and filled once readable');
  t.is(venueOrders, 1);
});

test('a venue error after the order was created (unknown outcome) is looked up: one order, one fill', async (t) => {
  const r = rig(t, 'unknown');
  let calls = 0;
  let paper: PaperExchange | undefined;
  await r.service((priceOf) => {
    paper = new PaperExchange({ path: ':memory:', priceOf });
    const venue = paper;
    return wrap(venue, {
      placeOrder: async (req) => {
        calls++;
        await venue.placeOrder(req); // the venue executes it...
        throw new VenueError('unknown', 'HTTP 503 Service Unavailable', { httpStatus: 503 }); // ...but the answer is lost
      },
    });
  });
  await r.tick(50_000);
  await r.approve('ord-u');
  await waitFor(async () => outcomes(await r.orders(), 'ord-u').length === 2, 'placed and filled', 15_000);
  t.deepEqual(outcomes(await r.orders(), 'ord-u'), ['order.placed', 'order.filled']);
  t.is(calls, 1, 'the order was not submitted again');
  t.is(paper?.allOrders().length, 1);
});

test('a process that died inside the venue call: its successor finds the order instead of placing it again', async (t) => {
  const r = rig(t, 'crash');
  const path = join(r.dir, 'paper.sqlite');
  let reachedVenue = false;
  const first = await r.service(
    (priceOf) => {
      const venue = new PaperExchange({ path, priceOf });
      return wrap(venue, {
        placeOrder: async (req) => {
          await venue.placeOrder(req);
          reachedVenue = true;
          return new Promise<never>(() => {}); // the process "dies" here: the answer never comes back
        },
      });
    },
    { closeOnTeardown: false },
  ); // its runner never returns from the call, so it cannot close
  await r.tick(50_000);
  await r.approve('ord-c');
  await waitFor(() => reachedVenue, 'the order reached the venue');
  await first.host.close(); // its consumers stop; the runner stays stuck in the call, as if killed
  await first.writer.close();

  let placedBySuccessor = 0;
  let successorPaper: PaperExchange | undefined;
  await r.service((priceOf) => {
    successorPaper = new PaperExchange({ path, priceOf });
    const venue = successorPaper;
    return wrap(venue, {
      placeOrder: (req) => {
        placedBySuccessor++;
        return venue.placeOrder(req);
      },
    });
  });
  await waitFor(async () => outcomes(await r.orders(), 'ord-c').length === 2, 'the successor reports the order');
  t.deepEqual(outcomes(await r.orders(), 'ord-c'), ['order.placed', 'order.filled']);
  t.is(placedBySuccessor, 0, 'looked up, not resubmitted');
  t.is(successorPaper?.allOrders().length, 1);
});

test('an order the venue rejects for balance fails with order.failed (not retryable)', async (t) => {
  const r = rig(t, 'reject');
  await r.service();
  await r.tick(50_000);
  await r.approve('ord-r', 100); // 5 000 000 USDT of BTC against a 100 000 USDT account
  await waitFor(async () => outcomes(await r.orders(), 'ord-r').length === 1, 'a failure');
  const failed = (await r.orders()).find((e) => e.type === 'order.failed');
  t.like(failed?.data, { orderId: 'ord-r', retryable: false });
  t.regex(String((failed?.data as { reason?: string } | undefined)?.reason), /insufficient balance/);
});

test('when the ESS trips, a resting order is cancelled at the venue and reported cancelled', async (t) => {
  const r = rig(t, 'trip-cancel');
  const service = await r.service();
  await r.tick(50_000);
  await r.upstream.publish('order.approved', {
    orderId: 'ord-rest',
    symbol: 'BTCUSDT',
    side: 'buy',
    type: 'limit',
    quantity: 0.02,
    price: 40_000,
    reduceOnly: false,
    notional: 800,
  });
  await waitFor(async () => outcomes(await r.orders(), 'ord-rest').length === 1, 'the order rests');
  t.is((await service.venue.findOrder('BTCUSDT', 'ord-rest'))?.status, 'new');

  const cooldownUntil = new Date(Date.now() + 60_000).toISOString();
  await r.redis.set(
    r.keys.projection('ess'),
    JSON.stringify({ state: 'tripped', cooldownUntil, updatedAt: new Date().toISOString() }),
  );
  await r.upstream.publish('ess.state_changed', {
    from: 'armed',
    to: 'tripped',
    trigger: 'manual',
    reason: 'drill',
    cooldownUntil,
  });
  await waitFor(async () => outcomes(await r.orders(), 'ord-rest').length === 2, 'the order is cancelled');
  t.deepEqual(outcomes(await r.orders(), 'ord-rest'), ['order.placed', 'order.cancelled']);
  const cancelled = (await r.orders()).find((e) => e.type === 'order.cancelled');
  t.like(cancelled?.data, { orderId: 'ord-rest', reason: 'ESS tripped' });
  t.is((await service.venue.findOrder('BTCUSDT', 'ord-rest'))?.status, 'cancelled', 'cancelled at the venue');
  t.is((await service.venue.balances()).USDT?.locked, 0, 'its funds are released');
});

test('a stop-loss exit is placed and filled when a tick crosses it, closing the position', async (t) => {
  const r = rig(t, 'stop-loss');
  const service = await r.service(undefined, { stopLoss: 0.02 });
  await r.tick(50_000);
  await r.approve('ord-long');
  await waitFor(async () => outcomes(await r.orders(), 'ord-long').length === 2, 'the position opens');
  await r.tick(49_500); // 1 %: inside the stop
  await r.tick(48_900); // 2.2 %: crosses it
  const exit = 'sl-btcusdt-1';
  await waitFor(async () => outcomes(await r.orders(), exit).length === 2, 'the stop-loss exit fills');
  const fill = (await r.orders()).find(
    (e) => e.type === 'order.filled' && (e.data as { orderId: string }).orderId === exit,
  );
  t.like(fill?.data, { side: 'sell', quantity: 0.02, price: 48_900 });
  t.is((await service.venue.balances()).BTC?.free, 0, 'the position is closed at the venue');
  await waitFor(
    async () => (await service.trades.orders()).some((o) => o.clientOrderId === exit),
    'the writer records the exit',
  );
  t.is((await service.trades.orders()).find((o) => o.clientOrderId === exit)?.purpose, 'stop_loss');
});
