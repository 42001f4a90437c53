import { fc, testProp } from '@fast-check/ava';
import test from 'ava';
import type { Tick } from '../../../src/actors/marketdata/feed.js';
import {
  createSyntheticFeed,
  FLASH_CRASH_SPREAD_MS,
  MAX_PRICE,
  MIN_PRICE,
  mulberry32,
  type SyntheticFeedOptions,
} from '../../../src/actors/marketdata/synthetic-feed.js';
import { CaseTally } from '../../support/case-tally.js';

/** Largest fall from the window high to a later price within `windowMs`, as a fraction (the ESS's flash-crash measure). */
function maxDropWithin(ticks: readonly Tick[], windowMs: number): { drop: number; at: number } {
  // Monotonic deque of window maxima: indices with decreasing prices.
  const deque: Tick[] = [];
  let worst = { drop: 0, at: Number.NaN };
  for (const tick of ticks) {
    while (deque.length > 0 && tick.at - deque[0]!.at > windowMs) deque.shift();
    while (deque.length > 0 && deque.at(-1)!.price <= tick.price) deque.pop();
    deque.push(tick);
    const high = deque[0]!.price;
    const drop = (high - tick.price) / high;
    if (drop > worst.drop) worst = { drop, at: tick.at };
  }
  return worst;
}

/** The ticks of one symbol. */
function only(ticks: readonly Tick[], symbol: string): Tick[] {
  return ticks.filter((t) => t.symbol === symbol);
}

const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);
const SYMBOLS = [
  { symbol: 'BTCUSDT', startPrice: 60_000 },
  { symbol: 'ETHUSDT', startPrice: 3_000 },
  { symbol: 'SOLUSDT', startPrice: 150 },
];
const base: SyntheticFeedOptions = { seed: 42, symbols: SYMBOLS, ticksPerSecond: 10, startAt: T0 };
const ESS_DROP = 0.15;
const ESS_WINDOW_MS = 60_000;

test('mulberry32 is deterministic and uniform on [0, 1)', (t) => {
  const a = mulberry32(7);
  const b = mulberry32(7);
  const xs = Array.from({ length: 10_000 }, () => a());
  t.deepEqual(
    xs.slice(0, 5),
    Array.from({ length: 5 }, () => b()),
  );
  t.true(xs.every((x) => x >= 0 && x < 1));
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  t.true(Math.abs(mean - 0.5) < 0.02, `mean ${mean}`);
});

test('the same seed and options give identical ticks; a different seed gives different ones', (t) => {
  const a = createSyntheticFeed(base).next(T0 + 60_000);
  const b = createSyntheticFeed(base).next(T0 + 60_000);
  const c = createSyntheticFeed({ ...base, seed: 43 }).next(T0 + 60_000);
  t.true(a.length > 0);
  t.deepEqual(a, b);
  t.is(c.length, a.length);
  t.notDeepEqual(
    c.map((x) => x.price),
    a.map((x) => x.price),
  );
});

test('how next() calls are chunked never changes the ticks', (t) => {
  const whole = createSyntheticFeed(base).next(T0 + 30_000);
  const feed = createSyntheticFeed(base);
  const chunked = [];
  for (let now = T0 - 5; now <= T0 + 30_000; now += 777) chunked.push(...feed.next(now));
  chunked.push(...feed.next(T0 + 30_000));
  t.deepEqual(chunked, whole);
  t.deepEqual(feed.next(T0), [], 'going back in time yields nothing');
});

test('a symbol path does not depend on which other symbols are fed', (t) => {
  const all = only(createSyntheticFeed(base).next(T0 + 10_000), 'ETHUSDT');
  const alone = createSyntheticFeed({ ...base, symbols: [SYMBOLS[1]!] }).next(T0 + 10_000);
  t.deepEqual(alone, all);
});

