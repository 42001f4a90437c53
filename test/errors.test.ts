import { readFileSync } from 'node:fs';
import test from 'ava';
import { ERROR_CODES, isQtError, QtError } from '../src/errors.js';

const read = (path: string) => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');

/** The codes in docs/errors.md's table, one per row, in order (duplicates kept). */
const documentedCodes = (doc: string): string[] =>
  [...doc.matchAll(/^\|\s*`(QT_[A-Z0-9_]+)`\s*\|/gm)].map((m) => m[1] as string);

/**
 * The keys written in the `ERROR_CODES` literal of src/errors.ts, in order
 * (duplicates kept). Read from the text because a duplicate key in an object
 * literal silently overwrites the first one, so `Object.keys` can never show it.
 */
const sourceKeys = (source: string): string[] => {
  const start = source.indexOf('export const ERROR_CODES = {');
  const end = source.indexOf('} as const', start);
  if (start < 0 || end < 0) return [];
  const literal = source.slice(start, end);
  return [...literal.matchAll(/^\s*['"]?(QT_[A-Z0-9_]+)['"]?\s*:/gm)].map((m) => m[1] as string);
};

const duplicates = (items: readonly string[]): string[] => [
  ...new Set(items.filter((item, i) => items.indexOf(item) !== i)),
];

const registry = Object.keys(ERROR_CODES);
const doc = read('docs/errors.md');

test('every code in ERROR_CODES has a row in docs/errors.md', (t) => {
  const documented = new Set(documentedCodes(doc));
  t.true(registry.length > 0);
  t.deepEqual(
    registry.filter((code) => !documented.has(code)),
    [],
    'codes missing from the table in docs/errors.md',
  );
});

test('every code documented in docs/errors.md exists in ERROR_CODES', (t) => {
  const documented = documentedCodes(doc);
  t.true(documented.length > 0, 'no code rows found in docs/errors.md');
  t.deepEqual(
    documented.filter((code) => !(code in ERROR_CODES)),
    [],
    'codes in docs/errors.md that are not in ERROR_CODES',
  );
});

test('no code has two rows in docs/errors.md', (t) => {
  t.deepEqual(duplicates(documentedCodes(doc)), []);
});

test('no code is written twice in the ERROR_CODES literal of src/errors.ts', (t) => {
  const keys = sourceKeys(read('src/errors.ts'));
  t.deepEqual(duplicates(keys), [], 'duplicate keys in ERROR_CODES (the later one silently wins)');
  // The parser must see exactly the registry's keys, or the check above proves nothing.
  t.deepEqual([...keys].sort(), [...registry].sort());
});

test('QtError carries its code and its cause', (t) => {
  const cause = new Error('low level');
  const err = new QtError('QT_PUBLISH_FAILED', 'publish failed', { cause });
  t.is(err.code, 'QT_PUBLISH_FAILED');
  t.is(err.cause, cause);
  t.true(isQtError(err, 'QT_PUBLISH_FAILED'));
  t.false(isQtError(err, 'QT_CONFIG_INVALID'));
});
