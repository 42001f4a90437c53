/**
 * The process logger: pino JSON lines to stdout (one pretty line per record
 * on a TTY), secrets redacted, the correlation id on every line, and an
 * optional log file rotated by size (pino-roll; docs/operations.md, "Logs").
 */
import { type Logger, pino } from 'pino';
import { prettyFactory } from 'pino-pretty';
import openRollingFile, { type RollStream } from 'pino-roll';
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
  'webhookUrl',
  '*.webhookUrl',
  'databaseUrl',
  '*.databaseUrl',
  'migrationUrl',
  '*.migrationUrl',
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
  /** A log file ({@link openLogFile}) that gets every line too, as JSON, whatever goes to stdout. */
  readonly file?: LogFile | undefined;
}

/** Where and how the log file rotates: the part of the config {@link openLogFile} needs. */
export interface LogFileOptions {
  /** Base path: the files are numbered before the extension (`qt.log` → `qt.1.log`, `qt.2.log`, …). */
  readonly path: string;
  /** A file that reaches this size is closed and the next number opened. */
  readonly maxBytes: number;
  /** Files kept, the current one included; older ones are deleted at a rotation. */
  readonly count: number;
}

/** An open log file. */
export type LogFile = RollStream;

/**
 * Opens the log file with size-based rotation (pino-roll). Lines are
 * written synchronously, so every line logged is in the file when the call
 * returns: nothing is lost at exit, even a SIGKILL's. Numbering goes on from
 * the highest number in the directory, so a restart appends to the latest
 * file. A write error later (disk full) is reported once on stderr; stdout
 * logging goes on. Rejects when the file cannot be opened.
 */
export async function openLogFile(options: LogFileOptions): Promise<LogFile> {
  const file = await openRollingFile({
    file: options.path,
    size: `${options.maxBytes}b`,
    // removeOtherLogFiles: files of earlier runs count too, so the directory never holds more than `count`.
    limit: { count: options.count, removeOtherLogFiles: true },
    mkdir: true,
    sync: true,
  });
  let reported = false;
  file.on('error', (err: Error) => {
    if (reported) return;
    reported = true;
    process.stderr.write(`log file ${options.path}: ${err.message} (logging to stdout only from now on)\n`);
  });
  return file;
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

/** Keys every pino record has; the pretty line shows them in its head, not among the fields. */
const RECORD_KEYS = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg']);
/** Keys whose object value is a serialized error: shown without its stack, which spans many lines. */
const ERROR_KEYS = new Set(['err', 'error']);

/** `text` with control characters escaped, so it stays on one line and cannot drive the terminal. */
function oneLineText(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: these are exactly what must not reach the terminal raw
  return text.replace(/[\u0000-\u001f\u007f]/g, (c) =>
    c === '\n' ? '\\n' : c === '\t' ? '\\t' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

function fieldText(key: string, value: unknown): string {
  if (ERROR_KEYS.has(key) && typeof value === 'object' && value !== null && 'stack' in value) {
    const { stack, ...rest } = value as Record<string, unknown>;
    // The first frame says where; the whole stack is in the JSON lines.
    const at = typeof stack === 'string' ? /^\s*at (.+)$/m.exec(stack)?.[1] : undefined;
    return JSON.stringify(at === undefined ? rest : { ...rest, at });
  }
  return JSON.stringify(value) ?? String(value);
}

/**
 * The pretty message of one record, always one line: the message, then the
 * record's fields as `{key: value, ...}` (correlationId first). A record with
 * an `event` field is an event line whose message already says what its
 * fields hold: it shows the message and its correlationId only.
 */
function prettyMessage(
  log: Record<string, unknown>,
  messageKey: string,
  _levelLabel: string,
  extras: { colors: { gray: (s: string) => string } },
): string {
  const msg = oneLineText(String(log[messageKey] ?? ''));
  const keys = Object.keys(log).filter(
    (k) => k !== messageKey && !RECORD_KEYS.has(k) && (k === 'correlationId' || !('event' in log)),
  );
  keys.sort((a, b) => Number(b === 'correlationId') - Number(a === 'correlationId'));
  if (keys.length === 0) return msg;
  const fields = keys.map((k) => `${k}: ${oneLineText(fieldText(k, log[k]))}`).join(', ');
  return `${msg} ${extras.colors.gray(`{${fields}}`)}`;
}

/**
 * Where pretty lines go. pino-pretty runs in this thread, not as a worker
 * transport: a function `messageFormat` cannot be handed to a worker. Each
 * record is written to stdout at once, so nothing is lost at exit.
 */
function prettyDestination(): { write(line: string): void } {
  const prettify = prettyFactory({
    colorize: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
    // The fields are in the message (prettyMessage): one line per record, never an indented field list.
    hideObject: true,
    messageFormat: prettyMessage as never,
  });
  return {
    write(line) {
      const text = prettify(line);
      if (text) process.stdout.write(text);
    },
  };
}

/**
 * Creates the process logger: JSON lines to stdout, secrets redacted, and
 * the current correlation id on every line (child loggers inherit it). When
 * pretty (a TTY by default), each record is one human line instead: the
 * message, then its fields on the same line; see {@link LoggerOptions.pretty}.
 * With a {@link LoggerOptions.file}, every line also goes to the file as JSON.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const pretty = options.destination === undefined && (options.pretty ?? process.stdout.isTTY === true);
  const settings = {
    level: options.level ?? 'info',
    ...(options.name ? { name: options.name } : {}),
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    // Runs when the line is made, before any destination: the pretty output gets it too.
    mixin: correlationMixin,
  };
  if (options.file) {
    const out = options.destination ?? (pretty ? prettyDestination() : pino.destination(process.stdout.fd));
    // Redaction and the mixin run once, before the line is handed to both streams.
    return pino(
      settings,
      pino.multistream([
        { level: 'trace', stream: out },
        { level: 'trace', stream: options.file },
      ]),
    );
  }
  if (options.destination) return pino(settings, options.destination);
  return pretty ? pino(settings, prettyDestination()) : pino(settings);
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
