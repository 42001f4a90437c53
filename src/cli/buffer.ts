/**
 * `qt buffer status|export`: the disk buffer files of the producers on this
 * host (docs/cli.md, "qt buffer"), one per producer id under
 * `QT_DATA_DIR/buffer/` (src/streams/event-bus.ts `bufferPath`). Both read a
 * copy of each file (src/buffer/export.ts `readCopy`), never the file
 * itself: a running `main` holding it is neither blocked nor refused, and a
 * file `main` refuses as corrupt is left exactly as it is.
 */
import { closeSync, existsSync, openSync, readdirSync, statSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { z } from 'zod';
import { exportBuffer, summarizeBuffer } from '../buffer/export.js';
import { isQtError } from '../errors.js';
import { KEY_PART_PATTERN } from '../events/names.js';
import { bufferPath } from '../streams/event-bus.js';
import type { CliContext } from './context.js';
import { CliError, EXIT } from './exit-codes.js';
import { type Column, formatDuration, printJson, renderTable } from './output.js';

const TopicStatusSchema = z.object({
  topic: z.string(),
  rows: z.number().int().nonnegative(),
  bytes: z.number().nonnegative(),
  inDoubt: z.number().int().nonnegative(),
  oldestAgeMs: z.number().nonnegative().nullable(),
});

/** `qt buffer status --json` (docs/cli.md). */
export const BufferStatusOutputSchema = z.object({
  /** The buffer directory (`QT_DATA_DIR/buffer`, or `--data-dir`). */
  dir: z.string(),
  files: z.array(
    z.object({
      file: z.string(),
      /** The producer id the file belongs to (its name), when it follows the path rule. */
      producer: z.string().nullable(),
      /** `ok`: a readable buffer; `corrupt`: `main` would refuse it (QT_BUFFER_CORRUPT); `unreadable`: not even copied. */
      state: z.enum(['ok', 'corrupt', 'unreadable']),
      problem: z.string().nullable(),
      /** Size of the file and its `-wal` on disk. */
      diskBytes: z.number().int().nonnegative(),
      rows: z.number().int().nonnegative().nullable(),
      /** Bytes as counted for QT_BUFFER_MAX_BYTES. */
      bytes: z.number().nonnegative().nullable(),
      /** Rows sent once with an unknown outcome (they carry a seq; the drainer's replay checks them). */
      inDoubt: z.number().int().nonnegative().nullable(),
      oldestAgeMs: z.number().nonnegative().nullable(),
      instanceId: z.string().nullable(),
      topics: z.array(TopicStatusSchema),
    }),
  ),
});
/** `qt buffer status --json`. */
export type BufferStatusOutput = z.infer<typeof BufferStatusOutputSchema>;
type FileStatus = BufferStatusOutput['files'][number];

/** `qt buffer export --json`: what was exported (on stdout with `--out`, else on stderr after the rows). */
export const BufferExportOutputSchema = z.object({
  file: z.string(),
  /** Where the rows went; null for stdout. */
  out: z.string().nullable(),
  exported: z.number().int().nonnegative(),
  /** What could not be read (empty for a healthy file). */
  errors: z.array(z.string()),
});

interface FileOptions {
  readonly dataDir?: string;
  readonly producer?: string;
}

/** The buffer directory: `--data-dir` or QT_DATA_DIR, then `buffer/`, by the path rule of `bufferPath`. */
function bufferDir(ctx: CliContext, options: FileOptions): string {
  return resolve(join(options.dataDir ?? ctx.config.dataDir, 'buffer'));
}

/** The files a command is about: FILE, else `--producer`'s file, else every `*.sqlite` of the buffer directory. */
function bufferFiles(ctx: CliContext, file: string | undefined, options: FileOptions): string[] {
  if (file !== undefined && options.producer !== undefined) {
    throw new CliError(EXIT.USAGE, 'give a FILE or --producer, not both');
  }
  if (file !== undefined) return [resolve(file)];
  if (options.producer !== undefined) {
    if (!KEY_PART_PATTERN.test(options.producer)) {
      throw new CliError(EXIT.USAGE, `"${options.producer}" is not a producer id (letters, digits, _ . - only)`);
    }
    const config = { ...ctx.config, dataDir: options.dataDir ?? ctx.config.dataDir };
    return [resolve(bufferPath(config, options.producer))];
  }
  const dir = bufferDir(ctx, options);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith('.sqlite'))
    .sort()
    .map((name) => join(dir, name));
}

