import { mkdirSync, rmSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { z } from 'zod';
import {
  DEFAULT_BUFFER_BLOCK_TIMEOUT_MS,
  DEFAULT_BUFFER_MAX_BYTES,
  DEFAULT_BUFFER_MAX_ROWS,
} from '../config/defaults.js';
import { QtError } from '../errors.js';
import { type Logger, silentLogger } from '../log.js';
import { Capacity } from './capacity.js';
import { corruptError, inspectBufferFile, openFailure } from './inspect.js';
import { type BufferMetrics, bufferMetrics } from './metrics.js';
import { BufferMetaSchema, migrate, readMetaRows } from './migrations.js';
import { type SeqRun, seqAt, toRuns } from './seq-runs.js';
import type { BufferedEvent, BufferedRow, BufferStats, DiskBufferOptions } from './types.js';

/**
 * Pending rows that trigger a group commit at once instead of on the next
 * setImmediate: bounds the memory and latency of one transaction.
 */
export const GROUP_COMMIT_MAX_ROWS = 4096;

/** One append() call waiting for its group commit. */
interface PendingAppend {
  readonly events: readonly BufferedEvent[];
  readonly sizes: number[];
  readonly bytes: number;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

type Statements = ReturnType<typeof prepare>;

function prepare(db: Database.Database) {
  return {
    insert: db.prepare('INSERT INTO events (topic, type, seq, body, size, created_at) VALUES (?, ?, ?, ?, ?, ?)'),
    // Rows as arrays (raw), made into objects in JS: half the time of better-sqlite3's own objects.
    oldest: db
      .prepare('SELECT id, topic, type, seq, body, created_at FROM events WHERE topic = ? ORDER BY id LIMIT ?')
      .raw(),
    windowSize: db.prepare('SELECT count(*), total(size) FROM events WHERE topic = ? AND id <= ?').raw(),
    removeThrough: db.prepare('DELETE FROM events WHERE topic = ? AND id <= ?'),
    // A window's runs in one statement, passed as one JSON array.
    insertRuns: db.prepare(
      'INSERT INTO seq_runs (topic, first_id, last_id, first_seq) SELECT ?, j.value ->> 0, j.value ->> 1, j.value ->> 2 FROM json_each(?) AS j',
    ),
    runsFrom: db
      .prepare('SELECT first_id, last_id, first_seq FROM seq_runs WHERE topic = ? AND last_id >= ? ORDER BY first_id')
      .raw(),
    removeRunsThrough: db.prepare('DELETE FROM seq_runs WHERE topic = ? AND last_id <= ?'),
    removeRuns: db.prepare('DELETE FROM seq_runs WHERE topic = ?'),
    remove: db.prepare('DELETE FROM events WHERE id IN (SELECT value FROM json_each(?)) RETURNING topic, size').raw(),
    maxSeq: db.prepare('SELECT max(seq) FROM events WHERE topic = ? AND seq IS NOT NULL').pluck(),
    // Over the rows still held: a run outlives rows remove() took from it.
    maxRunSeq: db
      .prepare(
        'SELECT max(r.first_seq + e.id - r.first_id) FROM seq_runs r JOIN events e ON e.topic = r.topic AND e.id BETWEEN r.first_id AND r.last_id WHERE r.topic = ? AND e.seq IS NULL',
      )
      .pluck(),
    oldestCreatedAt: db.prepare('SELECT created_at FROM events ORDER BY id LIMIT 1').pluck(),
    // Rows per topic from the index alone; bytes need the table (the limit is global).
    perTopic: db.prepare('SELECT topic, count(*) FROM events GROUP BY topic').raw(),
    totalBytes: db.prepare('SELECT total(size) FROM events').pluck(),
  };
}

/** The scalar settings of {@link DiskBufferOptions}, validated once at open. */
const SettingsSchema = z.object({
  synchronous: z.enum(['FULL', 'NORMAL']).default('FULL'),
  maxRows: z.number().int().positive().default(DEFAULT_BUFFER_MAX_ROWS),
  maxBytes: z.number().int().positive().default(DEFAULT_BUFFER_MAX_BYTES),
  whenFull: z.enum(['block', 'reject']).default('block'),
  blockTimeoutMs: z.number().int().nonnegative().default(DEFAULT_BUFFER_BLOCK_TIMEOUT_MS),
});
type Settings = z.infer<typeof SettingsSchema>;

function parseSettings(options: DiskBufferOptions): Settings {
  const parsed = SettingsSchema.safeParse({
    synchronous: options.synchronous,
    maxRows: options.maxRows,
    maxBytes: options.maxBytes,
    whenFull: options.whenFull,
    blockTimeoutMs: options.blockTimeoutMs,
  });
  if (parsed.success) return parsed.data;
  throw new QtError('QT_CONFIG_INVALID', `disk buffer options: ${z.prettifyError(parsed.error)}`, {
    cause: parsed.error,
  });
}

/**
 * The durable SQLite disk buffer of one producer process (docs/architecture.md §6): events
 * the publisher could not hand to Redis are parked here in append order and
 * replayed oldest-first by the drainer.
 *
 * - One process per file: the file is held with an exclusive SQLite lock
 *   for the life of the instance (a second opener gets QT_BUFFER_LOCKED);
 *   the OS drops the lock when the process dies.
 * - A file that is not a readable buffer stops open() with
 *   QT_BUFFER_CORRUPT and is never modified or deleted.
 * - Appends are group-committed and resolve only after COMMIT (WAL,
 *   `synchronous=FULL` by default), in call order, never dropped.
 */
export class DiskBuffer {
  /** Absolute path of the buffer file. */
  readonly path: string;
  /** Stable id created with the file; identifies this producer's instance in Redis across restarts. */
  readonly instanceId: string;

  private readonly db: Database.Database;
  private readonly stmts: Statements;
  private readonly capacity: Capacity;
  private readonly backlogs = new Map<string, number>();
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly metrics: BufferMetrics | undefined;
  private readonly commitGroup: (batch: readonly PendingAppend[], at: number) => void;
  private readonly deleteWindow: (topic: string, lastId: number) => [rows: number, bytes: number];
  private pending: PendingAppend[] = [];
  private pendingRows = 0;
  private flushHandle: NodeJS.Immediate | undefined;
  private appended = 0;
  private closing: Promise<void> | undefined;

  private constructor(
    path: string,
    db: Database.Database,
    instanceId: string,
    settings: Settings,
    options: DiskBufferOptions,
  ) {
    this.path = path;
    this.db = db;
    this.instanceId = instanceId;
    this.log = (options.log ?? silentLogger).child({ component: 'disk-buffer', path });
    this.now = options.now ?? Date.now;
    this.stmts = prepare(db);
    this.capacity = new Capacity(path, settings.maxRows, settings.maxBytes, settings.whenFull, settings.blockTimeoutMs);
    for (const [topic, rows] of this.stmts.perTopic.all() as [string, number][]) {
      this.backlogs.set(topic, rows);
      this.capacity.rows += rows;
    }
    this.capacity.bytes = this.stmts.totalBytes.get() as number;
    const insert = this.stmts.insert;
    this.commitGroup = db.transaction((batch: readonly PendingAppend[], at: number) => {
      for (const job of batch) {
        const { events, sizes } = job;
        for (let i = 0; i < events.length; i++) {
          const e = events[i]!;
          insert.run(e.topic, e.type, e.seq, e.body, sizes[i], at);
        }
      }
    });
    const { windowSize, removeThrough, removeRunsThrough } = this.stmts;
    this.deleteWindow = db.transaction((topic: string, lastId: number) => {
      const size = windowSize.get(topic, lastId) as [number, number];
      removeThrough.run(topic, lastId);
      removeRunsThrough.run(topic, lastId);
      return size;
    });
    this.metrics = options.registry ? bufferMetrics(options.registry) : undefined;
    this.metrics?.sources.add(this);
  }

  /**
   * Opens (or creates) the buffer file and takes its lock. Synchronous, so
   * start-up either has a usable buffer or a coded error before anything is
   * published: QT_BUFFER_LOCKED (another process holds it) or
   * QT_BUFFER_CORRUPT (not a readable buffer; the file is left untouched).
   */
  static open(options: DiskBufferOptions): DiskBuffer {
    const settings = parseSettings(options);
    const path = resolve(options.path);
    mkdirSync(dirname(path), { recursive: true });
    const state = inspectBufferFile(path);
    let db: Database.Database | undefined;
    try {
      db = new Database(path, { timeout: 0 });
      // Before the first access, so the WAL index lives in process memory
      // (no -shm) and the file lock is held until close.
      db.pragma('locking_mode = EXCLUSIVE');
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal') throw corruptError(path, `cannot switch to WAL (journal_mode is ${String(mode)})`);
      db.exec('BEGIN EXCLUSIVE; COMMIT');
      // The read-only inspection may have created a -shm; nobody else can be
      // using it now that we hold the exclusive lock.
      if (state !== 'absent') rmSync(`${path}-shm`, { force: true });
      db.pragma(`synchronous = ${settings.synchronous}`);
      // After a checkpoint, keep the WAL file from staying at its high-water mark.
      db.pragma('journal_size_limit = 67108864');
      const { from, to } = migrate(db);
      const meta = BufferMetaSchema.safeParse(readMetaRows(db));
      if (!meta.success) throw corruptError(path, `bad meta table: ${z.prettifyError(meta.error)}`);
      const buffer = new DiskBuffer(path, db, meta.data.instance_id, settings, options);
      buffer.log.info(
        { instanceId: buffer.instanceId, state, from, to, rows: buffer.capacity.rows },
        'disk buffer open',
      );
      return buffer;
    } catch (err) {
      db?.close();
      throw openFailure(path, err);
    }
  }

  /**
   * Appends events as one all-or-nothing unit. Calls made in the same turn
   * of the event loop share one transaction (flushed on setImmediate, or at
   * once past {@link GROUP_COMMIT_MAX_ROWS}); the promise resolves only after
   * COMMIT. Order across calls is call order. Rejects with QT_BUFFER_FULL
   * (policy reject, block timed out, or larger than the buffer) without
   * writing anything, and with QT_BUFFER_CLOSED after close().
   */
  append(events: readonly BufferedEvent[]): Promise<void> {
    if (this.closing) return Promise.reject(this.closedError());
    const n = events.length;
    if (n === 0) return Promise.resolve();
    const sizes = new Array<number>(n);
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const e = events[i]!;
      if (typeof e.body !== 'string' || typeof e.topic !== 'string' || typeof e.type !== 'string') {
        return Promise.reject(
          new QtError('QT_BUFFER_ROW_INVALID', 'BufferedEvent topic, type and body must be strings'),
        );
      }
      if (e.seq !== null && !Number.isSafeInteger(e.seq)) {
        return Promise.reject(new QtError('QT_BUFFER_ROW_INVALID', 'BufferedEvent seq must be an integer or null'));
      }
      const size = Buffer.byteLength(e.body) + Buffer.byteLength(e.type) + Buffer.byteLength(e.topic);
      sizes[i] = size;
      bytes += size;
    }
    return new Promise<void>((resolve, reject) => {
      const job: PendingAppend = { events, sizes, bytes, resolve, reject };
      this.capacity.request({ rows: n, bytes, admit: () => this.accept(job), fail: reject });
    });
  }

  /** Rows of `topic`: committed plus accepted-but-not-yet-committed. O(1). */
  backlog(topic: string): number {
    return this.backlogs.get(topic) ?? 0;
  }

  /** Topics with a backlog. */
  topicsWithBacklog(): string[] {
    return [...this.backlogs.keys()];
  }

  /**
   * Committed rows of `topic`, oldest first (by id), at most `limit`. A row
   * carries its seq when it was parked with one or given one by
   * {@link assignSeqs}; null otherwise.
   */
  oldest(topic: string, limit: number): BufferedRow[] {
    this.assertOpen();
    const raw = this.stmts.oldest.all(topic, limit) as [number, string, string, number | null, string, number][];
    const rows = raw.map(
      ([id, topic, type, seq, body, createdAt]): BufferedRow => ({
        id,
        topic,
        type,
        seq,
        body,
        createdAt,
      }),
    );
    if (rows.some((r) => r.seq === null)) this.applyRuns(topic, rows);
    return rows;
  }

  /**
   * Records the seqs the drainer gives rows of `topic` that have none, in
   * one transaction, marking them in doubt until removed. Stored as runs of
   * consecutive ids and seqs (`seq_runs`), one short row per run: the rows
   * themselves are not rewritten.
   */
  assignSeqs(topic: string, rows: readonly { id: number; seq: number }[]): void {
    this.assertOpen();
    if (rows.length === 0) return;
    this.stmts.insertRuns.run(topic, JSON.stringify(toRuns(rows)));
  }

  /** Fills the seq of rows (of `topic`, ascending ids) that a run covers. */
  private applyRuns(topic: string, rows: BufferedRow[]): void {
    const runs = this.stmts.runsFrom.all(topic, (rows[0] as BufferedRow).id) as SeqRun[];
    if (runs.length === 0) return;
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i] as BufferedRow;
      if (row.seq === null) rows[i] = { ...row, seq: seqAt(runs, row.id) };
    }
  }

  /**
   * Deletes rows Redis has acknowledged (one transaction), then frees their
   * room and admits blocked appends. Unknown ids are ignored, so a repeated
   * remove is harmless.
   */
  remove(ids: readonly number[]): void {
    this.assertOpen();
    if (ids.length === 0) return;
    const freed = new Map<string, number>();
    let bytes = 0;
    let rows = 0;
    for (const [topic, size] of this.stmts.remove.all(JSON.stringify(ids)) as [string, number][]) {
      rows++;
      bytes += size;
      freed.set(topic, (freed.get(topic) ?? 0) + 1);
    }
    for (const [topic, n] of freed) {
      const left = (this.backlogs.get(topic) ?? 0) - n;
      if (left > 0) this.backlogs.set(topic, left);
      else {
        this.backlogs.delete(topic);
        this.stmts.removeRuns.run(topic);
      }
    }
    this.capacity.release(rows, bytes);
  }

  /**
   * Deletes every row of `topic` up to and including id `lastId`: the
   * window `oldest(topic, n)` returned, once Redis has it all (ids only grow
   * and are never reused, so no later row is touched). One statement over
   * the topic's index, half the time of deleting the window id by id.
   */
  removeThrough(topic: string, lastId: number): void {
    this.assertOpen();
    const [rows, bytes] = this.deleteWindow(topic, lastId);
    if (rows === 0) return;
    const left = (this.backlogs.get(topic) ?? 0) - rows;
    if (left > 0) this.backlogs.set(topic, left);
    else this.backlogs.delete(topic);
    this.capacity.release(rows, bytes);
  }

  /** Highest seq among the rows of `topic` (parked with one, or assigned), or undefined. */
  maxSeq(topic: string): number | undefined {
    this.assertOpen();
    const own = this.stmts.maxSeq.get(topic) as number | null;
    const assigned = this.stmts.maxRunSeq.get(topic) as number | null;
    if (own === null && assigned === null) return undefined;
    return Math.max(own ?? Number.NEGATIVE_INFINITY, assigned ?? Number.NEGATIVE_INFINITY);
  }

  /** Rows and bytes held (committed or accepted), age of the oldest committed row, rows committed since open. */
  stats(): BufferStats {
    this.assertOpen();
    return { ...this.gaugeValues(), appended: this.appended };
  }

  /** @internal The gauge values, read by the metrics' collect(). */
  gaugeValues(): { rows: number; bytes: number; oldestAgeMs: number | undefined } {
    const oldest = this.stmts.oldestCreatedAt.get() as number | undefined;
    return {
      rows: this.capacity.rows,
      bytes: this.capacity.bytes,
      oldestAgeMs: oldest === undefined ? undefined : Math.max(0, this.now() - oldest),
    };
  }

  /**
   * Commits accepted appends, fails blocked ones with QT_BUFFER_CLOSED,
   * then closes the file (checkpointing the WAL) and releases the lock.
   * Idempotent: returns the same promise.
   */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = new Promise<void>((resolve) => {
      this.capacity.failWaiters(this.closedError());
      this.flush();
      this.metrics?.sources.delete(this);
      this.db.close();
      this.log.info({ appended: this.appended, rows: this.capacity.rows }, 'disk buffer closed');
      resolve();
    });
    return this.closing;
  }

  private accept(job: PendingAppend): void {
    for (const e of job.events) this.backlogs.set(e.topic, (this.backlogs.get(e.topic) ?? 0) + 1);
    this.pending.push(job);
    this.pendingRows += job.events.length;
    if (this.pendingRows >= GROUP_COMMIT_MAX_ROWS) this.flush();
    else this.flushHandle ??= setImmediate(() => this.flush());
  }

  /** Writes every pending append in one transaction, then settles their promises. */
  private flush(): void {
    if (this.flushHandle) clearImmediate(this.flushHandle);
    this.flushHandle = undefined;
    const batch = this.pending;
    const rows = this.pendingRows;
    if (batch.length === 0) return;
    this.pending = [];
    this.pendingRows = 0;
    try {
      this.commitGroup(batch, this.now());
    } catch (err) {
      this.log.error({ err, rows, calls: batch.length }, 'disk buffer group commit failed; appends rejected');
      this.rollBack(batch, rows);
      for (const job of batch) job.reject(err as Error);
      return;
    }
    this.appended += rows;
    this.metrics?.appends.inc(rows);
    for (const job of batch) job.resolve();
  }

  /** Undoes the in-memory accounting of appends whose transaction failed. */
  private rollBack(batch: readonly PendingAppend[], rows: number): void {
    let bytes = 0;
    for (const job of batch) {
      bytes += job.bytes;
      for (const e of job.events) {
        const left = (this.backlogs.get(e.topic) ?? 0) - 1;
        if (left > 0) this.backlogs.set(e.topic, left);
        else this.backlogs.delete(e.topic);
      }
    }
    this.capacity.release(rows, bytes);
  }

  private assertOpen(): void {
    if (this.closing) throw this.closedError();
  }

  private closedError(): QtError {
    return new QtError('QT_BUFFER_CLOSED', `disk buffer ${this.path} is closed`, { details: { path: this.path } });
  }
}