test('prices stay positive and finite and volumes positive over 100k+ ticks', (t) => {
  const ticks = createSyntheticFeed({ ...base, ticksPerSecond: 100 }).next(T0 + 400_000);
  t.true(ticks.length >= 100_000, `${ticks.length} ticks`);
  for (const tick of ticks) {
    if (!(Number.isFinite(tick.price) && tick.price > 0 && Number.isFinite(tick.volume) && tick.volume > 0)) {
      t.fail(`bad tick ${JSON.stringify(tick)}`);
      return;
    }
  }
  t.pass();
});

test('ticks are in time order, each symbol once per instant, and as many as ticksPerSecond × seconds', (t) => {
  const feed = createSyntheticFeed({ ...base, ticksPerSecond: 4 });
  t.deepEqual(feed.next(T0 - 1), [], 'nothing before startAt');
  const first = feed.next(T0);
  t.deepEqual(
    first.map((x) => [x.symbol, x.at]),
    SYMBOLS.map((s) => [s.symbol, T0]),
  );
  const rest = feed.next(T0 + 10_000);
  const ticks = [...first, ...rest];
  for (let i = 1; i < ticks.length; i++) t.true(ticks[i]!.at >= ticks[i - 1]!.at);
  for (const { symbol } of SYMBOLS) t.is(only(ticks, symbol).length, 4 * 10 + 1, symbol); // inclusive of both ends
  t.false(feed.done);
});

test('fractional tick rates still land close to ticksPerSecond × seconds', (t) => {
  const ticks = createSyntheticFeed({ ...base, ticksPerSecond: 3 }).next(T0 + 100_000 - 1);
  for (const { symbol } of SYMBOLS) {
    const n = only(ticks, symbol).length;
    t.true(Math.abs(n - 300) <= 1, `${symbol}: ${n}`);
  }
});

test('an injected flash crash drops that symbol ≥ 15 % within 60 s after `at`, and only that symbol', (t) => {
  const feed = createSyntheticFeed(base);
  const at = T0 + 120_000;
  feed.injectFlashCrash('ETHUSDT', 0.2, at);
  const ticks = feed.next(T0 + 600_000);
  const eth = only(ticks, 'ETHUSDT');
  const before = eth.filter((x) => x.at < at).at(-1)!.price;
  const after = eth.filter((x) => x.at >= at + FLASH_CRASH_SPREAD_MS).at(0)!;
  t.true(after.at - at <= 10_000);
  const fall = (before - after.price) / before;
  t.true(fall >= 0.18 && fall <= 0.22, `fell ${fall}`);
  // The ESS rule trips within 10 s of `at`, and not before it.
  const quiet = maxDropWithin(
    eth.filter((x) => x.at < at),
    ESS_WINDOW_MS,
  ).drop;
  t.true(quiet < ESS_DROP, `before at: ${quiet}`);
  const crash = maxDropWithin(
    eth.filter((x) => x.at <= at + 10_000),
    ESS_WINDOW_MS,
  );
  t.true(crash.drop >= ESS_DROP, `60-s drop by at + 10 s: ${crash.drop}`);
  t.true(crash.at >= at);
  // The walk continues from the crashed level instead of bouncing back.
  const later = eth.filter((x) => x.at >= at + 60_000 && x.at < at + 120_000);
  t.true(
    later.every((x) => x.price < before * 0.9),
    'no rebound to the pre-crash level',
  );
  for (const symbol of ['BTCUSDT', 'SOLUSDT']) {
    const drop = maxDropWithin(only(ticks, symbol), ESS_WINDOW_MS).drop;
    t.true(drop < ESS_DROP, `${symbol} dropped ${drop}`);
  }
});

test('a flash crash on a sparse feed lands whole on the first tick after `at`', (t) => {
  const feed = createSyntheticFeed({ ...base, ticksPerSecond: 0.1, volatility: 0, jumpProbability: 0 });
  feed.injectFlashCrash('BTCUSDT', 0.2, T0 + 1);
  const btc = only(feed.next(T0 + 20_000), 'BTCUSDT');
  t.deepEqual(
    btc.map((x) => x.at),
    [T0, T0 + 10_000, T0 + 20_000],
  );
  t.true(Math.abs(btc[0]!.price - 60_000) < 1e-6);
  t.true(Math.abs(btc[1]!.price - 48_000) < 1e-6);
  t.true(Math.abs(btc[2]!.price - 48_000) < 1e-6);
});

