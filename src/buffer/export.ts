import { closeSync, copyFileSync, existsSync, mkdtempSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { z } from 'zod';
import { isQtError } from '../errors.js';
import { checkHeader, corruptError, inspectBufferFile, sqliteCode } from './inspect.js';
import { hasSeqRuns, readRuns, type SeqRun, seqAt } from './seq-runs.js';

/** What {@link exportBuffer} did. */
export interface ExportResult {
  /** Rows written as JSON lines. */
  readonly exported: number;
  /** What could not be read, one message per problem (empty for a healthy file). */
  readonly errors: string[];
}

/** Text as the publisher writes it: JSON escapes NUL, so a raw NUL means zero-filled (lost) bytes. */
const noNul = z.string().refine((s) => !s.includes('\0'), 'contains NUL bytes');

/**
 * One exported row: the stored event, `body` kept as the exact stored text.
 * Rows are validated because a damaged page can decode into nonsense.
 */
export const ExportedRowSchema = z.object({
  id: z.number().int().positive(),
  topic: noNul,
  type: noNul,
  seq: z.number().int().nullable(),
  createdAt: z.number().int().positive(),
  body: noNul,
});
/** One exported row. */
export type ExportedRow = z.infer<typeof ExportedRowSchema>;

const ROWS_FROM = 'SELECT id, topic, type, seq, created_at AS createdAt, body FROM events WHERE id > ? ORDER BY id';

/** Raised by the caller's `write`: never mistaken for damage, always rethrown. */
class WriteFailed {
  constructor(readonly error: unknown) {}
}

/** Copies taken before giving up, when checkpoints keep restarting the WAL under the copy. */
const COPY_ATTEMPTS = 5;

/**
 * Runs `read` on a copy of a buffer file, so that neither the file nor the
 * process that may hold it is ever touched: SQLite never opens the file
 * itself, so no lock is taken or waited for, nothing is created beside it,
 * and a `main` starting on the file meanwhile is not refused.
 *
 * A running producer keeps the WAL index in its own memory (locking_mode
 * EXCLUSIVE), so no reader could share its lock anyway; the copy is taken
 * with plain file reads: the main file first, then the `-wal`. Committed
 * rows are in the main file or in the WAL's frames, and SQLite's recovery of
 * the copy keeps every frame up to the last complete commit (a page a
 * checkpoint rewrote during the copy is read from its WAL frame), so the
 * copy is the buffer as of a commit made while copying. A WAL restarted by a
 * checkpoint meanwhile (its header's salts change) would mix two
 * generations: the copy is then taken again. The copy lives in a directory
 * under the OS temporary directory (`TMPDIR`), needs as much room as the
 * file and its WAL, and is removed afterwards.
 */
export function readCopy<T>(path: string, read: (copy: string) => T): T {
  const copy = copyOf(resolve(path));
  try {
    return read(copy.file);
  } finally {
    rmSync(copy.dir, { recursive: true, force: true });
  }
}

/** The first 32 bytes of a WAL file (magic, page size, checkpoint sequence, salts, checksums), or undefined. */
function walHeader(walPath: string): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(walPath, 'r');
  } catch {
    return undefined;
  }
  try {
    const header = Buffer.alloc(32);
    return readSync(fd, header, 0, 32, 0) === 32 ? header : undefined;
  } finally {
    closeSync(fd);
  }
}

const sameHeader = (a: Buffer | undefined, b: Buffer | undefined) =>
  a === undefined ? b === undefined : b !== undefined && a.equals(b);

