import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import Database from 'better-sqlite3';
import { z } from 'zod';
import { isQtError } from '../errors.js';
import { checkHeader, sqliteCode } from './inspect.js';

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

/**
 * Reads every readable row of a buffer file and calls `write` with one JSON
 * line per row (an {@link ExportedRow}), oldest first; for the CLI's
 * "buffer export". The file is opened read-only, so it is never modified
 * or deleted (SQLite may create an empty `-wal`/`-shm` beside it). Damage
 * is skipped, not fatal: unreadable id ranges are reported in `errors` and
 * the rows after them are still exported. A file held by a running
 * producer is refused, because its content is changing.
 */
export function exportBuffer(path: string, write: (jsonLine: string) => void): ExportResult {
  const file = resolve(path);
  const errors: string[] = [];
  let size: number;
  try {
    size = statSync(file).size;
  } catch (err) {
    return { exported: 0, errors: [`${file}: ${(err as Error).message}`] };
  }
  try {
    checkHeader(file, size);
  } catch (err) {
    const message = isQtError(err) ? String(err.details?.problem ?? err.message) : String(err);
    errors.push(`${file}: ${message}`);
    // A short file may still hold readable pages; anything else is hopeless.
    if (!message.startsWith('truncated: the header says')) return { exported: 0, errors };
  }
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true, timeout: 0 });
    // Lets SQLite read a truncated file up to its end instead of refusing it;
    // harmless on a read-only connection (unsafe mode is what permits the pragma).
    db.unsafeMode(true);
    db.pragma('writable_schema = ON');
    // The first read: a running producer's lock surfaces here, not as damage.
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[];
    if (!tables.includes('events')) {
      errors.push(`${file}: not a disk buffer (no events table; tables: ${tables.join(', ') || 'none'})`);
      return { exported: 0, errors };
    }
    const exported = exportRows(db, write, errors);
    return { exported, errors };
  } catch (err) {
    if (err instanceof WriteFailed) throw err.error;
    const code = sqliteCode(err);
    errors.push(
      code === 'SQLITE_BUSY'
        ? `${file}: locked by a running process; stop it before exporting`
        : `${file}: ${(err as Error).message}${code ? ` (${code})` : ''}`,
    );
    return { exported: 0, errors };
  } finally {
    db?.close();
  }
}

/** Streams rows in id order, stepping over unreadable ranges. */
function exportRows(db: Database.Database, write: (line: string) => void, errors: string[]): number {
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
        emit(write, row.data);
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
