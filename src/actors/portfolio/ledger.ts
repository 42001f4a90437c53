/**
 * Pure portfolio accounting (portfolio-intelligence, docs/architecture.md §11.4): a `Book` of
 * cash and signed positions, updated by fills and marks, and its valuation.
 *
 * Policies:
 * - Numbers are plain doubles; nothing is rounded inside (the published data
 *   is informational, the exchange is the source of truth). The one
 *   tolerance: a position whose remaining quantity is within 1e-12 of the
 *   quantities involved (float dust such as 0.1 + 0.2 - 0.3) is closed.
 * - Fees are an amount of the quote currency whatever `feeAsset` says; they
 *   are deducted from cash and are NOT part of `realizedPnl`, so
 *   `realizedPnl + unrealizedPnl - feesPaid === equity - startingCash`.
 * - Realized PnL is booked on the reduced part of a position against its
 *   average price; a fill that crosses zero opens the rest on the other side
 *   at the fill price. Adding to a position moves its average price.
 * - `dailyRealizedPnl` resets when an event's UTC day is later than the
 *   book's `day` (an event from an earlier day counts in the current one).
 * - A symbol without a mark is marked at its first fill price.
 * - Never NaN nor Infinity: invalid input (non-positive or non-finite price
 *   or quantity, negative fee, unknown side) and any update whose result
 *   would not be finite leave the book unchanged.
 * - `drawdown` is clamped to [0, 1] (equity below zero is a 100% drawdown).
 */

/** A position: signed quantity (negative is short) and its average entry price (0 when flat). */
export interface Position {
  readonly quantity: number;
  readonly avgPrice: number;
}

/** The portfolio's state. Immutable: every function returns a new book (or the same one if nothing changed). */
export interface Book {
  readonly cash: number;
  /** Open positions only; a closed position is removed. */
  readonly positions: Readonly<Record<string, Position>>;
  /** Latest price per symbol (kept after a position closes). */
  readonly marks: Readonly<Record<string, number>>;
  /** Realized PnL since start, before fees. */
  readonly realizedPnl: number;
  /** Realized PnL of the UTC day `day`, before fees. */
  readonly dailyRealizedPnl: number;
  /** UTC date 'YYYY-MM-DD' of the latest event; '' before the first. */
  readonly day: string;
  /** Highest equity seen (starts at the starting cash). */
  readonly peakEquity: number;
  /** Fees paid since start (quote currency). */
  readonly feesPaid: number;
}

/** What accounting needs of an `order.filled`. */
export interface Fill {
  readonly symbol: string;
  readonly side: 'buy' | 'sell';
  readonly quantity: number;
  readonly price: number;
  readonly fee: number;
}

/** A book's value at its marks. */
export interface Valuation {
  /** cash + Σ qty × mark */
  readonly equity: number;
  /** Σ qty × (mark − avgPrice) */
  readonly unrealizedPnl: number;
  /** Σ |qty × mark| */
  readonly exposure: number;
  /** peak > 0 ? clamp((peak − equity) / peak, 0, 1) : 0 */
  readonly drawdown: number;
}

/** Dust below this fraction of the quantities involved closes a position. */
const DUST = 1e-12;

/** A fresh book holding only cash. */
export function createBook(startingCash: number, day = ''): Book {
  const cash = Number.isFinite(startingCash) ? startingCash : 0;
  return {
    cash,
    positions: {},
    marks: {},
    realizedPnl: 0,
    dailyRealizedPnl: 0,
    day,
    peakEquity: Math.max(0, cash),
    feesPaid: 0,
  };
}

/** The UTC date 'YYYY-MM-DD' of an epoch-ms time, or undefined if it is not a valid time. */
export function utcDay(at: number): string | undefined {
  if (!Number.isFinite(at)) return undefined;
  const date = new Date(at);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString().slice(0, 10);
}

/** Moves the book to the UTC day of `at` if it is later, resetting `dailyRealizedPnl`. */
export function rollDay(book: Book, at: number): Book {
  const day = utcDay(at);
  if (day === undefined || day <= book.day) return book;
  return { ...book, day, dailyRealizedPnl: 0 };
}

