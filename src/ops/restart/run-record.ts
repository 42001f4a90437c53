/**
 * The record of a restart run, kept in Redis (`qt:projection:{restart}`)
 * after every step: the plan, the next step to run, the state captured
 * before the stop, the report lines so far. A run whose orchestrator died
 * is resumed from it by the next `qt restart --execute` that gets the lock.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../../streams/keys.js';
import type { CapturedState } from './state-capture.js';

/** One line of the report: a step and how it went. */
export interface StepLine {
  readonly step: string;
  readonly status: 'done' | 'failed' | 'skipped';
  readonly at: string;
  readonly durationMs: number;
  readonly detail: string;
}

/** A run, as persisted. */
export interface RunRecord {
  readonly runId: string;
  readonly operator: string;
  readonly reason: string;
  readonly status: 'running' | 'done' | 'failed';
  readonly startedAt: string;
  readonly steps: readonly string[];
  /** Index of the next step to run (a step that was running when the orchestrator died runs again). */
  readonly next: number;
  readonly captured: CapturedState;
  readonly lines: readonly StepLine[];
  /** Services stopped by this run and not started again. */
  readonly stopped: readonly string[];
  readonly failure?: { readonly step: string; readonly error: string };
  /** How many times an orchestrator took this run over after another died. */
  readonly resumes: number;
}

/** The projection name of the record. */
export const RESTART_PROJECTION = 'restart';

/** Reads the last run's record; null when there is none (or it cannot be read: a new run starts). */
export async function loadRunRecord(redis: Redis, keys: Keys): Promise<RunRecord | null> {
  const raw = await redis.get(keys.projection(RESTART_PROJECTION));
  if (raw === null) return null;
  try {
    const record = JSON.parse(raw) as RunRecord;
    return typeof record.runId === 'string' && Array.isArray(record.steps) ? record : null;
  } catch {
    return null;
  }
}

/** Writes the record (one SET). */
export async function saveRunRecord(redis: Redis, keys: Keys, record: RunRecord): Promise<void> {
  await redis.set(keys.projection(RESTART_PROJECTION), JSON.stringify(record));
}
