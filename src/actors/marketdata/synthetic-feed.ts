import { z } from 'zod';
import { MAX_SYNTHETIC_TICKS_PER_SECOND } from '../../config/defaults.js';
import { QtError } from '../../errors.js';
import type { FeedStatus, MarketFeed, Tick } from './feed.js';

/**
 * The seeded synthetic feed (docs/architecture.md §11.1): per symbol, a random walk in log
 * price with rare jumps, ticking at a fixed rate. Pure and deterministic: the
 * same options give the same ticks however `next()` calls are chunked, and no
 * `Math.random` or clock is read. Each symbol draws from its own generator
 * (seeded from `seed` and the symbol), so adding a symbol never changes the
 * others' paths.
 */

/** Default per-tick standard deviation of the log return. */
export const DEFAULT_VOLATILITY = 0.0005;
/** Default probability that a tick carries a jump. */
export const DEFAULT_JUMP_PROBABILITY = 0.001;
/** Default standard deviation of a jump's log return. */
export const DEFAULT_JUMP_STDEV = 0.01;
/** Default median volume of a tick. */
export const DEFAULT_BASE_VOLUME = 1;
/** An injected flash crash reaches its full drop this long after its `at`. */
export const FLASH_CRASH_SPREAD_MS = 5_000;
/** Volume multiplier while a flash crash is under way (panic selling). */
export const FLASH_CRASH_VOLUME_FACTOR = 5;
/** Prices are clamped into [MIN_PRICE, MAX_PRICE] so they stay positive and finite whatever the parameters. */
export const MIN_PRICE = 1e-8;
/** See {@link MIN_PRICE}. */
export const MAX_PRICE = 1e12;

const SymbolSchema = z.string().regex(/^[A-Z0-9]{2,20}$/, 'symbol like BTCUSDT');
const epochMs = z.number().int().nonnegative();

/** Options of {@link createSyntheticFeed}; parsed once at construction. */
export const SyntheticFeedOptionsSchema = z.object({
  /** Any integer; only its low 32 bits matter. */
  seed: z.number().int(),
  symbols: z
    .array(z.object({ symbol: SymbolSchema, startPrice: z.number().positive().finite() }))
    .min(1)
    .refine((s) => new Set(s.map((x) => x.symbol)).size === s.length, 'symbols must be unique'),
  /** Ticks per second, per symbol. */
  ticksPerSecond: z.number().positive().max(MAX_SYNTHETIC_TICKS_PER_SECOND).finite(),
  volatility: z.number().nonnegative().max(1).finite().default(DEFAULT_VOLATILITY),
  jumpProbability: z.number().min(0).max(1).default(DEFAULT_JUMP_PROBABILITY),
  jumpStdev: z.number().nonnegative().max(1).finite().default(DEFAULT_JUMP_STDEV),
  baseVolume: z.number().positive().finite().default(DEFAULT_BASE_VOLUME),
  /** Epoch ms of the first tick of every symbol. */
  startAt: epochMs,
});
export type SyntheticFeedOptions = z.input<typeof SyntheticFeedOptionsSchema>;

/** The synthetic feed: an endless {@link MarketFeed} with a scenario hook. */
export interface SyntheticFeed extends MarketFeed {
  /**
   * Make `symbol`'s price fall by `drop` (0 < drop < 1, e.g. 0.2 for 20 %),
   * spread over the ticks in the {@link FLASH_CRASH_SPREAD_MS} after `at`, on
   * top of the ordinary walk; the walk then continues from the crashed level.
   * If no tick falls in that span (very low tick rates), the whole drop lands
   * on the first tick after `at`. Crashes at a time already emitted start on
   * the next tick.
   */
  injectFlashCrash(symbol: string, drop: number, at: number): void;
  status(): FeedStatus;
}

/** A uniform generator on [0, 1): mulberry32, tiny, fast and good enough for simulation. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a of a string, to derive a per-symbol seed. */
function hash32(text: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** A standard normal draw (Box–Muller; the spare is discarded for simplicity). */
function gaussian(rand: () => number): number {
  const u = 1 - rand(); // (0, 1], so the log is finite
  const v = rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

interface Crash {
  readonly at: number;
  readonly logDrop: number;
  /** Fraction of the drop applied so far, 0..1. */
  applied: number;
}

interface Walker {
  readonly symbol: string;
  readonly rand: () => number;
  logPrice: number;
  crashes: Crash[];
}

const LOG_MIN = Math.log(MIN_PRICE);
const LOG_MAX = Math.log(MAX_PRICE);

/** Creates a seeded synthetic feed; throws a ZodError on invalid options. */
export function createSyntheticFeed(options: SyntheticFeedOptions): SyntheticFeed {
  const o = SyntheticFeedOptionsSchema.parse(options);
  const walkers: Walker[] = o.symbols.map(({ symbol, startPrice }) => ({
    symbol,
    rand: mulberry32(hash32(symbol, o.seed)),
    logPrice: Math.log(startPrice),
    crashes: [],
  }));
  const bySymbol = new Map(walkers.map((w) => [w.symbol, w]));
  const tickMs = 1000 / o.ticksPerSecond;
  let k = 0; // index of the next tick, shared by all symbols

  const timeOf = (index: number): number => o.startAt + Math.floor(index * tickMs);

  function step(w: Walker, at: number): Tick {
    let dlog = o.volatility * gaussian(w.rand);
    // Always consume the same draws so a jump never shifts the stream.
    const jumpRoll = w.rand();
    const jump = o.jumpStdev * gaussian(w.rand);
    if (jumpRoll < o.jumpProbability) dlog += jump;
    let volume = o.baseVolume * Math.exp(0.5 * gaussian(w.rand));
    if (w.crashes.length > 0) {
      for (const c of w.crashes) {
        if (at < c.at) continue;
        // Past the spread the target is 1, so a sparse feed drops all at once.
        const progress = Math.min(1, (at - c.at) / FLASH_CRASH_SPREAD_MS);
        dlog += c.logDrop * (progress - c.applied);
        c.applied = progress;
        volume *= FLASH_CRASH_VOLUME_FACTOR;
      }
      w.crashes = w.crashes.filter((c) => c.applied < 1);
    }
    w.logPrice = Math.min(LOG_MAX, Math.max(LOG_MIN, w.logPrice + dlog));
    return { symbol: w.symbol, price: Math.exp(w.logPrice), volume, at };
  }

  return {
    get done() {
      return false;
    },
    next(now: number): Tick[] {
      const out: Tick[] = [];
      for (let at = timeOf(k); at <= now; at = timeOf(++k)) for (const w of walkers) out.push(step(w, at));
      return out;
    },
    status(): FeedStatus {
      return {
        source: 'synthetic',
        symbols: walkers.map((w) => w.symbol).sort(),
        connection: 'n/a',
        details: { seed: o.seed, ticksPerSecond: o.ticksPerSecond },
      };
    },
    injectFlashCrash(symbol: string, drop: number, at: number): void {
      const w = bySymbol.get(symbol);
      if (w === undefined) throw new QtError('QT_FEED_INVALID', `injectFlashCrash: unknown symbol ${symbol}`);
      if (!(drop > 0 && drop < 1)) {
        throw new QtError('QT_FEED_INVALID', `injectFlashCrash: drop must be in (0, 1), got ${drop}`);
      }
      if (!Number.isFinite(at)) throw new QtError('QT_FEED_INVALID', `injectFlashCrash: at must be finite, got ${at}`);
      w.crashes.push({ at, logDrop: Math.log(1 - drop), applied: 0 });
    },
  };
}
