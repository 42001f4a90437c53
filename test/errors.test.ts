import { readFileSync } from 'node:fs';
import test from 'ava';
import { ERROR_CODES, isQtError, QtError } from '../src/errors.js';

const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');

test('every error code is documented in docs/errors.md', (t) => {
  for (const code of Object.keys(ERROR_CODES))
    t.true(doc.includes(`\`${code}\``), `${code} missing from docs/errors.md`);
});

test('docs/errors.md documents no code that does not exist', (t) => {
  const documented = [...doc.matchAll(/^\| `(QT_[A-Z_]+)`/gm)].map((m) => m[1]);
  for (const code of documented) t.true(code !== undefined && code in ERROR_CODES, `${code} is not in ERROR_CODES`);
});

test('codes are unique and carried by QtError with its cause', (t) => {
  const codes = Object.keys(ERROR_CODES);
  t.is(new Set(codes).size, codes.length);
  const cause = new Error('low level');
  const err = new QtError('QT_PUBLISH_FAILED', 'publish failed', { cause });
  t.is(err.code, 'QT_PUBLISH_FAILED');
  t.is(err.cause, cause);
  t.true(isQtError(err, 'QT_PUBLISH_FAILED'));
  t.false(isQtError(err, 'QT_CONFIG_INVALID'));
});
