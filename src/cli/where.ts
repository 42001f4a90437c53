import { InvalidArgumentError } from 'commander';

/**
 * One `--where` filter of `qt tail` (docs/cli.md): a dotted path into the
 * envelope (`data.symbol`, `producer`, `correlationId`), `=` or `!=`, and
 * the text to compare with.
 */
export interface WhereFilter {
  readonly path: readonly string[];
  readonly op: '=' | '!=';
  readonly value: string;
  /** As written, for messages. */
  readonly text: string;
}

const WHERE = /^([A-Za-z_$][\w$]*(?:\.[\w$]+)*)(!=|=)(.*)$/s;

/**
 * Parses `path=value` or `path!=value`; a commander argument parser, so a
 * malformed filter is an InvalidArgumentError (exit 2 with the usage).
 */
export function parseWhere(text: string): WhereFilter {
  const m = WHERE.exec(text);
  if (!m) {
    throw new InvalidArgumentError(
      `"${text}" is not a filter: write a dotted path into the envelope, = or !=, and a value (data.symbol=BTCUSDT)`,
    );
  }
  return { path: (m[1] as string).split('.'), op: m[2] as '=' | '!=', value: m[3] as string, text };
}

/** Collects repeated `--where` options. */
export function collectWhere(text: string, previous: readonly WhereFilter[] = []): WhereFilter[] {
  return [...previous, parseWhere(text)];
}

/** The value at `path` in `root`, or undefined when any step is missing (own properties only). */
function valueAt(root: unknown, path: readonly string[]): unknown {
  let v: unknown = root;
  for (const step of path) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, step)) return undefined;
    v = (v as Record<string, unknown>)[step];
  }
  return v;
}

/**
 * Whether a value equals the filter's text: a string exactly; a number when
 * the text is the same number (`price=60000` matches 60000 and 6e4);
 * `true`, `false` and `null` as written. Objects, arrays and a missing path
 * never equal anything.
 */
function equals(actual: unknown, text: string): boolean {
  if (typeof actual === 'string') return actual === text;
  if (typeof actual === 'number') return text.trim() !== '' && Number(text) === actual;
  if (typeof actual === 'boolean' || actual === null) return String(actual) === text;
  return false;
}

/** True when `envelope` passes every filter (`!=` passes a missing path). */
export function matchesAll(envelope: unknown, filters: readonly WhereFilter[]): boolean {
  return filters.every((f) => equals(valueAt(envelope, f.path), f.value) === (f.op === '='));
}