function diskBytes(file: string): number {
  let total = 0;
  for (const path of [file, `${file}-wal`]) {
    try {
      total += statSync(path).size;
    } catch {
      // no such file: nothing on disk
    }
  }
  return total;
}

/** One file's status; a file that is not a readable buffer says why instead of failing the command. */
export function fileStatus(file: string, now = Date.now()): FileStatus {
  const name = file.split('/').at(-1) ?? file;
  const producer = name.endsWith('.sqlite') && KEY_PART_PATTERN.test(name.slice(0, -7)) ? name.slice(0, -7) : null;
  const base = { file, producer, diskBytes: diskBytes(file) };
  const age = (createdAt: number | null) => (createdAt === null ? null : Math.max(0, now - createdAt));
  try {
    const s = summarizeBuffer(file);
    return {
      ...base,
      state: 'ok',
      problem: null,
      rows: s.rows,
      bytes: s.bytes,
      inDoubt: s.inDoubt,
      oldestAgeMs: age(s.oldestCreatedAt),
      instanceId: s.instanceId,
      topics: s.topics.map((t) => ({
        topic: t.topic,
        rows: t.rows,
        bytes: t.bytes,
        inDoubt: t.inDoubt,
        oldestAgeMs: age(t.oldestCreatedAt),
      })),
    };
  } catch (err) {
    const corrupt = isQtError(err, 'QT_BUFFER_CORRUPT');
    return {
      ...base,
      state: corrupt ? 'corrupt' : 'unreadable',
      problem: corrupt ? String(err.details?.problem ?? err.message) : (err as Error).message,
      rows: null,
      bytes: null,
      inDoubt: null,
      oldestAgeMs: null,
      instanceId: null,
      topics: [],
    };
  }
}

/** A table row: a file's total (topic `*`), or one of its topics. */
interface StatusRow {
  readonly file: string;
  readonly topic: string;
  readonly rows: number | null;
  readonly inDoubt: number | null;
  readonly bytes: number | null;
  readonly oldestAgeMs: number | null;
  readonly state: string;
}

const kib = (bytes: number | null) => (bytes === null ? null : `${Math.ceil(bytes / 1024)} KiB`);

const STATUS_COLUMNS: Column<StatusRow>[] = [
  { header: 'FILE', value: (r) => r.file, flexible: true },
  { header: 'TOPIC', value: (r) => r.topic },
  { header: 'ROWS', value: (r) => r.rows, right: true },
  { header: 'IN DOUBT', value: (r) => r.inDoubt, right: true },
  { header: 'BYTES', value: (r) => kib(r.bytes), right: true },
  { header: 'OLDEST', value: (r) => formatDuration(r.oldestAgeMs), right: true },
  { header: 'STATE', value: (r) => r.state, flexible: true },
];

function statusRows(files: readonly FileStatus[]): StatusRow[] {
  return files.flatMap((f) => [
    {
      file: f.producer ?? f.file,
      topic: '*',
      rows: f.rows,
      inDoubt: f.inDoubt,
      bytes: f.bytes,
      oldestAgeMs: f.oldestAgeMs,
      state: f.state === 'ok' ? `ok (${kib(f.diskBytes)} on disk)` : `${f.state}: ${f.problem}`,
    },
    ...f.topics.map((t) => ({ file: f.producer ?? f.file, ...t, state: '' })),
  ]);
}

/** Writes export lines to a file, or to stdout. */
function lineWriter(ctx: CliContext, out: string | undefined): { write(line: string): void; close(): void } {
  if (out === undefined) {
    // A reader that stops early (`| head`) closes the pipe: the rest is simply not wanted.
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
    });
    return { write: (line) => ctx.output.out(line), close: () => undefined };
  }
  let fd: number;
  try {
    fd = openSync(out, 'w');
  } catch (err) {
    throw new CliError(EXIT.USAGE, `cannot write --out ${out}: ${(err as Error).message}`);
  }
  return {
    write: (line) => {
      writeSync(fd, `${line}\n`);
    },
    close: () => closeSync(fd),
  };
}

