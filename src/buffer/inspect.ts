import { closeSync, openSync, readSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { z } from 'zod';
import { isQtError, QtError } from '../errors.js';
import { BUFFER_APPLICATION_ID, BufferMetaSchema, LATEST_SCHEMA_VERSION, readMetaRows } from './migrations.js';

const SQLITE_MAGIC = 'SQLite format 3\0';
const HEADER_BYTES = 100;

/** What {@link inspectBufferFile} found at a path. */
export type FileState =
  /** No file: open() creates one. */
  | 'absent'
  /** A SQLite file without tables (e.g. created, then the process died before the schema): open() initialises it. */
  | 'blank'
  /** A readable buffer file of a schema this build knows. */
  | 'buffer';

/** A QT_BUFFER_CORRUPT error naming the file and what is wrong with it. */
export function corruptError(path: string, problem: string, cause?: unknown): QtError {
  return new QtError(
    'QT_BUFFER_CORRUPT',
    `disk buffer ${path} is unusable: ${problem}; it was left untouched (export what is readable with "qt buffer export ${path} --out FILE")`,
    { cause, details: { path, problem } },
  );
}

/** A QT_BUFFER_LOCKED error naming the file. */
export function lockedError(path: string, cause?: unknown): QtError {
  return new QtError('QT_BUFFER_LOCKED', `disk buffer ${path} is locked by another process (one process per file)`, {
    cause,
    details: { path },
  });
}

/** The SQLite result code of `err` (e.g. SQLITE_BUSY), if it is a SQLite error. */
export function sqliteCode(err: unknown): string | undefined {
  return err instanceof Database.SqliteError ? err.code : undefined;
}

/**
 * Translates a failure while opening a buffer into a coded error: a busy
 * lock means another process holds the file; anything else means the file
 * cannot be read as a buffer.
 */
export function openFailure(path: string, err: unknown): QtError {
  if (isQtError(err)) return err;
  const code = sqliteCode(err);
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED' || code?.startsWith('SQLITE_BUSY_')) {
    return lockedError(path, err);
  }
  const message = err instanceof Error ? err.message : String(err);
  if (code === 'SQLITE_NOTADB') return corruptError(path, `not a SQLite database (${message})`, err);
  if (code?.startsWith('SQLITE_CORRUPT')) return corruptError(path, `damaged (SQLite: ${message}, ${code})`, err);
  return corruptError(path, code ? `unreadable (SQLite: ${message}, ${code})` : `unreadable (${message})`, err);
}

/**
 * Checks the 100-byte SQLite header with plain reads, so garbage and other
 * applications' databases are refused before SQLite touches them.
 */
export function checkHeader(path: string, size: number): void {
  if (size < HEADER_BYTES) throw corruptError(path, `truncated: ${size} bytes is less than a SQLite header`);
  const header = Buffer.alloc(HEADER_BYTES);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, header, 0, HEADER_BYTES, 0);
  } finally {
    closeSync(fd);
  }
  if (header.toString('latin1', 0, 16) !== SQLITE_MAGIC) throw corruptError(path, 'not a SQLite database (bad header)');
  const appId = header.readUInt32BE(68);
  if (appId !== 0 && appId !== BUFFER_APPLICATION_ID) {
    throw corruptError(
      path,
      `not a disk buffer: a SQLite file of another application (application_id 0x${appId.toString(16)})`,
    );
  }
  // The in-header page count is only meaningful when the change counter
  // matches version-valid-for; with a non-empty WAL the main file may
  // legitimately lag behind, so leave that case to SQLite.
  const rawPageSize = header.readUInt16BE(16);
  const pageSize = rawPageSize === 1 ? 65_536 : rawPageSize;
  const pages = header.readUInt32BE(28);
  const valid = pages > 0 && header.readUInt32BE(24) === header.readUInt32BE(92);
  if (valid && pages * pageSize > size && !hasWalFrames(path)) {
    throw corruptError(path, `truncated: the header says ${pages * pageSize} bytes, the file has ${size}`);
  }
}

function hasWalFrames(path: string): boolean {
  try {
    return statSync(`${path}-wal`).size > 0;
  } catch {
    return false;
  }
}

/**
 * Looks at an existing file without changing it: header, schema, meta and
 * every row of the events table are read through a read-only connection,
 * which can neither write nor checkpoint, so a refused file keeps its exact
 * bytes (SQLite may leave an empty `-wal`/`-shm` beside it). Throws
 * QT_BUFFER_CORRUPT or QT_BUFFER_LOCKED.
 */
export function inspectBufferFile(path: string): FileState {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw corruptError(path, 'not a regular file');
    size = st.size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw openFailure(path, err);
  }
  if (size > 0) checkHeader(path, size);
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true, timeout: 0 });
    const tables = (
      db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")
        .raw()
        .all() as [string][]
    ).map(([name]) => name);
    if (tables.length === 0) return 'blank';
    if (!tables.includes('meta') || !tables.includes('events')) {
      throw corruptError(path, `not a disk buffer: foreign schema (tables: ${tables.join(', ')})`);
    }
    const meta = BufferMetaSchema.safeParse(readMetaRows(db));
    if (!meta.success) throw corruptError(path, `not a disk buffer: bad meta table: ${z.prettifyError(meta.error)}`);
    if (meta.data.schema_version > LATEST_SCHEMA_VERSION) {
      throw corruptError(
        path,
        `schema version ${meta.data.schema_version} was written by a newer build (this one reads up to ${LATEST_SCHEMA_VERSION})`,
      );
    }
    // Touches every table page, so a damaged page stops start-up here rather than mid-replay.
    db.prepare('SELECT count(*), total(size), total(length(body)) FROM events').raw().get();
    return 'buffer';
  } catch (err) {
    throw openFailure(path, err);
  } finally {
    db?.close();
  }
}
