import { QtError } from '../../errors.js';
import { toDecimalString } from './signing.js';

/**
 * Exact non-negative decimals for Binance's symbol filters: a value is an
 * integer count of `10^-scale` units (a BigInt), so rounding a quantity to a
 * step or comparing a notional with a bound never goes through a float
 * multiply (`0.1 * 3` is `0.30000000000000004`). Filter values arrive as
 * decimal strings and stay exact; the runtime's numbers enter through their
 * shortest round-trip text ({@link toDecimalString}).
 */
export interface Decimal {
  readonly units: bigint;
  readonly scale: number;
}

const DECIMAL_TEXT = /^(\d+)(?:\.(\d+))?$/;

/** A plain decimal string (`"0.00100000"`, `"5"`) as a {@link Decimal}; anything else throws. */
export function parseDecimal(text: string): Decimal {
  const m = DECIMAL_TEXT.exec(text);
  if (!m) throw new QtError('QT_VENUE_PARAM_INVALID', `not a non-negative decimal: ${JSON.stringify(text)}`);
  const frac = m[2] ?? '';
  return { units: BigInt(`${m[1]}${frac}`), scale: frac.length };
}

/** A finite non-negative number as the decimal it prints as (`0.1` is exactly one tenth). */
export function decimalOf(value: number): Decimal {
  if (!Number.isFinite(value) || value < 0) {
    throw new QtError('QT_VENUE_PARAM_INVALID', `not a finite non-negative number: ${value}`);
  }
  return parseDecimal(toDecimalString(value));
}

/** The units of `d` at the larger `scale` (never smaller than its own). */
function at(d: Decimal, scale: number): bigint {
  return d.units * 10n ** BigInt(scale - d.scale);
}

/** -1, 0 or 1 as `a` is below, equal to or above `b`. */
export function compareDecimal(a: Decimal, b: Decimal): -1 | 0 | 1 {
  const scale = Math.max(a.scale, b.scale);
  const x = at(a, scale);
  const y = at(b, scale);
  return x < y ? -1 : x > y ? 1 : 0;
}

export function isZero(d: Decimal): boolean {
  return d.units === 0n;
}

/**
 * `value` rounded to a multiple of `step` (which must not be zero): `down`
 * gives the largest multiple not above it, `up` the smallest not below it.
 */
export function roundToStep(value: Decimal, step: Decimal, mode: 'down' | 'up'): Decimal {
  if (isZero(step)) throw new QtError('QT_VENUE_PARAM_INVALID', 'a step of zero has no multiples');
  const scale = Math.max(value.scale, step.scale);
  const v = at(value, scale);
  const s = at(step, scale);
  const steps = mode === 'down' ? v / s : (v + s - 1n) / s;
  return { units: steps * s, scale };
}

/** The exact product. */
export function multiplyDecimal(a: Decimal, b: Decimal): Decimal {
  return { units: a.units * b.units, scale: a.scale + b.scale };
}

/** The plain decimal string Binance takes, without trailing zeros (`0.00100` → `"0.001"`, `5.0` → `"5"`). */
export function formatDecimal(d: Decimal): string {
  const digits = d.units.toString().padStart(d.scale + 1, '0');
  const int = digits.slice(0, digits.length - d.scale);
  const frac = digits.slice(digits.length - d.scale).replace(/0+$/, '');
  return frac.length > 0 ? `${int}.${frac}` : int;
}
