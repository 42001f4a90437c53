/**
 * The trade store contract (src/exchange/trade-store.ts), one suite for both stores: run by
 * trade-store.sqlite.test.ts and trade-store.pg.test.ts. A store is given by a factory that opens a fresh,
 * empty store and can reopen the same one (another instance on the same file or database).
 */
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import type { VenueFill, VenueOrder } from '../../src/exchange/adapter.js';
import type { StoredOrder, StoredTrade, TradeStore } from '../../src/exchange/trade-store.js';
import { CaseTally } from '../support/case-tally.js';

/** A fresh empty store, and a way to open the same store again (the first is closed first). */
export interface StoreUnderTest {
  readonly store: TradeStore;
  reopen(): Promise<TradeStore>;
}

export type StoreFactory = (t: ExecutionContext) => Promise<StoreUnderTest>;

function fill(tradeId: string, price: number, quantity: number): VenueFill {
  return { tradeId, price, quantity, fee: quantity * price * 0.001, feeAsset: 'USDT' };
}

function answer(overrides: Partial<VenueOrder> & Pick<VenueOrder, 'clientOrderId'>): VenueOrder {
  return {
    venue: 'paper',
    venueOrderId: `v-${overrides.clientOrderId}`,
    symbol: 'BTCUSDT',
    side: 'buy',
    type: 'market',
    status: 'filled',
    quantity: 0.3,
    executedQuantity: 0.3,
    fills: [],
    ...overrides,
  };
}

