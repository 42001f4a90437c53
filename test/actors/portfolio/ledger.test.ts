/** Fills, marks, PnL, equity, peak, drawdown and the daily reset of the pure ledger. */
import test from 'ava';
import {
  applyFill,
  applyMark,
  type Book,
  createBook,
  type Fill,
  rollDay,
  valuation,
} from '../../../src/actors/portfolio/ledger.js';

const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);
const buy = (quantity: number, price: number, fee = 0, symbol = 'BTCUSDT'): Fill => ({
  symbol,
  side: 'buy',
  quantity,
  price,
  fee,
});
const sell = (quantity: number, price: number, fee = 0, symbol = 'BTCUSDT'): Fill => ({
  symbol,
  side: 'sell',
  quantity,
  price,
  fee,
});
const fills = (book: Book, ...list: Fill[]): Book => list.reduce((b, f) => applyFill(b, f, T0), book);

test('a new book holds only cash and its peak is the starting cash', (t) => {
  const book = createBook(1000);
  t.deepEqual(valuation(book), { equity: 1000, unrealizedPnl: 0, exposure: 0, drawdown: 0 });
  t.is(book.peakEquity, 1000);
  t.is(book.day, '');
});

test('opening a long spends cash, marks at the fill price and sets the day', (t) => {
  const book = fills(createBook(10_000), buy(2, 100));
  t.is(book.cash, 9800);
  t.deepEqual(book.positions, { BTCUSDT: { quantity: 2, avgPrice: 100 } });
  t.is(book.marks.BTCUSDT, 100);
  t.is(book.realizedPnl, 0);
  t.is(book.day, '2026-01-05');
  t.deepEqual(valuation(book), { equity: 10_000, unrealizedPnl: 0, exposure: 200, drawdown: 0 });
});

test('adding to a long moves the average price', (t) => {
  const book = fills(createBook(10_000), buy(1, 100), buy(3, 200));
  t.deepEqual(book.positions.BTCUSDT, { quantity: 4, avgPrice: 175 });
  t.is(book.cash, 10_000 - 100 - 600);
});

test('a partial close realizes PnL on the closed part and keeps the average', (t) => {
  const book = fills(createBook(10_000), buy(4, 100), sell(1, 130));
  t.deepEqual(book.positions.BTCUSDT, { quantity: 3, avgPrice: 100 });
  t.is(book.realizedPnl, 30);
  t.is(book.dailyRealizedPnl, 30);
  t.is(book.cash, 10_000 - 400 + 130);
});

test('a full close removes the position, keeps the mark and realizes everything', (t) => {
  const book = fills(createBook(10_000), buy(2, 100), sell(2, 90));
  t.deepEqual(book.positions, {});
  t.is(book.marks.BTCUSDT, 100);
  t.is(book.realizedPnl, -20);
  t.is(book.cash, 9980);
  t.deepEqual(valuation(book), { equity: 9980, unrealizedPnl: 0, exposure: 0, drawdown: 0.002 });
});

test('float dust after a close closes the position', (t) => {
  const book = fills(createBook(10_000), buy(0.1, 100), buy(0.2, 100), sell(0.3, 100));
  t.deepEqual(book.positions, {});
});

test('selling through zero realizes the long and opens a short at the fill price', (t) => {
  const book = fills(createBook(10_000), buy(2, 100), sell(5, 120));
  t.deepEqual(book.positions.BTCUSDT, { quantity: -3, avgPrice: 120 });
  t.is(book.realizedPnl, 40);
  t.is(book.cash, 10_000 - 200 + 600);
  // The mark stays at the last known price (100) until a tick moves it.
  t.deepEqual(valuation(book), { equity: 10_100, unrealizedPnl: 60, exposure: 300, drawdown: 0 });
  t.deepEqual(valuation(applyMark(book, 'BTCUSDT', 120)), {
    equity: 10_040,
    unrealizedPnl: 0,
    exposure: 360,
    drawdown: (10_100 - 10_040) / 10_100,
  });
});

test('a short gains when the price falls and realizes on buy-back, crossing to long', (t) => {
  let book = fills(createBook(10_000), sell(2, 100));
  t.deepEqual(book.positions.BTCUSDT, { quantity: -2, avgPrice: 100 });
  t.is(book.cash, 10_200);
  book = applyMark(book, 'BTCUSDT', 80);
  t.deepEqual(valuation(book), { equity: 10_040, unrealizedPnl: 40, exposure: 160, drawdown: 0 });
  t.is(book.peakEquity, 10_040);
  book = fills(book, sell(2, 90));
  t.deepEqual(book.positions.BTCUSDT, { quantity: -4, avgPrice: 95 });
  book = fills(book, buy(5, 85));
  t.is(book.realizedPnl, 40);
  t.deepEqual(book.positions.BTCUSDT, { quantity: 1, avgPrice: 85 });
});