/** The book after a fill at time `at` (epoch ms). */
export function applyFill(book: Book, fill: Fill, at: number): Book {
  const { symbol, side, quantity, price, fee } = fill;
  if (side !== 'buy' && side !== 'sell') return book;
  if (!(quantity > 0 && Number.isFinite(quantity) && price > 0 && Number.isFinite(price))) return book;
  if (!(fee >= 0 && Number.isFinite(fee))) return book;

  const rolled = rollDay(book, at);
  const signed = side === 'buy' ? quantity : -quantity;
  const old = rolled.positions[symbol] ?? { quantity: 0, avgPrice: 0 };

  let realized = 0;
  let next: Position;
  if (old.quantity === 0 || Math.sign(old.quantity) === Math.sign(signed)) {
    // Open or add: weighted average price.
    const total = Math.abs(old.quantity) + quantity;
    next = {
      quantity: old.quantity + signed,
      avgPrice: (Math.abs(old.quantity) * old.avgPrice + quantity * price) / total,
    };
  } else {
    // Reduce, close, or cross through zero.
    const closing = Math.min(Math.abs(old.quantity), quantity);
    realized = closing * (price - old.avgPrice) * Math.sign(old.quantity);
    const remaining = old.quantity + signed;
    const dust = DUST * Math.max(Math.abs(old.quantity), quantity);
    if (Math.abs(remaining) <= dust) next = { quantity: 0, avgPrice: 0 };
    else if (Math.sign(remaining) === Math.sign(old.quantity)) next = { quantity: remaining, avgPrice: old.avgPrice };
    else next = { quantity: remaining, avgPrice: price };
  }

  const positions = { ...rolled.positions };
  if (next.quantity === 0) delete positions[symbol];
  else positions[symbol] = next;

  const updated: Book = {
    ...rolled,
    cash: rolled.cash - signed * price - fee,
    positions,
    marks: symbol in rolled.marks ? rolled.marks : { ...rolled.marks, [symbol]: price },
    realizedPnl: rolled.realizedPnl + realized,
    dailyRealizedPnl: rolled.dailyRealizedPnl + realized,
    feesPaid: rolled.feesPaid + fee,
  };
  return withPeak(book, updated);
}

/** The book after a new price for `symbol`. */
export function applyMark(book: Book, symbol: string, price: number): Book {
  if (!(price > 0 && Number.isFinite(price))) return book;
  if (book.marks[symbol] === price) return book;
  return withPeak(book, { ...book, marks: { ...book.marks, [symbol]: price } });
}

/** The book's equity, unrealized PnL, exposure and drawdown at its marks. */
export function valuation(book: Book): Valuation {
  let held = 0;
  let unrealizedPnl = 0;
  let exposure = 0;
  for (const [symbol, position] of Object.entries(book.positions)) {
    const mark = markOf(book, symbol);
    const value = position.quantity * mark;
    held += value;
    unrealizedPnl += position.quantity * (mark - position.avgPrice);
    exposure += Math.abs(value);
  }
  const equity = book.cash + held;
  const peak = book.peakEquity;
  const drawdown = peak > 0 ? Math.min(1, Math.max(0, (peak - equity) / peak)) : 0;
  return { equity, unrealizedPnl, exposure, drawdown };
}

/** The price a symbol is valued at: its mark, else its average price. */
export function markOf(book: Book, symbol: string): number {
  return book.marks[symbol] ?? book.positions[symbol]?.avgPrice ?? 0;
}

/** Raises the peak to the new equity; falls back to `previous` if anything would not be finite. */
function withPeak(previous: Book, next: Book): Book {
  const v = valuation(next);
  const finite = [
    next.cash,
    next.realizedPnl,
    next.dailyRealizedPnl,
    next.feesPaid,
    v.equity,
    v.unrealizedPnl,
    v.exposure,
  ];
  if (!finite.every(Number.isFinite)) return previous;
  for (const p of Object.values(next.positions)) {
    if (!Number.isFinite(p.quantity) || !Number.isFinite(p.avgPrice)) return previous;
  }
  return v.equity > next.peakEquity ? { ...next, peakEquity: v.equity } : next;
}
