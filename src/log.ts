import { type Logger, pino } from 'pino';
import { currentCorrelationId } from './correlation.js';

/**
 * Paths whose values are secrets. pino replaces them before a line is
 * written, so a logged config, request or error cannot leak them.
 */
export const REDACT_PATHS = [
  'password',
  '*.password',
  'secret',
  '*.secret',
  'apiKey',
  '*.apiKey',
  'apiSecret',
  '*.apiSecret',
  'token',
  '*.token',
  'adminToken',
  '*.adminToken',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  // Redis URLs carry ACL passwords: a logged config must not leak them.
  'redis.url',
  '*.redis.url',
];

export type { Logger };

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  readonly level?: string;
  /** Where lines go instead of stdout (tests). */
  readonly destination?: NodeJS.WritableStream;
  /** Pretty output for people; defaults to true when stdout is a TTY. */
  readonly pretty?: boolean | undefined;
  readonly name?: string;
}

/**
 * The fields every line gets from the work in hand: `correlationId` while a
 * request or an event is being handled, nothing otherwise. pino assigns the
 * line's own fields onto the returned object, so it must be a new one each
 * time; and a line that names a `correlationId` itself keeps its own.
 */
function correlationMixin(): { correlationId?: string } {
  const correlationId = currentCorrelationId();
  return correlationId === undefined ? {} : { correlationId };
}

/**
 * Creates the process logger: JSON lines to stdout, secrets redacted, and
 * the current correlation id on every line (child loggers inherit it).
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const pretty = options.destination === undefined && (options.pretty ?? process.stdout.isTTY === true);
  const settings = {
    level: options.level ?? 'info',
    ...(options.name ? { name: options.name } : {}),
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    // Runs in this thread when the line is made, before any transport: the pretty worker gets it too.
    mixin: correlationMixin,
    ...(pretty ? { transport: { target: 'pino-pretty', options: { colorize: true } } } : {}),
  };
  return options.destination ? pino(settings, options.destination) : pino(settings);
}

/** A logger that writes nothing, for tests and library defaults. */
export const silentLogger: Logger = pino({ level: 'silent' });

/** A URL with its password replaced, safe to log (Redis URLs carry ACL passwords). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = 'redacted';
    return u.toString();
  } catch {
    return '[unparseable url]';
  }
}