/** A consistent copy of a buffer file and its WAL in a fresh temporary directory (see {@link readCopy}). */
function copyOf(file: string): { dir: string; file: string } {
  for (let attempt = 1; ; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), 'qt-buffer-copy-'));
    const copy = join(dir, 'buffer.sqlite');
    try {
      const before = walHeader(`${file}-wal`);
      copyFileSync(file, copy);
      if (before !== undefined) copyFileSync(`${file}-wal`, `${copy}-wal`);
      if (sameHeader(before, walHeader(`${file}-wal`)) && sameHeader(before, walHeader(`${copy}-wal`))) {
        return { dir, file: copy };
      }
    } catch (err) {
      // The WAL vanishes when its holder closes the file: take the copy again.
      const walGone = (err as NodeJS.ErrnoException).code === 'ENOENT' && existsSync(file);
      if (!walGone || attempt >= COPY_ATTEMPTS) {
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
    }
    rmSync(dir, { recursive: true, force: true });
    if (attempt >= COPY_ATTEMPTS) {
      throw new Error(`its WAL was restarted under each of ${COPY_ATTEMPTS} copies; try again`);
    }
  }
}

/**
 * Reads every readable row of a buffer file and calls `write` with one JSON
 * line per row (an {@link ExportedRow}), oldest first; for `qt buffer
 * export`. It reads a copy ({@link readCopy}), so the file is never
 * modified, and a file held by a running producer is exported as it was
 * when copied, without blocking the producer. Damage is skipped, not fatal:
 * unreadable id ranges are reported in `errors` (naming the file) and the
 * rows after them are still exported.
 */
export function exportBuffer(path: string, write: (jsonLine: string) => void): ExportResult {
  const file = resolve(path);
  const errors: string[] = [];
  let exported = 0;
  try {
    if (!statSync(file).isFile()) return { exported: 0, errors: [`${file}: not a regular file`] };
    readCopy(file, (copy) => {
      try {
        checkHeader(copy, statSync(copy).size);
      } catch (err) {
        const message = isQtError(err) ? String(err.details?.problem ?? err.message) : String(err);
        errors.push(`${file}: ${message}`);
        // A short file may still hold readable pages; anything else is hopeless.
        if (!message.startsWith('truncated: the header says')) return;
      }
      exported = exportFile(copy, file, write, errors);
    });
  } catch (err) {
    if (err instanceof WriteFailed) throw err.error;
    errors.push(`${file}: ${(err as Error).message}`);
  }
  return { exported, errors };
}

/** What one topic has in a buffer file. */
export interface TopicSummary {
  readonly topic: string;
  readonly rows: number;
  /** UTF-8 bytes as counted for the buffer's byte limit. */
  readonly bytes: number;
  /** Rows already sent once with an unknown outcome (they carry a seq). */
  readonly inDoubt: number;
  /** Epoch ms of the oldest row's commit, or null without rows. */
  readonly oldestCreatedAt: number | null;
}

/** What a buffer file holds: totals, and per topic. */
export interface BufferSummary extends Omit<TopicSummary, 'topic'> {
  readonly topics: readonly TopicSummary[];
  /** The producer instance stored in the file (null for a blank file). */
  readonly instanceId: string | null;
}

const TopicRowSchema = z.object({
  topic: z.string(),
  rows: z.number().int().nonnegative(),
  bytes: z.number().nonnegative(),
  inDoubt: z.number().int().nonnegative(),
  oldestCreatedAt: z.number().int().nullable(),
});

/**
 * Sums up a buffer file, from a copy ({@link readCopy}), so the file and
 * any process holding it are left alone. Throws QT_BUFFER_CORRUPT naming
 * the file when it is not a readable buffer (as `main` would refuse it), and
 * the file system's error (ENOENT) when there is no file.
 */
