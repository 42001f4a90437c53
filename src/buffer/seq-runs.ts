import type { Database } from 'better-sqlite3';
import { QtError } from '../errors.js';

/**
 * Seqs the drainer assigned to parked rows, as stored in `seq_runs`: the
 * row of the run's topic with id `firstId + k` has seq `firstSeq + k`, for
 * `k` up to `lastId - firstId`. A run only spans consecutive ids of one
 * topic, so a window of rows parked together is one run.
 */
export type SeqRun = readonly [firstId: number, lastId: number, firstSeq: number];

/** The runs of id/seq pairs, ordered by id; consecutive ids with consecutive seqs share a run. */
export function toRuns(assignments: readonly { id: number; seq: number }[]): SeqRun[] {
  const sorted = [...assignments].sort((a, b) => a.id - b.id);
  const runs: [number, number, number][] = [];
  let run: [number, number, number] | undefined;
  for (const { id, seq } of sorted) {
    if (!Number.isSafeInteger(id) || !Number.isSafeInteger(seq)) {
      throw new QtError('QT_BUFFER_ROW_INVALID', 'assigned ids and seqs must be integers');
    }
    if (run && id === run[1] + 1 && seq === run[2] + (id - run[0])) run[1] = id;
    else {
      run = [id, id, seq];
      runs.push(run);
    }
  }
  return runs;
}

/** The seq `runs` (ordered by first id, not overlapping) give row `id`, or null. */
export function seqAt(runs: readonly SeqRun[], id: number): number | null {
  let lo = 0;
  let hi = runs.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [first, last, seq] = runs[mid] as SeqRun;
    if (id < first) hi = mid - 1;
    else if (id > last) lo = mid + 1;
    else return seq + (id - first);
  }
  return null;
}

/** Whether the file has the `seq_runs` table (schema 2 on). */
export function hasSeqRuns(db: Database): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'seq_runs'").get() !== undefined;
}

/**
 * Every run of a buffer file by topic, for readers of a copy (export,
 * summary). Undefined for a file written before runs existed (schema 1):
 * its assigned seqs are in the rows themselves.
 */
export function readRuns(db: Database): Map<string, SeqRun[]> | undefined {
  if (!hasSeqRuns(db)) return undefined;
  const byTopic = new Map<string, SeqRun[]>();
  const rows = db.prepare('SELECT topic, first_id, last_id, first_seq FROM seq_runs ORDER BY topic, first_id').raw();
  for (const [topic, first, last, seq] of rows.iterate() as Iterable<[string, number, number, number]>) {
    const runs = byTopic.get(topic) ?? [];
    runs.push([first, last, seq]);
    byTopic.set(topic, runs);
  }
  return byTopic;
}
