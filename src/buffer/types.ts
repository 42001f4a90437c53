import type { Registry } from 'prom-client';
import type { Logger } from '../log.js';

/** What the publisher parks in the buffer. */
export interface BufferedEvent {
  readonly topic: string;
  readonly type: string;
  /** Seq already assigned (the event was sent to Redis with an unknown outcome), else null. */
  readonly seq: number | null;
  /** The envelope JSON WITHOUT its seq field (seq is composed in at send time). */
  readonly body: string;
}

/** A committed row of the buffer: the event plus its place in the append order. */
export interface BufferedRow extends BufferedEvent {
  /** SQLite rowid: the global append order. Never reused, even after the table empties. */
  readonly id: number;
  /** Epoch ms of the group commit that stored the row. */
  readonly createdAt: number;
}

/** What to do with an append that does not fit. */
export type WhenFull = 'block' | 'reject';

/** Settings of {@link DiskBuffer.open}. */
export interface DiskBufferOptions {
  /** The buffer file; parent directories are created. */
  readonly path: string;
  /** SQLite `synchronous`; FULL (the default) fsyncs the WAL at every commit. */
  readonly synchronous?: 'FULL' | 'NORMAL';
  /** Row limit; default {@link DEFAULT_BUFFER_MAX_ROWS}. */
  readonly maxRows?: number;
  /** Byte limit (UTF-8 bytes of topic + type + body); default {@link DEFAULT_BUFFER_MAX_BYTES}. */
  readonly maxBytes?: number;
  /** Policy when full; default `block`. */
  readonly whenFull?: WhenFull;
  /** Longest wait of a blocked append; default {@link DEFAULT_BUFFER_BLOCK_TIMEOUT_MS}. */
  readonly blockTimeoutMs?: number;
  readonly log?: Logger;
  /** Where the buffer metrics are registered; none when omitted. */
  readonly registry?: Registry;
  /** Clock in epoch ms, injectable so tests control `createdAt` and ages. */
  readonly now?: () => number;
}

/** A point-in-time summary of a buffer. */
export interface BufferStats {
  /** Rows committed or accepted for the next group commit. */
  readonly rows: number;
  /** Bytes (as counted for the limit) of those rows. */
  readonly bytes: number;
  /** Age of the oldest committed row, or undefined when none is committed. */
  readonly oldestAgeMs: number | undefined;
  /** Rows committed by this instance since open. */
  readonly appended: number;
}
