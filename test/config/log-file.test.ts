/**
 * The log file settings (QT_LOG_FILE, QT_LOG_FILE_SIZE, QT_LOG_FILE_COUNT): off by default, sizes in
 * k/m/g turned into bytes, and every bad value refused with QT_CONFIG_INVALID naming its key.
 */
import test from 'ava';
import { loadConfig } from '../../src/config/load.js';
import { DEFAULT_LOG_FILE_COUNT } from '../../src/config/log-file.js';
import type { QtError } from '../../src/errors.js';

test('no QT_LOG_FILE: no file, whatever SIZE and COUNT say', (t) => {
  t.is(loadConfig({}).log.file, undefined);
  t.is(loadConfig({ QT_LOG_FILE: '', QT_LOG_FILE_SIZE: '1m', QT_LOG_FILE_COUNT: '3' }).log.file, undefined);
});

test('QT_LOG_FILE with the defaults: rotated at 10 MiB, 10 files kept', (t) => {
  t.deepEqual(loadConfig({ QT_LOG_FILE: '/var/log/qt/qt.log' }).log.file, {
    path: '/var/log/qt/qt.log',
    maxBytes: 10 * 1024 ** 2,
    count: DEFAULT_LOG_FILE_COUNT,
  });
});

test('sizes in k, m and g (either case) are bytes', (t) => {
  const bytes = (size: string) => loadConfig({ QT_LOG_FILE: 'qt.log', QT_LOG_FILE_SIZE: size }).log.file?.maxBytes;
  t.is(bytes('512k'), 512 * 1024);
  t.is(bytes('25M'), 25 * 1024 ** 2);
  t.is(bytes('1g'), 1024 ** 3);
  t.is(loadConfig({ QT_LOG_FILE: 'qt.log', QT_LOG_FILE_COUNT: '2' }).log.file?.count, 2);
});

test('bad values name their key', (t) => {
  const cases: [Record<string, string>, string, RegExp][] = [
    [{ QT_LOG_FILE_SIZE: '10' }, 'QT_LOG_FILE_SIZE', /size like 512k, 10m or 1g/],
    [{ QT_LOG_FILE_SIZE: '10mb' }, 'QT_LOG_FILE_SIZE', /size like/],
    [{ QT_LOG_FILE_SIZE: '0k' }, 'QT_LOG_FILE_SIZE', /size like/],
    [{ QT_LOG_FILE_SIZE: '-1m' }, 'QT_LOG_FILE_SIZE', /size like/],
    [{ QT_LOG_FILE_COUNT: '1' }, 'QT_LOG_FILE_COUNT', /2/],
    [{ QT_LOG_FILE_COUNT: 'many' }, 'QT_LOG_FILE_COUNT', /number/],
    [{ QT_LOG_FILE: 'logs/' }, 'QT_LOG_FILE', /a file, not a directory/],
    [{ QT_LOG_FILE: 'C:/logs/qt.log' }, 'QT_LOG_FILE', /without < > " \| \? \* :/],
    [{ QT_LOG_FILE: 'qt?.log' }, 'QT_LOG_FILE', /without/],
  ];
  for (const [env, key, message] of cases) {
    const err = t.throws<QtError>(() => loadConfig({ QT_LOG_FILE: 'qt.log', ...env }), undefined, JSON.stringify(env));
    t.is(err?.code, 'QT_CONFIG_INVALID');
    const issues = (err?.details as { issues: { key: string; message: string }[] } | undefined)?.issues ?? [];
    t.deepEqual(
      issues.map((i) => i.key),
      [key],
      JSON.stringify(env),
    );
    t.regex(issues[0]?.message ?? '', message, JSON.stringify(env));
  }
});
