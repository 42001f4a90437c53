import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { openStoreFile } from '../../src/exchange/sqlite-file.js';

const SCHEMA = 'CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY)';

test('a store file is created with its schema version; a file of a newer schema is QT_STORE_INCOMPATIBLE, left as it is', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'qt-store-file-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'nested', 'store.sqlite');
  const db = openStoreFile(path, SCHEMA, 2);
  t.is(db.pragma('user_version', { simple: true }), 2);
  db.pragma('user_version = 3');
  db.close();
  const err = t.throws(() => openStoreFile(path, SCHEMA, 2), { code: 'QT_STORE_INCOMPATIBLE' } as never);
  t.regex(err?.message ?? '', /schema version 3; this build reads up to 2/);
  const again = openStoreFile(path, SCHEMA, 3);
  t.is(again.pragma('user_version', { simple: true }), 3, 'the refused file was not changed');
  again.close();
});
