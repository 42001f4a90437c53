/**
 * A file that is not a readable buffer stops open() with QT_BUFFER_CORRUPT,
 * a message naming the file and the problem, and the file is left exactly
 * as it was: never modified, never deleted.
 */
import { closeSync, openSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import type { ExecutionContext } from 'ava';
import test from 'ava';
import Database from 'better-sqlite3';
import { DiskBuffer } from '../../src/buffer/disk-buffer.js';
import { LATEST_SCHEMA_VERSION } from '../../src/buffer/migrations.js';
import { isQtError } from '../../src/errors.js';
import { event, sha256, startChild, tempBufferPath, waitFor } from './helpers.js';

/** A healthy buffer file with `rows` events, closed. */
async function bufferFile(t: ExecutionContext, rows = 2_000): Promise<string> {
  const path = tempBufferPath(t);
  const buffer = DiskBuffer.open({ path });
  await buffer.append(
    Array.from({ length: rows }, (_, i) => ({ ...event('market', i), body: `{"n":${i},"pad":"${'p'.repeat(300)}"}` })),
  );
  await buffer.close();
  return path;
}

/** Asserts open() refuses `path` as corrupt with `problem` in the message, leaving its bytes alone. */
function assertRefused(t: ExecutionContext, path: string, problem: RegExp): void {
  const before = sha256(path);
  const size = statSync(path).size;
  for (let attempt = 0; attempt < 2; attempt++) {
    const err = t.throws(() => DiskBuffer.open({ path }));
    t.true(isQtError(err, 'QT_BUFFER_CORRUPT'), String(err));
    t.true(err!.message.includes(path), err!.message);
    t.regex(err!.message, problem);
  }
  t.is(statSync(path).size, size);
  t.is(sha256(path), before, 'same bytes before and after');
}

test('garbage bytes are refused', (t) => {
  const path = tempBufferPath(t);
  writeFileSync(path, Buffer.from('this is not a database, just some bytes\n'.repeat(200)));
  assertRefused(t, path, /not a SQLite database/);
});

test('a file shorter than a SQLite header is refused', (t) => {
  const path = tempBufferPath(t);
  writeFileSync(path, 'SQLite format 3\0');
  assertRefused(t, path, /truncated: 16 bytes/);
});

test('a SQLite file with a foreign schema is refused', (t) => {
  const path = tempBufferPath(t);
  const db = new Database(path);
  db.exec("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users (name) VALUES ('ada');");
  db.close();
  assertRefused(t, path, /not a disk buffer: foreign schema \(tables: users\)/);
});

test('a SQLite file of another application (application_id) is refused before SQLite opens it', (t) => {
  const path = tempBufferPath(t);
  const db = new Database(path);
  db.exec('PRAGMA application_id = 42; CREATE TABLE meta (key TEXT); CREATE TABLE events (id INTEGER);');
  db.close();
  assertRefused(t, path, /another application \(application_id 0x2a\)/);
});

test('a buffer written by a newer schema is refused', async (t) => {
  const path = await bufferFile(t, 1);
  const db = new Database(path);
  db.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(String(LATEST_SCHEMA_VERSION + 1));
  db.close();
  assertRefused(t, path, new RegExp(`schema version ${LATEST_SCHEMA_VERSION + 1} was written by a newer build`));
});

test('a truncated buffer file is refused', async (t) => {
  const path = await bufferFile(t);
  truncateSync(path, Math.floor(statSync(path).size / 2));
  assertRefused(t, path, /truncated: the header says \d+ bytes, the file has \d+/);
});

test('a truncated file with a live WAL (producer killed) is refused; neither file is changed', async (t) => {
  const path = await bufferFile(t);
  const child = startChild(t, 'append', path);
  await waitFor(() => (child.output().match(/^ok /gm) ?? []).length >= 3_000, '3000 appends in the WAL');
  child.process.kill('SIGKILL');
  await child.exited;
  t.true(statSync(`${path}-wal`).size > 0, 'committed frames wait in the WAL');
  truncateSync(path, Math.floor(statSync(path).size / 2));
  const wal = sha256(`${path}-wal`);
  assertRefused(t, path, /damaged \(SQLite: database disk image is malformed/);
  t.is(sha256(`${path}-wal`), wal, 'the WAL was not checkpointed into the refused file');
});

test('a buffer with a damaged data page is refused', async (t) => {
  const path = await bufferFile(t);
  const db = new Database(path, { readonly: true });
  const leaves = db
    .prepare("SELECT pageno FROM dbstat WHERE name = 'events' AND pagetype = 'leaf' ORDER BY pageno")
    .pluck()
    .all() as number[];
  db.close();
  const page = leaves[Math.floor(leaves.length / 2)]!;
  const fd = openSync(path, 'r+');
  writeSync(fd, Buffer.alloc(4096, 0xab), 0, 4096, (page - 1) * 4096);
  closeSync(fd);
  assertRefused(t, path, /damaged \(SQLite: database disk image is malformed/);
});

test('an empty file is initialised as a new buffer', async (t) => {
  const path = tempBufferPath(t);
  writeFileSync(path, '');
  const buffer = DiskBuffer.open({ path });
  await buffer.append([event('market', 1)]);
  t.is(buffer.backlog('market'), 1);
  await buffer.close();
});
