import { InvalidArgumentError } from 'commander';

/** Milliseconds of each unit a duration may use. */
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** One or more `<integer><unit>` parts, largest first or not: `30s`, `10m`, `1h30m`, `2d`, `250ms`. */
const DURATION = /^(?:\d+(?:ms|s|m|h|d))+$/;
const PART = /(\d+)(ms|s|m|h|d)/g;

/**
 * A duration as operators write it (`30s`, `10m`, `1h`, `2d`, `1h30m`,
 * `500ms`) in milliseconds; undefined for anything else (a bare number, a
 * negative, a fraction, an unknown unit), so a caller can say what it wanted.
 */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (!DURATION.test(trimmed)) return undefined;
  let ms = 0;
  for (const [, n, unit] of trimmed.matchAll(PART)) ms += Number(n) * UNIT_MS[unit as keyof typeof UNIT_MS];
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/**
 * A commander argument parser for a duration option: a malformed value is
 * an InvalidArgumentError, which commander reports with the usage (exit 2).
 */
export function durationOption(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined) {
    throw new InvalidArgumentError(`"${value}" is not a duration (like 30s, 10m, 1h, 2d, 1h30m or 500ms)`);
  }
  return ms;
}

/** A commander argument parser for a count: a positive integer, else an InvalidArgumentError (exit 2). */
export function countOption(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1) {
    throw new InvalidArgumentError(`"${value}" is not a positive whole number`);
  }
  return n;
}