export function summarizeBuffer(path: string): BufferSummary {
  const file = resolve(path);
  if (!statSync(file).isFile()) throw corruptError(file, 'not a regular file');
  return readCopy(file, (copy) => {
    let state: ReturnType<typeof inspectBufferFile>;
    try {
      state = inspectBufferFile(copy);
    } catch (err) {
      if (isQtError(err, 'QT_BUFFER_CORRUPT')) throw corruptError(file, String(err.details?.problem), err);
      throw err;
    }
    if (state !== 'buffer') {
      return { rows: 0, bytes: 0, inDoubt: 0, oldestCreatedAt: null, topics: [], instanceId: null };
    }
    const db = new Database(copy, { readonly: true, fileMustExist: true, timeout: 0 });
    try {
      let topics = z
        .array(TopicRowSchema)
        .parse(
          db
            .prepare(
              'SELECT topic, count(*) AS rows, total(size) AS bytes, count(seq) AS inDoubt, min(created_at) AS oldestCreatedAt FROM events GROUP BY topic ORDER BY topic',
            )
            .all(),
        );
      if (hasSeqRuns(db)) {
        const covered = db
          .prepare(
            'SELECT e.topic, count(*) FROM events e JOIN seq_runs r ON r.topic = e.topic AND e.id BETWEEN r.first_id AND r.last_id WHERE e.seq IS NULL GROUP BY e.topic',
          )
          .raw()
          .all() as [string, number][];
        const byTopic = new Map(covered);
        topics = topics.map((t) => ({ ...t, inDoubt: t.inDoubt + (byTopic.get(t.topic) ?? 0) }));
      }
      const instance = db.prepare("SELECT value FROM meta WHERE key = 'instance_id'").pluck().get();
      const oldest = topics.flatMap((t) => (t.oldestCreatedAt === null ? [] : [t.oldestCreatedAt]));
      return {
        rows: topics.reduce((n, t) => n + t.rows, 0),
        bytes: topics.reduce((n, t) => n + t.bytes, 0),
        inDoubt: topics.reduce((n, t) => n + t.inDoubt, 0),
        oldestCreatedAt: oldest.length > 0 ? Math.min(...oldest) : null,
        topics,
        instanceId: typeof instance === 'string' ? instance : null,
      };
    } finally {
      db.close();
    }
  });
}

/** Exports the rows of `copy`; messages name `file`, the original. */
function exportFile(copy: string, file: string, write: (line: string) => void, errors: string[]): number {
  let db: Database.Database | undefined;
  try {
    db = new Database(copy, { readonly: true, fileMustExist: true, timeout: 0 });
    // Lets SQLite read a truncated file up to its end instead of refusing it;
    // harmless on a read-only connection (unsafe mode is what permits the pragma).
    db.unsafeMode(true);
    db.pragma('writable_schema = ON');
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[];
    if (!tables.includes('events')) {
      errors.push(`${file}: not a disk buffer (no events table; tables: ${tables.join(', ') || 'none'})`);
      return 0;
    }
    return exportRows(db, assignedSeqs(db, errors), write, errors);
  } catch (err) {
    if (err instanceof WriteFailed) throw err;
    const code = sqliteCode(err);
    errors.push(`${file}: ${(err as Error).message}${code ? ` (${code})` : ''}`);
    return 0;
  } finally {
    db?.close();
  }
}

/**
 * The seqs the drainer assigned (`seq_runs`), by topic. Unreadable runs are
 * reported and left out: the rows still export, with the seq they carry.
 */
function assignedSeqs(db: Database.Database, errors: string[]): Map<string, SeqRun[]> {
  try {
    return readRuns(db) ?? new Map();
  } catch (err) {
    errors.push(
      `assigned seqs (seq_runs) are unreadable; rows show only the seq they carry: ${(err as Error).message}`,
    );
    return new Map();
  }
}