/** Registers the contract's tests under `name` (e.g. `sqlite`) against stores made by `open`. */
export function tradeStoreContract(name: string, open: StoreFactory): void {
  test(`${name}: an empty store has no orders and no trades`, async (t) => {
    const { store } = await open(t);
    t.deepEqual(await store.counts(), { orders: 0, trades: 0 });
    t.deepEqual(await store.orders(), []);
    t.deepEqual(await store.trades(), []);
  });

  test(`${name}: an answer is stored as its order row and one trade row per fill, every field as written`, async (t) => {
    const { store } = await open(t);
    const order = answer({
      clientOrderId: 'c-1',
      type: 'limit',
      price: 64_999.5,
      quantity: 0.3,
      executedQuantity: 0.30000000000000004,
      averagePrice: 65_000.1,
      fills: [fill('t-1', 65_000, 0.1), fill('t-2', 65_000.15, 0.2)],
    });
    await store.record(order, 'signal', 1_764_590_000_123);
    t.deepEqual(await store.orders(), [
      {
        clientOrderId: 'c-1',
        venue: 'paper',
        venueOrderId: 'v-c-1',
        symbol: 'BTCUSDT',
        side: 'buy',
        type: 'limit',
        quantity: 0.3,
        price: 64_999.5,
        status: 'filled',
        executedQuantity: 0.30000000000000004,
        averagePrice: 65_000.1,
        purpose: 'signal',
        createdAt: 1_764_590_000_123,
        updatedAt: 1_764_590_000_123,
      },
    ] satisfies StoredOrder[]);
    const trades: StoredTrade[] = [fill('t-2', 65_000.15, 0.2), fill('t-1', 65_000, 0.1)].map((f) => ({
      venue: 'paper',
      clientOrderId: 'c-1',
      symbol: 'BTCUSDT',
      side: 'buy',
      ...f,
      recordedAt: 1_764_590_000_123,
    }));
    t.deepEqual(await store.trades(), trades);
    t.deepEqual(await store.counts(), { orders: 1, trades: 2 });
  });

  test(`${name}: an order without a price or an average price keeps them null`, async (t) => {
    const { store } = await open(t);
    await store.record(answer({ clientOrderId: 'c-new', status: 'new', executedQuantity: 0 }), 'stop_loss', 5);
    const [row] = await store.orders();
    t.is(row?.price, null);
    t.is(row?.averagePrice, null);
    t.is(row?.purpose, 'stop_loss');
  });

  test(`${name}: recording the same answer again changes nothing; a later answer updates the order and adds only new fills`, async (t) => {
    const { store } = await open(t);
    const first = answer({
      clientOrderId: 'c-1',
      status: 'partially_filled',
      executedQuantity: 0.1,
      averagePrice: 100,
      fills: [fill('t-1', 100, 0.1)],
    });
    await store.record(first, 'signal', 1_000);
    await store.record(first, 'signal', 2_000);
    t.deepEqual(await store.counts(), { orders: 1, trades: 1 });
    t.is((await store.trades())[0]?.recordedAt, 1_000, 'the fill keeps its first record time');

    const later = answer({
      clientOrderId: 'c-1',
      venueOrderId: 'v-renamed',
      status: 'filled',
      executedQuantity: 0.3,
      averagePrice: 101,
      quantity: 99,
      symbol: 'ETHUSDT',
      fills: [fill('t-1', 100, 0.1), fill('t-2', 101.5, 0.2)],
    });
    await store.record(later, 'take_profit', 3_000);
    t.deepEqual(await store.counts(), { orders: 1, trades: 2 });
    t.like((await store.orders())[0], {
      venueOrderId: 'v-renamed',
      status: 'filled',
      executedQuantity: 0.3,
      averagePrice: 101,
      updatedAt: 3_000,
      // What the first answer set stays.
      createdAt: 1_000,
      purpose: 'signal',
      quantity: 0.3,
      symbol: 'BTCUSDT',
    });
    t.deepEqual(
      (await store.trades()).map((r) => [r.tradeId, r.recordedAt]),
      [
        ['t-2', 3_000],
        ['t-1', 1_000],
      ],
    );
  });

  test(`${name}: one trade id on two venues is two trades`, async (t) => {
    const { store } = await open(t);
    await store.record(answer({ clientOrderId: 'c-p', venue: 'paper', fills: [fill('42', 1, 1)] }), 'signal', 1);
    await store.record(answer({ clientOrderId: 'c-b', venue: 'binance', fills: [fill('42', 1, 1)] }), 'signal', 2);
    t.deepEqual(await store.counts(), { orders: 2, trades: 2 });
  });

  test(`${name}: newest first, ties in byte order of the id, cut at the limit`, async (t) => {
    const { store } = await open(t);
    // Byte order puts upper case before lower case ('B' < 'a' < 'b'), whatever the database's locale.
    for (const [id, at] of [
      ['a', 10],
      ['B', 10],
      ['b', 10],
      ['z', 5],
      ['y', 20],
    ] as const) {
      await store.record(answer({ clientOrderId: id, fills: [fill(`t-${id}`, 1, 1)] }), 'signal', at);
    }
    t.deepEqual(
      (await store.orders()).map((o) => o.clientOrderId),
      ['y', 'b', 'a', 'B', 'z'],
    );
    t.deepEqual(
      (await store.trades(3)).map((r) => r.tradeId),
      ['t-y', 't-b', 't-a'],
    );
    t.deepEqual(
      (await store.orders(1)).map((o) => o.clientOrderId),
      ['y'],
    );
  });

  test(`${name}: what was recorded is there when the store is opened again`, async (t) => {
    const under = await open(t);
    await under.store.record(answer({ clientOrderId: 'c-1', fills: [fill('t-1', 1, 1)] }), 'signal', 7);
    const before = { orders: await under.store.orders(), trades: await under.store.trades() };
    const again = await under.reopen();
    await again.open();
    t.deepEqual({ orders: await again.orders(), trades: await again.trades() }, before);
  });

  const tally = new CaseTally(`${name}: stored rows follow the model`, {
    repeatedFill: 0.5,
    updatedOrder: 0.5,
    severalOrders: 0.5,
  });
  test(`${name}: any sequence of answers (repeats included) leaves the rows a model of the contract predicts`, async (t) => {
    const { store } = await open(t);
    let run = 0;
    let clock = 1_000;
    const ids = ['A', 'a', 'b'];
    const answerArb = fc.record({
      order: fc.constantFrom(...ids),
      status: fc.constantFrom('new', 'partially_filled', 'filled', 'canceled'),
      executed: fc.double({ min: 0, max: 10, noNaN: true }),
      fills: fc.array(
        fc.record({ id: fc.constantFrom('1', '2', '3', '4'), price: fc.double({ min: 1, max: 1e6, noNaN: true }) }),
        {
          maxLength: 3,
        },
      ),
      purpose: fc.constantFrom('signal', 'take_profit', 'stop_loss'),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(answerArb, { minLength: 1, maxLength: 8 }), async (steps) => {
        const seen = tally.run();
        const prefix = `r${run++}-`;
        const orders = new Map<string, StoredOrder>();
        const trades = new Map<string, StoredTrade>();
        for (const step of steps) {
          const now = clock++;
          const clientOrderId = prefix + step.order;
          const venue = step.order === 'b' ? 'binance' : 'paper';
          const a = answer({
            clientOrderId,
            venue,
            status: step.status as VenueOrder['status'],
            executedQuantity: step.executed,
            fills: step.fills.map((f) => fill(`${prefix}${f.id}`, f.price, 1)),
          });
          await store.record(a, step.purpose, now);
          const old = orders.get(clientOrderId);
          if (old) seen('updatedOrder');
          orders.set(clientOrderId, {
            clientOrderId,
            venue,
            venueOrderId: a.venueOrderId,
            symbol: old?.symbol ?? a.symbol,
            side: old?.side ?? a.side,
            type: old?.type ?? a.type,
            quantity: old?.quantity ?? a.quantity,
            price: old ? old.price : null,
            status: a.status,
            executedQuantity: a.executedQuantity,
            averagePrice: null,
            purpose: old?.purpose ?? step.purpose,
            createdAt: old?.createdAt ?? now,
            updatedAt: now,
          });
          for (const f of a.fills) {
            const key = `${venue}/${f.tradeId}`;
            if (trades.has(key)) {
              seen('repeatedFill');
              continue;
            }
            trades.set(key, { venue, clientOrderId, symbol: a.symbol, side: a.side, ...f, recordedAt: now });
          }
        }
        if (orders.size > 1) seen('severalOrders');
        const byNewest =
          <R>(time: (r: R) => number, id: (r: R) => string) =>
          (x: R, y: R) =>
            time(y) - time(x) || (id(y) < id(x) ? -1 : id(y) > id(x) ? 1 : 0);
        const expectedOrders = [...orders.values()].sort(
          byNewest(
            (o) => o.createdAt,
            (o) => o.clientOrderId,
          ),
        );
        const expectedTrades = [...trades.values()].sort(
          byNewest(
            (r) => r.recordedAt,
            (r) => r.tradeId,
          ),
        );
        const mine = (id: string) => id.startsWith(prefix);
        const gotOrders = (await store.orders(100_000)).filter((o) => mine(o.clientOrderId));
        const gotTrades = (await store.trades(100_000)).filter((r) => mine(r.tradeId));
        t.deepEqual(gotOrders, expectedOrders);
        t.deepEqual(gotTrades, expectedTrades);
        return true;
      }),
      { numRuns: 40 },
    );
    const all = await store.counts();
    t.true(all.orders > 0 && all.trades > 0);
  });
}