/** `qt buffer status` and `qt buffer export`. */
export function registerBuffer(program: Command, context: () => CliContext): void {
  const buffer = program
    .command('buffer')
    .description(
      'the disk buffers under QT_DATA_DIR/buffer: status, and export of what is readable (also while main holds them)',
    );
  buffer
    .command('status')
    .description('per buffer file: rows, bytes, oldest row age, in-doubt rows, per topic')
    .argument('[file]', 'one buffer file (default: every *.sqlite in the buffer directory)')
    .option('--data-dir <dir>', 'the data directory (default QT_DATA_DIR)')
    .option('--producer <id>', "the producer's file: <data-dir>/buffer/<id>.sqlite")
    .action((file: string | undefined, options: FileOptions) => {
      const ctx = context();
      const files = bufferFiles(ctx, file, options);
      for (const f of files) {
        if (!existsSync(f)) throw new CliError(EXIT.NOT_FOUND, `no buffer file ${f}`);
      }
      const output: BufferStatusOutput = { dir: bufferDir(ctx, options), files: files.map((f) => fileStatus(f)) };
      if (ctx.output.json) printJson(ctx.output, BufferStatusOutputSchema, output);
      else if (files.length === 0) ctx.output.out(`no buffer files in ${output.dir}`);
      else ctx.output.out(renderTable(ctx.output, STATUS_COLUMNS, statusRows(output.files)));
      const bad = output.files.filter((f) => f.state !== 'ok');
      if (bad.length > 0) {
        ctx.output.err(
          `qt: ${bad.length} buffer file(s) not readable as a buffer; first: ${bad[0]?.file}: ${bad[0]?.problem}`,
        );
        process.exitCode = EXIT.REFUSED;
      }
    });
  buffer
    .command('export')
    .description(
      'every readable row of a buffer file as JSON lines, oldest first (also a corrupt file, also one in use)',
    )
    .argument('[file]', 'the buffer file (default: the only one in the buffer directory)')
    .option('--data-dir <dir>', 'the data directory (default QT_DATA_DIR)')
    .option('--producer <id>', "the producer's file: <data-dir>/buffer/<id>.sqlite")
    .option('--out <file>', 'write the rows there (default: stdout)')
    .action((file: string | undefined, options: FileOptions & { out?: string }) => {
      const ctx = context();
      const files = bufferFiles(ctx, file, options);
      if (files.length === 0) throw new CliError(EXIT.NOT_FOUND, `no buffer files in ${bufferDir(ctx, options)}`);
      if (files.length > 1) {
        throw new CliError(
          EXIT.USAGE,
          `${files.length} buffer files in ${bufferDir(ctx, options)}; name one (FILE or --producer): ${files.map((f) => f.split('/').at(-1)).join(', ')}`,
        );
      }
      const source = files[0] as string;
      if (!existsSync(source)) throw new CliError(EXIT.NOT_FOUND, `no buffer file ${source}`);
      const out = options.out === undefined ? undefined : resolve(options.out);
      if (out !== undefined && [source, `${source}-wal`, `${source}-shm`].includes(out)) {
        throw new CliError(EXIT.USAGE, `--out ${out} is the buffer file itself`);
      }
      const writer = lineWriter(ctx, out);
      let result: ReturnType<typeof exportBuffer>;
      try {
        result = exportBuffer(source, (line) => writer.write(line));
      } finally {
        writer.close();
      }
      const summary = { file: source, out: out ?? null, exported: result.exported, errors: result.errors };
      // With the rows on stdout, the summary goes to stderr so the rows stay a clean JSON-lines stream.
      const report =
        out === undefined ? (text: string) => ctx.output.err(text) : (text: string) => ctx.output.out(text);
      if (ctx.output.json) report(JSON.stringify(BufferExportOutputSchema.parse(summary), null, 2));
      else {
        report(`exported ${result.exported} rows from ${source}${out ? ` to ${out}` : ''}`);
        for (const e of result.errors) ctx.output.err(`qt: ${e}`);
      }
      if (result.errors.length > 0) process.exitCode = EXIT.REFUSED;
    });
}