/** Streams rows in id order, stepping over unreadable ranges; a row without a seq of its own gets its assigned one. */
function exportRows(
  db: Database.Database,
  runs: ReadonlyMap<string, readonly SeqRun[]>,
  write: (line: string) => void,
  errors: string[],
): number {
  const rows = db.prepare(ROWS_FROM);
  const firstAfter = db.prepare(`${ROWS_FROM} LIMIT 1`);
  const lastId = highestId(db);
  let exported = 0;
  let after = 0;
  const invalid: unknown[] = [];
  const reportInvalid = () => {
    if (invalid.length === 0) return;
    errors.push(
      `${invalid.length} rows with invalid content skipped (first: ${JSON.stringify(invalid[0]).slice(0, 200)})`,
    );
    invalid.length = 0;
  };
  for (;;) {
    try {
      for (const raw of rows.iterate(after)) {
        const row = ExportedRowSchema.safeParse(raw);
        // A damaged b-tree can also return rows out of order; keep the output strictly by id.
        if (!row.success || row.data.id <= after) {
          invalid.push(raw);
          continue;
        }
        const assigned = row.data.seq === null ? runs.get(row.data.topic) : undefined;
        emit(write, assigned ? { ...row.data, seq: seqAt(assigned, row.data.id) } : row.data);
        exported++;
        after = row.data.id;
      }
      reportInvalid();
      return exported;
    } catch (err) {
      reportInvalid();
      if (err instanceof WriteFailed) throw err;
      const resumeAt = findReadable(firstAfter, after, lastId);
      const lost = countIndexed(db, after, resumeAt);
      errors.push(
        `rows with ids ${after + 1}..${resumeAt === undefined ? 'end' : resumeAt - 1} are unreadable` +
          `${lost === undefined ? '' : ` (${lost} rows per the index)`}: ${(err as Error).message}`,
      );
      if (resumeAt === undefined) return exported;
      // Always move forward, even if a re-read behaves differently from the probe.
      after = Math.max(resumeAt - 1, after + 1);
    }
  }
}

function emit(write: (line: string) => void, row: ExportedRow): void {
  const line = JSON.stringify({
    id: row.id,
    topic: row.topic,
    type: row.type,
    seq: row.seq,
    createdAt: row.createdAt,
    body: row.body,
  });
  try {
    write(line);
  } catch (err) {
    throw new WriteFailed(err);
  }
}

/**
 * The smallest id above `after` from which reading works again, found by
 * doubling then bisecting over "is the first row after x readable?", which
 * fails while x is before the end of the damaged range.
 */
function findReadable(firstAfter: Database.Statement, after: number, lastId: number): number | undefined {
  const readableAfter = (x: number): number | undefined | false => {
    try {
      const row = firstAfter.get(x) as { id: unknown } | undefined;
      if (row === undefined) return undefined;
      return typeof row.id === 'number' && row.id > x ? row.id : false;
    } catch {
      return false;
    }
  };
  let bad = after;
  let step = 1;
  let good: number | undefined;
  for (;;) {
    const x = bad + step;
    if (x >= lastId) {
      if (readableAfter(lastId - 1) === false) return undefined;
      good = lastId - 1;
      break;
    }
    if (readableAfter(x) !== false) {
      good = x;
      break;
    }
    bad = x;
    step *= 2;
  }
  while (good - bad > 1) {
    const mid = Math.floor((bad + good) / 2);
    if (readableAfter(mid) === false) bad = mid;
    else good = mid;
  }
  const id = readableAfter(good);
  return typeof id === 'number' ? id : undefined;
}

/** Highest id ever issued (AUTOINCREMENT keeps it in sqlite_sequence), or a generous bound. */
function highestId(db: Database.Database): number {
  for (const sql of ["SELECT seq FROM sqlite_sequence WHERE name = 'events'", 'SELECT max(id) FROM events']) {
    try {
      const v = db.prepare(sql).pluck().get();
      if (typeof v === 'number') return v + 1;
    } catch {
      // try the next source
    }
  }
  return 2 ** 53 - 1;
}

/** Rows the topic index lists in the open id range (after, before), if the index is readable. */
function countIndexed(db: Database.Database, after: number, before: number | undefined): number | undefined {
  try {
    return db
      .prepare('SELECT count(*) FROM events INDEXED BY events_by_topic WHERE id > ? AND id < ?')
      .pluck()
      .get(after, before ?? 2 ** 53 - 1) as number;
  } catch {
    return undefined;
  }
}
