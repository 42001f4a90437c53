/** The portfolio machine: outbox after fills, throttling on marks, envelope mapping, catalog validity. */
import test from 'ava';
import { createActor } from 'xstate';
import {
  createPortfolioMachine,
  createPortfolioSpec,
  type PortfolioOutput,
  portfolioMachine,
  portfolioSpec,
  portfolioToEvents,
  takePortfolioOutbox,
} from '../../../src/actors/portfolio/portfolio-machine.js';
import { EVENT_CATALOG } from '../../../src/events/catalog.js';
import { createEnvelope } from '../../../src/events/envelope.js';

const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);
const validate = (t: { true(v: boolean, m?: string): void }, outputs: readonly PortfolioOutput[]) => {
  for (const o of outputs) {
    const parsed = EVENT_CATALOG['portfolio.updated'].safeParse(o.data);
    t.true(parsed.success, JSON.stringify(parsed.error?.issues));
  }
};
const fill = (side: 'buy' | 'sell', quantity: number, price: number, fee = 0, symbol = 'BTCUSDT') => ({
  symbol,
  side,
  quantity,
  price,
  fee,
});

test('starts with 100 000 cash by default, or the factory or input value', (t) => {
  const a = createActor(portfolioMachine).start();
  t.is(a.getSnapshot().context.book.cash, 100_000);
  t.deepEqual(a.getSnapshot().context.outbox, []);
  t.is(a.getSnapshot().context.lastPublishedAt, null);
  const b = createActor(createPortfolioMachine({ startingCash: 5000 })).start();
  t.is(b.getSnapshot().context.book.cash, 5000);
  t.is(b.getSnapshot().context.book.peakEquity, 5000);
  const c = createActor(createPortfolioMachine({ startingCash: 5000 }), { input: { startingCash: 42 } }).start();
  t.is(c.getSnapshot().context.book.cash, 42);
});

test('every FILL publishes a valid portfolio.updated with exact data', (t) => {
  const actor = createActor(createPortfolioMachine({ startingCash: 10_000 })).start();
  actor.send({ type: 'FILL', fill: fill('buy', 2, 100, 1), at: T0 });
  actor.send({ type: 'FILL', fill: fill('buy', 1, 3000, 0, 'ETHUSDT'), at: T0 });
  actor.send({ type: 'FILL', fill: fill('sell', 1, 150, 0.5), at: T0 + 1 });
  const out = takePortfolioOutbox(actor);
  t.is(out.length, 3);
  validate(t, out);
  t.deepEqual(out[2], {
    type: 'portfolio.updated',
    data: {
      equity: 10_000 - 200 - 1 - 3000 + 150 - 0.5 + 100 + 3000,
      cash: 10_000 - 200 - 1 - 3000 + 150 - 0.5,
      peakEquity: 10_048.5,
      drawdown: 0,
      realizedPnl: 50,
      unrealizedPnl: 0,
      dailyRealizedPnl: 50,
      exposure: 3100,
      positions: [
        { symbol: 'BTCUSDT', quantity: 1, avgPrice: 100, markPrice: 100 },
        { symbol: 'ETHUSDT', quantity: 1, avgPrice: 3000, markPrice: 3000 },
      ],
    },
  });
  t.deepEqual(actor.getSnapshot().context.outbox, []);
  t.deepEqual(takePortfolioOutbox(actor), []);
  t.is(actor.getSnapshot().context.lastPublishedAt, T0 + 1);
});

test('marks publish at most once per publishEveryMs of event time, but always move the book', (t) => {
  const actor = createActor(createPortfolioMachine({ startingCash: 10_000, publishEveryMs: 1000 })).start();
  actor.send({ type: 'FILL', fill: fill('buy', 1, 100), at: T0 });
  t.is(takePortfolioOutbox(actor).length, 1);
  // A flood of 499 ticks over 4.99 s: one update per full second after the fill.
  for (let i = 1; i < 500; i++) actor.send({ type: 'MARK', symbol: 'BTCUSDT', price: 100 + i, at: T0 + i * 10 });
  const out = takePortfolioOutbox(actor);
  t.is(out.length, 4);
  validate(t, out);
  t.deepEqual(
    out.map((o) => o.data.positions[0]?.markPrice),
    [200, 300, 400, 500],
  );
  t.is(actor.getSnapshot().context.book.marks.BTCUSDT, 599);
  t.is(actor.getSnapshot().context.lastPublishedAt, T0 + 4000);
  // A fill always publishes, whatever the throttle.
  actor.send({ type: 'FILL', fill: fill('sell', 1, 600), at: T0 + 5000 });
  const [last] = takePortfolioOutbox(actor);
  t.is(last?.data.realizedPnl, 500);
  t.deepEqual(last?.data.positions, []);
});

test('the first MARK publishes; an out-of-order MARK does not', (t) => {
  const actor = createActor(portfolioMachine).start();
  actor.send({ type: 'MARK', symbol: 'BTCUSDT', price: 100, at: T0 });
  actor.send({ type: 'MARK', symbol: 'BTCUSDT', price: 101, at: T0 - 5000 });
  const out = takePortfolioOutbox(actor);
  t.is(out.length, 1);
  validate(t, out);
  t.is(out[0]?.data.equity, 100_000);
});

