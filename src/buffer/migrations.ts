import { randomUUID } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import { z } from 'zod';

/** The `format` meta value that marks a file as a disk buffer. */
export const BUFFER_FORMAT = 'quantum-trader/disk-buffer';

/**
 * The SQLite header `application_id` of buffer files ("QTB1"). It lets a
 * plain byte read tell a buffer from another SQLite file before SQLite opens it.
 */
export const BUFFER_APPLICATION_ID = 0x51544231;

/** One schema change: `up` runs inside the migration transaction. */
export interface Migration {
  readonly version: number;
  readonly description: string;
  up(db: Database): void;
}

/**
 * The schema history, oldest first. Append new migrations; never edit one
 * that has shipped, since files in the field were created by it.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'meta and events tables',
    up(db) {
      db.exec(`
        CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) WITHOUT ROWID;
        -- AUTOINCREMENT: ids are never reused, so a stale id held by the drainer
        -- can never delete a newer row.
        CREATE TABLE events (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          topic TEXT NOT NULL,
          type TEXT NOT NULL,
          seq INTEGER,
          body TEXT NOT NULL,
          size INTEGER NOT NULL,
          created_at INTEGER NOT NULL
        );
        CREATE INDEX events_by_topic ON events (topic, id);
        -- Partial: only in-doubt rows carry a seq, so appends never touch it.
        CREATE INDEX events_seq_by_topic ON events (topic, seq) WHERE seq IS NOT NULL;
        PRAGMA application_id = ${BUFFER_APPLICATION_ID};
      `);
      const put = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
      put.run('format', BUFFER_FORMAT);
      put.run('instance_id', randomUUID());
      put.run('created_at', new Date().toISOString());
    },
  },
  {
    version: 2,
    description: 'seq_runs: seqs the drainer assigned, as runs of consecutive ids',
    up(db) {
      db.exec(`
        -- The seqs the drainer gave parked rows before sending them. The row of
        -- the run's topic with id first_id + k has seq first_seq + k, for k up to
        -- last_id - first_id; a run is only made of consecutive ids of one topic.
        -- A window's assignment is then one short row per run instead of a
        -- rewrite of every row (body and all) of the window. A row's own seq
        -- column (set when it was parked in doubt) takes precedence.
        CREATE TABLE seq_runs (
          topic TEXT NOT NULL,
          first_id INTEGER NOT NULL,
          last_id INTEGER NOT NULL,
          first_seq INTEGER NOT NULL,
          PRIMARY KEY (topic, first_id)
        ) WITHOUT ROWID;
      `);
    },
  },
];

/** The schema version this build writes and reads. */
export const LATEST_SCHEMA_VERSION = MIGRATIONS.at(-1)?.version ?? 0;

/** The meta table of a buffer file, as stored (all values are text). */
export const BufferMetaSchema = z.object({
  format: z.literal(BUFFER_FORMAT),
  schema_version: z
    .string()
    .regex(/^[1-9]\d*$/, 'a positive integer')
    .transform(Number),
  instance_id: z.uuid(),
  created_at: z.string(),
});
/** The parsed meta table. */
export type BufferMeta = z.infer<typeof BufferMetaSchema>;

/** Reads the meta table into key/value pairs (no validation). */
export function readMetaRows(db: Database): Record<string, string> {
  const rows = db.prepare('SELECT key, value FROM meta').raw().all() as [string, string][];
  return Object.fromEntries(rows);
}

/**
 * Brings a buffer file to {@link LATEST_SCHEMA_VERSION} in one transaction,
 * so a crash mid-migration leaves the file as it was. A file without tables
 * is initialised from version 0. Returns the versions before and after.
 */
export function migrate(db: Database): { from: number; to: number } {
  const run = db.transaction(() => {
    const hasMeta =
      db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get() !== undefined;
    const from = hasMeta ? Number(readMetaRows(db).schema_version ?? 0) : 0;
    for (const m of MIGRATIONS) {
      if (m.version <= from) continue;
      m.up(db);
      db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run('schema_version', String(m.version));
    }
    return { from, to: Math.max(from, LATEST_SCHEMA_VERSION) };
  });
  return run.immediate();
}
