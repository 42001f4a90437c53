import pc from 'picocolors';
import { table } from 'table';
import type { z } from 'zod';

/** Where a command writes: stdout/stderr, the terminal width, and whether colour is allowed. */
export interface Output {
  readonly json: boolean;
  /** Columns available for a table (the terminal's, else 120). */
  readonly width: number;
  readonly color: boolean;
  out(text: string): void;
  err(text: string): void;
}

let pipeWatched = false;

/** The real process streams: colour and width only on a TTY (and never with NO_COLOR). */
export function processOutput(json: boolean): Output {
  if (!pipeWatched) {
    pipeWatched = true;
    // A reader that went away (`qt tail --follow | head`) ends the output; it is not a crash.
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
      process.exit(Number(process.exitCode ?? 0));
    });
  }
  const tty = process.stdout.isTTY === true;
  return {
    json,
    width: Number(process.env.QT_CLI_WIDTH) || (tty ? process.stdout.columns : 0) || 120,
    color: tty && !json && process.env.NO_COLOR === undefined,
    out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
    err: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
  };
}

/** A table column: its header and how a row shows in it. */
export interface Column<R> {
  readonly header: string;
  readonly value: (row: R) => string | number | undefined | null;
  /** Right-align (numbers). */
  readonly right?: boolean;
  /** Cut this column first when the table is too wide. */
  readonly flexible?: boolean;
  /** A set width instead of the content's (longer text wraps), so tables printed batch by batch line up. */
  readonly width?: number;
}

/** Options of {@link renderTable}. */
export interface TableOptions {
  /** Print the header row (default true); false for the later batches of a followed table. */
  readonly header?: boolean;
}

/**
 * Renders rows as a table that fits `output.width`: columns marked
 * `flexible` are narrowed (their text wrapped) until it does. Headers are
 * bold on a colour terminal.
 */
export function renderTable<R>(
  output: Output,
  columns: readonly Column<R>[],
  rows: readonly R[],
  options: TableOptions = {},
): string {
  const cells = rows.map((r) => columns.map((c) => cellText(c.value(r))));
  const headers = columns.map((c) => (output.color ? pc.bold(c.header) : c.header));
  const natural = columns.map(
    (c, i) => c.width ?? Math.max(c.header.length, ...cells.map((row) => (row[i] ?? '').length), 1),
  );
  const widths = fitWidths(
    natural,
    columns.map((c) => c.flexible === true),
    output.width,
  );
  const body = options.header === false ? cells : [headers, ...cells];
  if (body.length === 0) return '';
  return table(body, {
    border: borderless,
    drawHorizontalLine: () => false,
    columnDefault: { paddingLeft: 0, paddingRight: 2 },
    columns: columns.map((c, i) => ({
      width: widths[i] as number,
      wrapWord: true,
      alignment: c.right ? ('right' as const) : ('left' as const),
    })),
  });
}

/** Prints `value` as JSON after checking it against the command's documented schema. */
export function printJson<S extends z.ZodType>(output: Output, schema: S, value: z.input<S>): void {
  output.out(JSON.stringify(schema.parse(value), null, 2));
}

/** Prints `value` as one line of JSON (for NDJSON output) after checking it against the command's documented schema. */
export function printJsonLine<S extends z.ZodType>(output: Output, schema: S, value: z.input<S>): void {
  output.out(JSON.stringify(schema.parse(value)));
}

/** A duration for people: 850ms, 12s, 12m 30s, 3h 5m, 2d 4h. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '-';
  if (ms < 1_000) return `${Math.max(0, Math.round(ms))}ms`;
  const s = Math.floor(ms / 1_000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m}m ${s % 60}s` : `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h}h ${m % 60}m` : `${h}h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d}d ${h % 24}h` : `${d}d`;
}

function cellText(v: string | number | undefined | null): string {
  if (v === undefined || v === null || v === '') return '-';
  return String(v);
}

/** Column widths within `total`: the natural ones, flexible columns shrunk (down to 8) as needed. */
function fitWidths(natural: readonly number[], flexible: readonly boolean[], total: number): number[] {
  const widths = [...natural];
  const padding = 2 * widths.length;
  let excess = widths.reduce((a, b) => a + b, 0) + padding - total;
  while (excess > 0) {
    let widest = -1;
    for (let i = 0; i < widths.length; i++) {
      if (
        flexible[i] &&
        (widths[i] as number) > 8 &&
        (widest < 0 || (widths[i] as number) > (widths[widest] as number))
      ) {
        widest = i;
      }
    }
    if (widest < 0) break;
    widths[widest] = (widths[widest] as number) - 1;
    excess--;
  }
  return widths;
}

const borderless = {
  topBody: '',
  topJoin: '',
  topLeft: '',
  topRight: '',
  bottomBody: '',
  bottomJoin: '',
  bottomLeft: '',
  bottomRight: '',
  bodyLeft: '',
  bodyRight: '',
  bodyJoin: '',
  joinBody: '',
  joinLeft: '',
  joinRight: '',
  joinJoin: '',
};
