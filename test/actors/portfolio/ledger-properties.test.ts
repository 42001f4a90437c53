/**
 * Properties of the ledger and the machine over random fill/mark sequences:
 * equity is cash plus marked positions, PnL reconciles with equity, and every
 * `portfolio.updated` matches the catalog.
 */
import { fc, testProp } from '@fast-check/ava';
import { createActor } from 'xstate';
import {
  applyFill,
  applyMark,
  type Book,
  createBook,
  type Fill,
  markOf,
  valuation,
} from '../../../src/actors/portfolio/ledger.js';
import { createPortfolioMachine, takePortfolioOutbox } from '../../../src/actors/portfolio/portfolio-machine.js';
import { EVENT_CATALOG } from '../../../src/events/catalog.js';
import { CaseTally } from '../../support/case-tally.js';

const T0 = Date.UTC(2026, 0, 5, 22, 0, 0);
const SYMBOLS = ['BTCUSDT', 'ETHUSDT', 'SOLUSDT'] as const;

/** Amounts spread evenly over the range, mixed with arbitrary doubles for awkward rounding. */
const amount = (min: number, max: number) =>
  fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min: Math.round(min * 1000), max: max * 1000 }).map((n) => n / 1000) },
    { weight: 1, arbitrary: fc.double({ min, max, noNaN: true, noDefaultInfinity: true }) },
  );

type Step = { kind: 'fill'; fill: Fill; dt: number } | { kind: 'mark'; symbol: string; price: number; dt: number };

/**
 * Time between steps: seconds (marks inside the machine's publish interval),
 * up to an hour, or up to a day (the UTC day rolls over).
 */
const dt = fc.oneof(
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 10_000 }) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 3_600_000 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 86_400_000 }) },
);

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant('fill' as const),
    fill: fc.record({
      symbol: fc.constantFrom(...SYMBOLS),
      side: fc.constantFrom('buy' as const, 'sell' as const),
      quantity: amount(0.001, 50),
      price: amount(0.01, 100_000),
      fee: fc.oneof(fc.constant(0), amount(0, 50)),
    }),
    dt,
  }),
  fc.record({
    kind: fc.constant('mark' as const),
    symbol: fc.constantFrom(...SYMBOLS),
    price: amount(0.01, 100_000),
    dt,
  }),
);

/** Up to 60 steps; `size: 'max'` because fast-check's default size stops near 10, too few to open, reduce and flip positions. */
const steps = fc.array(step, { maxLength: 60, size: 'max' });

const startingCash = fc.oneof(fc.constant(100_000), amount(0, 1_000_000));

/** Checks the invariants of one book; returns a message when one fails. */
function violation(book: Book, start: number, gross: number): string | undefined {
  const v = valuation(book);
  const values = [book.cash, book.realizedPnl, book.dailyRealizedPnl, book.peakEquity, v.equity, v.unrealizedPnl];
  if (!values.every(Number.isFinite)) return `non-finite ${JSON.stringify(values)}`;
  let marked = 0;
  for (const [symbol, p] of Object.entries(book.positions)) marked += p.quantity * markOf(book, symbol);
  if (v.equity !== book.cash + marked) return `equity ${v.equity} !== cash + Σ qty×mark ${book.cash + marked}`;
  const scale = Math.max(1, Math.abs(start), gross + v.exposure);
  const pnl = book.realizedPnl + v.unrealizedPnl - book.feesPaid;
  if (Math.abs(pnl - (v.equity - start)) > 1e-6 * scale) return `pnl ${pnl} vs equity - start ${v.equity - start}`;
  if (v.drawdown < 0 || v.drawdown > 1) return `drawdown ${v.drawdown}`;
  if (book.peakEquity < v.equity) return `peak ${book.peakEquity} < equity ${v.equity}`;
  return undefined;
}

/**
 * The invariants are only tested by books that realize PnL: fills that reduce
 * or close a position, fills that cross through zero, marks that move an open
 * position, and a UTC day rolling over with realized PnL.
 */
const ledgerCases = new CaseTally('ledger invariants', {
  reduced: 0.6,
  crossedZero: 0.5,
  markedOpenPosition: 0.65,
  dayRolledOver: 0.45,
});

testProp(
  'equity is cash + Σ qty×mark and realized + unrealized − fees = equity − starting cash',
  [startingCash, steps],
  (t, start, steps) => {
    const hit = ledgerCases.run();
    let book = createBook(start);
    let at = T0;
    let gross = 0;
    for (const s of steps) {
      at += s.dt;
      const before = book;
      if (s.kind === 'fill') {
        book = applyFill(book, s.fill, at);
        gross += s.fill.quantity * s.fill.price + s.fill.fee;
        const held = before.positions[s.fill.symbol]?.quantity ?? 0;
        const after = book.positions[s.fill.symbol]?.quantity ?? 0;
        if (held !== 0 && Math.sign(held) !== (s.fill.side === 'buy' ? 1 : -1)) hit('reduced');
        if (held * after < 0) hit('crossedZero');
        if (book.day !== before.day && before.dailyRealizedPnl !== 0) hit('dayRolledOver');
      } else {
        book = applyMark(book, s.symbol, s.price);
        if (s.symbol in book.positions && book.marks[s.symbol] !== before.marks[s.symbol]) hit('markedOpenPosition');
      }
      const problem = violation(book, start, gross);
      if (problem) return t.fail(problem);
    }
    t.pass();
  },
  { numRuns: 300 },
);

/** The throttle is only tested by marks that come sooner than publishEveryMs after a publish, and by marks that publish. */
const machineCases = new CaseTally('portfolio machine', {
  markThrottled: 0.3,
  markPublished: 0.75,
  fillPublished: 0.8,
});

testProp(
  'the machine publishes the ledger, every portfolio.updated is valid, and marks never out-publish their interval',
  [startingCash, steps, fc.integer({ min: 0, max: 5000 })],
  (t, start, steps, publishEveryMs) => {
    const hit = machineCases.run();
    const actor = createActor(createPortfolioMachine({ startingCash: start, publishEveryMs })).start();
    let at = T0;
    let lastPublish: number | null = null;
    for (const s of steps) {
      at += s.dt;
      if (s.kind === 'fill') actor.send({ type: 'FILL', fill: s.fill, at });
      else actor.send({ type: 'MARK', symbol: s.symbol, price: s.price, at });
      const out = takePortfolioOutbox(actor);
      const book = actor.getSnapshot().context.book;
      if (s.kind === 'fill' && out.length !== 1) return t.fail(`fill published ${out.length}`);
      if (s.kind === 'mark' && out.length > 1) return t.fail(`mark published ${out.length}`);
      if (s.kind === 'fill') hit('fillPublished');
      if (s.kind === 'mark') hit(out.length === 1 ? 'markPublished' : 'markThrottled');
      if (s.kind === 'mark' && out.length === 1) {
        if (lastPublish !== null && at - lastPublish < publishEveryMs) return t.fail('mark throttle broken');
      }
      if (out.length === 1) {
        lastPublish = at;
        const parsed = EVENT_CATALOG['portfolio.updated'].safeParse(out[0]?.data);
        if (!parsed.success) return t.fail(JSON.stringify(parsed.error.issues));
        const v = valuation(book);
        if (out[0]?.data.equity !== v.equity || out[0]?.data.cash !== book.cash)
          return t.fail('output is not the book');
      }
    }
    t.pass();
  },
  { numRuns: 200 },
);
