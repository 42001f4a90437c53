import { createHmac } from 'node:crypto';
import { QtError } from '../../errors.js';

/** A request parameter value; numbers must already be decimal strings (see {@link toDecimalString}). */
export type ParamValue = string | number | boolean;

/**
 * The query string of `params` in insertion order, percent-encoded. Binance
 * signs exactly the bytes it receives, so the string returned here is both
 * what is signed and what is sent.
 */
export function buildQuery(params: Readonly<Record<string, ParamValue | undefined>>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined) search.append(name, String(value));
  }
  return search.toString();
}

/** Hex HMAC-SHA256 of `payload` under `secret`: Binance's `signature` parameter. */
export function sign(secret: string, payload: string): string {
  return createHmac('sha256', secret).update(payload).digest('hex');
}

/** `query` with its `signature` appended, ready to send. */
export function signQuery(secret: string, query: string): string {
  const signature = sign(secret, query);
  return query.length > 0 ? `${query}&signature=${signature}` : `signature=${signature}`;
}

/**
 * `value` as a plain decimal string, never in exponent notation: Binance
 * rejects `1e-7` (-1100, illegal characters). The digits are those of the
 * shortest round-trip form JavaScript prints, only the decimal point moves, so
 * no float noise (`0.1` stays `0.1`) is introduced.
 */
export function toDecimalString(value: number): string {
  if (!Number.isFinite(value)) throw new QtError('QT_VENUE_PARAM_INVALID', `not a finite number: ${value}`);
  const text = String(value);
  const match = /^(-?)(\d+)(?:\.(\d+))?e([+-]\d+)$/.exec(text);
  if (!match) return text;
  const [, sign = '', int = '', frac = '', exp = '0'] = match;
  const digits = int + frac;
  // Position of the decimal point within `digits` once the exponent is applied.
  const point = int.length + Number(exp);
  let out: string;
  if (point <= 0) out = `0.${'0'.repeat(-point)}${digits}`;
  else if (point >= digits.length) out = digits + '0'.repeat(point - digits.length);
  else out = `${digits.slice(0, point)}.${digits.slice(point)}`;
  out = out.includes('.') ? out.replace(/0+$/, '').replace(/\.$/, '') : out;
  return sign + out;
}