test('injectFlashCrash refuses an unknown symbol or a drop outside (0, 1)', (t) => {
  const feed = createSyntheticFeed(base);
  t.throws(() => feed.injectFlashCrash('XRPUSDT', 0.2, T0), { code: 'QT_FEED_INVALID' } as never);
  t.throws(() => feed.injectFlashCrash('BTCUSDT', 1, T0), { code: 'QT_FEED_INVALID' } as never);
  t.throws(() => feed.injectFlashCrash('BTCUSDT', 0, T0), { code: 'QT_FEED_INVALID' } as never);
});

test('invalid options are refused at construction', (t) => {
  t.throws(() => createSyntheticFeed({ ...base, symbols: [] }));
  t.throws(() => createSyntheticFeed({ ...base, symbols: [{ symbol: 'btc-usdt', startPrice: 1 }] }));
  t.throws(() => createSyntheticFeed({ ...base, symbols: [SYMBOLS[0]!, SYMBOLS[0]!] }));
  t.throws(() => createSyntheticFeed({ ...base, ticksPerSecond: 0 }));
  t.throws(() => createSyntheticFeed({ ...base, symbols: [{ symbol: 'BTCUSDT', startPrice: -1 }] }));
});

test('without injection, an hour at default volatility never falls ≥ 15 % within 60 s', (t) => {
  const ticks = createSyntheticFeed(base).next(T0 + 3_600_000);
  for (const { symbol } of SYMBOLS) {
    const { drop } = maxDropWithin(only(ticks, symbol), ESS_WINDOW_MS);
    t.true(drop < ESS_DROP, `${symbol} dropped ${drop}`);
    t.true(drop > 0, `${symbol} moved`);
  }
});

/**
 * A parameter in [0, max]: uniform, or an arbitrary double (fc.double alone
 * crowds near zero, where the walk hardly moves).
 */
const wild = (max: number) =>
  fc.oneof(
    fc.integer({ min: 0, max: 1_000_000 }).map((n) => (n / 1_000_000) * max),
    fc.double({ min: 0, max, noNaN: true }),
  );

/**
 * Wild parameters are only tested when they push the walk to the price
 * clamps: runs that reach MIN_PRICE (the crash helps) and runs that reach
 * MAX_PRICE.
 */
const wildCases = new CaseTally('wild parameters', { reachedMinPrice: 0.1, reachedMaxPrice: 0.1 });

testProp(
  'for any seed and wild parameters, prices stay positive and finite and volumes positive',
  [fc.integer(), wild(1), wild(1), wild(1), fc.double({ min: 1e-6, max: 1e9, noNaN: true })],
  (t, seed, volatility, jumpProbability, jumpStdev, startPrice) => {
    const feed = createSyntheticFeed({
      seed,
      symbols: [{ symbol: 'BTCUSDT', startPrice }],
      ticksPerSecond: 100,
      volatility,
      jumpProbability,
      jumpStdev,
      startAt: T0,
    });
    feed.injectFlashCrash('BTCUSDT', 0.5, T0 + 5_000);
    const hit = wildCases.run();
    for (const tick of feed.next(T0 + 20_000)) {
      // Within rounding of the clamps (exp(log(x)) need not be exactly x).
      if (tick.price <= MIN_PRICE * (1 + 1e-9)) hit('reachedMinPrice');
      if (tick.price >= MAX_PRICE * (1 - 1e-9)) hit('reachedMaxPrice');
      if (!(tick.price > 0 && Number.isFinite(tick.price) && tick.volume > 0 && Number.isFinite(tick.volume))) {
        t.fail(`bad tick ${JSON.stringify(tick)}`);
        return;
      }
    }
    t.pass();
  },
  { numRuns: 200 },
);
