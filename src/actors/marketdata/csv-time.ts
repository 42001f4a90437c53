/**
 * The times a market-data CSV may write (docs/market-data.md): epoch seconds,
 * milliseconds or microseconds told apart by magnitude, ISO-8601,
 * `YYYY-MM-DD` and `YYYY-MM-DD HH:MM[:SS[.fff]]`, read as UTC unless a zone
 * is given. Hand-written rather than `Date.parse`, which reads a date-time
 * without a zone as local time, and because it runs once per row of a file
 * that may have half a million.
 */

/** Epoch values below this are seconds (below it, milliseconds would be before 1973-03). */
const SECONDS_BELOW = 1e11;
/** Epoch values below this (and not seconds) are milliseconds; above, microseconds (Binance spot from 2025). */
const MILLISECONDS_BELOW = 1e14;
/** Epoch values from here on (nanoseconds, or garbage) are refused. */
const MICROSECONDS_BELOW = 1e17;
/** The latest time accepted: 9999-12-31T23:59:59.999Z. */
const LATEST_MS = 253_402_300_799_999;

/** What a time cell may be, for error messages. */
export const TIME_FORMATS = 'epoch s/ms/µs, ISO-8601, YYYY-MM-DD or YYYY-MM-DD HH:MM:SS';

const EPOCH = /^\s*\d+(\.\d+)?\s*$/;
const CALENDAR =
  /^\s*(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?)?\s*(Z|UTC|[+-]\d{2}(?::?\d{2})?)?\s*$/i;

/** Epoch ms of a number whose unit is told by its magnitude (s, ms or µs), floored to whole ms; NaN if out of range. */
export function epochToMs(value: number): number {
  if (!(value >= 0)) return Number.NaN;
  if (value < SECONDS_BELOW) return Math.floor(value * 1000);
  if (value < MILLISECONDS_BELOW) return Math.floor(value);
  if (value < MICROSECONDS_BELOW) return Math.floor(value / 1000);
  return Number.NaN;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Days in `month` (1..12) of `year`, Gregorian. */
function daysIn(year: number, month: number): number {
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return month === 2 && leap ? 29 : (DAYS_IN_MONTH[month - 1] ?? 0);
}

/** Minutes east of UTC of a zone suffix (`Z`, `UTC`, `+02`, `-0530`, `+05:30`); NaN if malformed. */
function zoneMinutes(zone: string | undefined): number {
  if (zone === undefined || zone === 'Z' || zone === 'z' || zone.toUpperCase() === 'UTC') return 0;
  const digits = zone.slice(1).replace(':', '');
  const hours = Number(digits.slice(0, 2));
  const minutes = digits.length > 2 ? Number(digits.slice(2)) : 0;
  if (digits.length !== 2 && digits.length !== 4) return Number.NaN;
  if (hours > 23 || minutes > 59) return Number.NaN;
  return (zone[0] === '-' ? -1 : 1) * (hours * 60 + minutes);
}

/** Epoch ms of a calendar date or date-time cell (UTC unless zoned); NaN if it is none or names no real instant. */
function calendarToMs(cell: string): number {
  const m = CALENDAR.exec(cell);
  if (m === null) return Number.NaN;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = h === undefined ? 0 : Number(h);
  const minute = mi === undefined ? 0 : Number(mi);
  const second = s === undefined ? 0 : Number(s);
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return Number.NaN;
  if (hour > 23 || minute > 59 || second > 59) return Number.NaN;
  if (h === undefined && zone !== undefined) return Number.NaN; // a zone on a bare date means nothing
  const offset = zoneMinutes(zone);
  const ms = frac === undefined ? 0 : Math.floor(Number(`0${frac}`) * 1000);
  return Date.UTC(year, month - 1, day, hour, minute, second, ms) - offset * 60_000;
}

/**
 * Epoch ms of a time cell in any of {@link TIME_FORMATS}; NaN when it is
 * none of them or lies outside 1970..9999.
 */
export function parseTimeCell(cell: string): number {
  const ms = EPOCH.test(cell) ? epochToMs(Number(cell)) : calendarToMs(cell);
  return ms >= 0 && ms <= LATEST_MS ? ms : Number.NaN;
}
