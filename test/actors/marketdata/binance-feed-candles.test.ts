/**
 * The live feed's candle book over random schedules of a market: the
 * connection up or down minute by minute, messages delivered twice (a
 * renewal's two connections), closes re-sent after a reconnect, Binance
 * skipping a close, and back-fills answered late and out of order. Whatever
 * the schedule, the candles that come out are exactly the market's, from
 * the first one seen to the last closed, each once and in order.
 */
import { fc, testProp } from '@fast-check/ava';
import test from 'ava';
import { CandleBook, type CandleGap } from '../../../src/actors/marketdata/binance-candles.js';
import { klineIntervalMs } from '../../../src/actors/marketdata/binance-messages.js';
import type { FeedCandle } from '../../../src/actors/marketdata/feed.js';
import { CaseTally } from '../../support/case-tally.js';

const T0 = 1_800_000_000_000 - (1_800_000_000_000 % 60_000);
const candle = (symbol: string, n: number): FeedCandle => ({
  symbol,
  interval: '1m',
  openTime: T0 + n * 60_000,
  open: 100 + n,
  high: 102 + n,
  low: 99 + n,
  close: 101 + n,
  volume: n,
});

test('a candle that opens after the frontier reveals the gap in between; its answer comes out before later live candles', (t) => {
  const book = new CandleBook(klineIntervalMs);
  t.is(book.observe(candle('BTCUSDT', 0), false), undefined);
  t.is(book.observe(candle('BTCUSDT', 0), true), undefined);
  t.deepEqual(book.take(), [candle('BTCUSDT', 0)]);
  const gap = book.observe(candle('BTCUSDT', 4), false);
  t.like(gap, { symbol: 'BTCUSDT', interval: '1m', fromOpenTime: T0 + 60_000, toOpenTime: T0 + 180_000 });
  book.observe(candle('BTCUSDT', 4), true);
  t.deepEqual(book.take(), [], 'candle 4 waits behind the gap');
  t.is(book.counts().gapsPending, 1);
  // REST may return rows outside the range and in any order: only the gap's are taken.
  book.fill(
    gap as CandleGap,
    [3, 0, 1, 2, 4].map((n) => candle('BTCUSDT', n)),
  );
  t.deepEqual(
    book.take(),
    [1, 2, 3, 4].map((n) => candle('BTCUSDT', n)),
  );
  t.deepEqual(book.counts(), { backfilled: 3, duplicatesDropped: 0, gapsPending: 0 });
});

/** What happens in one minute of the market, for one symbol. */
const minute = fc.record({
  /** The connection delivers this minute's messages. */
  up: fc.boolean(),
  /** Every message arrives twice (two connections during a renewal). */
  twice: fc.boolean(),
  /** Binance skips this minute's close message (the next open reveals it). */
  closeSkipped: fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  /** The previous close is re-sent (after a reconnect). */
  resend: fc.boolean(),
  /** Pending back-fills answered in this minute, each picked from the pending ones by this index. */
  answers: fc.oneof(
    { weight: 4, arbitrary: fc.constant([]) },
    { weight: 1, arbitrary: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }) },
  ),
});

const tally = new CaseTally('candle book', { gap: 0.5, outOfOrder: 0.05, duplicate: 0.5, heldBehindGap: 0.3 });

testProp(
  'candles come out once each, in order, with no hole, whatever the connection and the back-fills do',
  [fc.array(minute, { minLength: 1, maxLength: 40 }), fc.constantFrom('BTCUSDT', 'ETHUSDT'), fc.boolean()],
  (t, minutes, symbol, newestFirst) => {
    const seen = tally.run();
    const book = new CandleBook(klineIntervalMs);
    const out: FeedCandle[] = [];
    const pending: CandleGap[] = [];
    let first: number | undefined;
    const deliver = (n: number, closed: boolean, copies: number) => {
      first ??= n;
      for (let i = 0; i < copies; i++) {
        const gap = book.observe(candle(symbol, n), closed);
        if (gap) {
          pending.push(gap);
          seen('gap');
        }
      }
    };
    const answer = (index: number) => {
      const gap = pending.splice(index % pending.length, 1)[0] as CandleGap;
      if (pending.some((g) => g.id < gap.id)) seen('outOfOrder');
      const rows = Array.from({ length: minutes.length + 1 }, (_, n) => candle(symbol, n));
      book.fill(gap, rows);
    };
    minutes.forEach((m, n) => {
      if (m.up) {
        const copies = m.twice ? 2 : 1;
        if (m.resend && n > 0) deliver(n - 1, true, 1);
        deliver(n, false, copies);
        if (!m.closeSkipped) {
          if (pending.length > 0) seen('heldBehindGap');
          deliver(n, true, copies);
        }
      }
      for (const a of m.answers) if (pending.length > 0) answer(a);
      out.push(...book.take());
    });
    // The connection is up at the end: the candle now forming reveals any last gap; every back-fill then answers.
    deliver(minutes.length, false, 1);
    while (pending.length > 0) answer(newestFirst ? pending.length - 1 : 0);
    out.push(...book.take());
    if (book.counts().duplicatesDropped > 0) seen('duplicate');

    const expected = Array.from({ length: minutes.length - (first ?? minutes.length) }, (_, i) =>
      candle(symbol, (first ?? 0) + i),
    );
    t.deepEqual(out, expected);
    t.is(book.counts().gapsPending, 0);
  },
  { numRuns: 300 },
);
