/**
 * The optional log file (docs/configuration.md, "Logs"): `QT_LOG_FILE` turns
 * it on, `QT_LOG_FILE_SIZE` is the size at which the file is rotated and
 * `QT_LOG_FILE_COUNT` how many files are kept, the current one included.
 * Declared here, spread into the schema; {@link logFileConfig} turns the
 * parsed variables into the `log.file` part of the Config.
 */
import { z } from 'zod';

/** Default size at which the log file is rotated. */
export const DEFAULT_LOG_FILE_SIZE = '10m';
/** Default number of log files kept, the current one included. */
export const DEFAULT_LOG_FILE_COUNT = 10;

const UNIT_BYTES = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 } as const;

/** The environment variables of the log file. */
export const LOG_FILE_ENV = {
  // pino-roll refuses these characters in a path (and ':' outside a Windows drive letter).
  QT_LOG_FILE: z
    .string()
    .regex(/^[^<>"|?*:\0]+$/, 'must be a file path without < > " | ? * :')
    .refine((p) => !p.endsWith('/'), 'must name a file, not a directory')
    .optional(),
  QT_LOG_FILE_SIZE: z
    .string()
    .regex(/^[1-9][0-9]*[kmg]$/i, 'must be a size like 512k, 10m or 1g')
    .default(DEFAULT_LOG_FILE_SIZE),
  QT_LOG_FILE_COUNT: z.coerce.number().int().min(2).max(1_000).default(DEFAULT_LOG_FILE_COUNT),
};

/** Where the log file goes and how it rotates. */
export interface LogFileConfig {
  /** QT_LOG_FILE: the base path; rotated files are numbered before the extension (qt.1.log, qt.2.log, …). */
  readonly path: string;
  /** QT_LOG_FILE_SIZE in bytes. */
  readonly maxBytes: number;
  /** QT_LOG_FILE_COUNT: files kept, the current one included. */
  readonly count: number;
}

/** The log file settings, or undefined when QT_LOG_FILE is not set (SIZE and COUNT then do nothing). */
export function logFileConfig(e: {
  readonly QT_LOG_FILE?: string | undefined;
  readonly QT_LOG_FILE_SIZE: string;
  readonly QT_LOG_FILE_COUNT: number;
}): LogFileConfig | undefined {
  if (e.QT_LOG_FILE === undefined) return undefined;
  const size = e.QT_LOG_FILE_SIZE.toLowerCase();
  const unit = size.slice(-1) as keyof typeof UNIT_BYTES;
  return { path: e.QT_LOG_FILE, maxBytes: Number(size.slice(0, -1)) * UNIT_BYTES[unit], count: e.QT_LOG_FILE_COUNT };
}
