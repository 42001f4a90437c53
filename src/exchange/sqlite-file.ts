import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { QtError } from '../errors.js';

/**
 * Opens (creating if needed) a small SQLite store of the execution side: WAL,
 * `synchronous = FULL` (a recorded trade survives a power cut), and the
 * schema applied once, marked by `user_version`. A file written by a newer
 * schema is refused rather than misread.
 */
export function openStoreFile(path: string, schema: string, version: number): Database.Database {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('busy_timeout = 2000');
    const current = db.pragma('user_version', { simple: true }) as number;
    if (current > version) {
      const message = `${path} has schema version ${current}; this build reads up to ${version}`;
      throw new QtError('QT_STORE_INCOMPATIBLE', message, { details: { path, schemaVersion: current } });
    }
    if (current < version) {
      db.transaction(() => {
        db.exec(schema);
        db.pragma(`user_version = ${version}`);
      })();
    }
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}