test('a MARK after UTC midnight resets the daily realized PnL in the next update', (t) => {
  const actor = createActor(portfolioMachine).start();
  actor.send({ type: 'FILL', fill: fill('buy', 2, 100), at: Date.UTC(2026, 0, 5, 23, 59) });
  actor.send({ type: 'FILL', fill: fill('sell', 1, 110), at: Date.UTC(2026, 0, 5, 23, 59, 30) });
  actor.send({ type: 'MARK', symbol: 'BTCUSDT', price: 90, at: Date.UTC(2026, 0, 6, 0, 0, 1) });
  const out = takePortfolioOutbox(actor);
  t.is(out.length, 3);
  t.is(out[1]?.data.dailyRealizedPnl, 10);
  t.is(out[2]?.data.dailyRealizedPnl, 0);
  t.is(out[2]?.data.realizedPnl, 10);
  t.is(out[2]?.data.unrealizedPnl, -10);
});

test('drawdown in portfolio.updated follows the peak', (t) => {
  const actor = createActor(createPortfolioMachine({ startingCash: 1000, publishEveryMs: 0 })).start();
  actor.send({ type: 'FILL', fill: fill('buy', 10, 100), at: T0 });
  actor.send({ type: 'MARK', symbol: 'BTCUSDT', price: 110, at: T0 + 1 });
  actor.send({ type: 'MARK', symbol: 'BTCUSDT', price: 99, at: T0 + 2 });
  const out = takePortfolioOutbox(actor);
  validate(t, out);
  t.is(out[1]?.data.peakEquity, 1100);
  t.is(out[2]?.data.equity, 990);
  t.is(out[2]?.data.drawdown, 0.1);
});

test('portfolioToEvents maps order.filled and market.tick, ignores the rest', (t) => {
  const now = new Date(T0);
  const filled = createEnvelope({
    type: 'order.filled',
    source: 'execution',
    producer: 'test',
    seq: 1,
    now,
    data: {
      orderId: 'o1',
      symbol: 'BTCUSDT',
      side: 'sell',
      venue: 'paper',
      venueOrderId: 'v1',
      quantity: 0.5,
      price: 42_000,
      fee: 2.1,
      feeAsset: 'USDT',
    },
  });
  t.deepEqual(portfolioToEvents(filled), [
    { type: 'FILL', fill: { symbol: 'BTCUSDT', side: 'sell', quantity: 0.5, price: 42_000, fee: 2.1 }, at: T0 },
  ]);
  const tick = createEnvelope({
    type: 'market.tick',
    source: 'marketdata',
    producer: 'test',
    seq: 2,
    now: new Date(T0 + 250),
    data: { symbol: 'ETHUSDT', price: 3000, volume: 1 },
  });
  t.deepEqual(portfolioToEvents(tick), [{ type: 'MARK', symbol: 'ETHUSDT', price: 3000, at: T0 + 250 }]);
  const other = createEnvelope({
    type: 'order.cancelled',
    source: 'execution',
    producer: 'test',
    seq: 3,
    data: { orderId: 'o1', symbol: 'BTCUSDT', side: 'buy', reason: 'user' },
  });
  t.deepEqual(portfolioToEvents(other), []);
});

test('the specs drive the machine as the host does, and the snapshot survives a JSON round trip', (t) => {
  t.is(portfolioSpec.name, 'portfolio');
  t.deepEqual([...portfolioSpec.topics], ['order', 'market']);
  const spec = createPortfolioSpec({ startingCash: 2000 });
  const actor = createActor(spec.machine).start();
  const tick = createEnvelope({
    type: 'market.tick',
    source: 'marketdata',
    producer: 'test',
    seq: 1,
    now: new Date(T0),
    data: { symbol: 'BTCUSDT', price: 100, volume: 0 },
  });
  for (const e of spec.toEvents(tick, { receivedAt: 0 })) actor.send(e);
  actor.send({ type: 'FILL', fill: fill('buy', 3, 100, 0.3), at: T0 + 1 });
  const outputs = spec.takeOutputs(actor);
  t.is(outputs.length, 2);
  for (const o of outputs) t.true(EVENT_CATALOG[o.type].safeParse(o.data).success);

  const persisted = JSON.parse(JSON.stringify(spec.machine.getPersistedSnapshot(actor.getSnapshot())));
  const restored = createActor(spec.machine, { snapshot: persisted }).start();
  t.deepEqual(restored.getSnapshot().context, actor.getSnapshot().context);
  restored.send({ type: 'MARK', symbol: 'BTCUSDT', price: 120, at: T0 + 500 });
  t.deepEqual(takePortfolioOutbox(restored), []);
  restored.send({ type: 'MARK', symbol: 'BTCUSDT', price: 130, at: T0 + 1001 });
  t.is(takePortfolioOutbox(restored)[0]?.data.unrealizedPnl, 90);
});