test('fees come out of cash, not out of realized PnL', (t) => {
  const book = fills(createBook(10_000), buy(1, 100, 0.5), sell(1, 110, 0.25));
  t.is(book.cash, 10_000 - 100 - 0.5 + 110 - 0.25);
  t.is(book.realizedPnl, 10);
  t.is(book.feesPaid, 0.75);
  t.is(valuation(book).equity - 10_000, book.realizedPnl - book.feesPaid);
});

test('marks drive unrealized PnL, equity, exposure, peak and drawdown', (t) => {
  let book = fills(createBook(1000), buy(10, 50), buy(1, 200, 0, 'ETHUSDT'));
  book = applyMark(book, 'BTCUSDT', 60);
  t.deepEqual(valuation(book), { equity: 1100, unrealizedPnl: 100, exposure: 800, drawdown: 0 });
  t.is(book.peakEquity, 1100);
  book = applyMark(book, 'BTCUSDT', 38);
  const v = valuation(book);
  t.is(v.equity, 880);
  t.is(v.unrealizedPnl, -120);
  t.is(book.peakEquity, 1100);
  t.is(v.drawdown, 0.2);
  book = applyMark(book, 'ETHUSDT', 100);
  t.is(valuation(book).exposure, 480);
});

test('drawdown is clamped to 1 when equity goes negative', (t) => {
  let book = fills(createBook(100), sell(10, 10));
  book = applyMark(book, 'BTCUSDT', 50);
  t.is(valuation(book).equity, -300);
  t.is(valuation(book).drawdown, 1);
});

test('daily realized PnL resets across UTC midnight; total realized does not', (t) => {
  const beforeMidnight = Date.UTC(2026, 0, 5, 23, 59, 59, 999);
  const afterMidnight = Date.UTC(2026, 0, 6, 0, 0, 0, 0);
  let book = applyFill(createBook(10_000), buy(4, 100), beforeMidnight);
  book = applyFill(book, sell(1, 110), beforeMidnight);
  t.is(book.dailyRealizedPnl, 10);
  t.is(book.day, '2026-01-05');
  book = applyFill(book, sell(1, 95), afterMidnight);
  t.is(book.day, '2026-01-06');
  t.is(book.dailyRealizedPnl, -5);
  t.is(book.realizedPnl, 5);
  // A late event from the day before counts in the current day.
  book = applyFill(book, sell(1, 120), beforeMidnight);
  t.is(book.day, '2026-01-06');
  t.is(book.dailyRealizedPnl, 15);
  // rollDay alone resets on a later day.
  const next = rollDay(book, Date.UTC(2026, 0, 7, 1));
  t.is(next.dailyRealizedPnl, 0);
  t.is(next.realizedPnl, 25);
  t.is(rollDay(book, Number.NaN), book);
});

test('invalid or overflowing input leaves the book unchanged (never NaN or Infinity)', (t) => {
  const book = fills(createBook(1000), buy(1, 100));
  t.is(applyFill(book, buy(0, 100), T0), book);
  t.is(applyFill(book, buy(1, Number.NaN), T0), book);
  t.is(applyFill(book, buy(Number.POSITIVE_INFINITY, 1), T0), book);
  t.is(applyFill(book, buy(1, 100, -1), T0), book);
  t.is(applyFill(book, { ...buy(1, 100), side: 'hold' as 'buy' }, T0), book);
  t.is(applyFill(book, buy(1e300, 1e300), T0), book);
  t.is(applyMark(book, 'BTCUSDT', 0), book);
  t.is(applyMark(book, 'BTCUSDT', Number.NaN), book);
  t.is(applyMark(fills(book, buy(9, 100)), 'BTCUSDT', Number.MAX_VALUE).marks.BTCUSDT, 100);
  t.is(applyMark(book, 'BTCUSDT', 100), book);
});

test('the functions do not mutate their input', (t) => {
  const book = Object.freeze(fills(createBook(1000), buy(1, 100)));
  const copy = structuredClone(book);
  applyFill(book, sell(3, 120), T0 + 86_400_000);
  applyMark(book, 'BTCUSDT', 150);
  t.deepEqual(book, copy);
});
