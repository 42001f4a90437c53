/**
 * exportBuffer: every readable row as a JSON line, oldest first, from a
 * healthy or a damaged file, which it never changes.
 */
import { closeSync, openSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ExecutionContext } from 'ava';
import test from 'ava';
import Database from 'better-sqlite3';
import { DiskBuffer } from '../../src/buffer/disk-buffer.js';
import { type ExportedRow, exportBuffer, summarizeBuffer } from '../../src/buffer/export.js';
import { event, filesIn, nOf, sha256, startChild, tempBufferPath, waitFor } from './helpers.js';

const ROWS = 2_000;

/** A closed buffer with ROWS events over two topics; some carry a seq. */
async function bufferFile(t: ExecutionContext): Promise<string> {
  const path = tempBufferPath(t);
  const buffer = DiskBuffer.open({ path, now: () => 1_700_000_000_000 });
  await buffer.append(
    Array.from({ length: ROWS }, (_, i) => ({
      ...event(i % 2 ? 'order' : 'market', i, i % 10 === 0 ? i : null),
      body: JSON.stringify({ n: i, pad: 'p'.repeat(300) }),
    })),
  );
  await buffer.close();
  return path;
}

function runExport(path: string): { rows: ExportedRow[]; exported: number; errors: string[] } {
  const lines: string[] = [];
  const result = exportBuffer(path, (line) => lines.push(line));
  return { ...result, rows: lines.map((l) => JSON.parse(l) as ExportedRow) };
}

/** Overwrites the `which`-th leaf page of the events table with junk. */
function damageLeaf(path: string, which: number): void {
  const db = new Database(path, { readonly: true });
  const page = db
    .prepare("SELECT pageno FROM dbstat WHERE name = 'events' AND pagetype = 'leaf' ORDER BY pageno LIMIT 1 OFFSET ?")
    .pluck()
    .get(which) as number;
  db.close();
  const fd = openSync(path, 'r+');
  writeSync(fd, Buffer.alloc(4096, 0xab), 0, 4096, (page - 1) * 4096);
  closeSync(fd);
}

test('a healthy buffer exports every row, oldest first, as one JSON object per line; the file is unchanged', async (t) => {
  const path = await bufferFile(t);
  const before = sha256(path);
  const { rows, exported, errors } = runExport(path);
  t.deepEqual(errors, []);
  t.is(exported, ROWS);
  t.deepEqual(
    rows.map(nOf),
    Array.from({ length: ROWS }, (_, i) => i),
  );
  t.deepEqual(rows[10], {
    id: rows[0]!.id + 10,
    topic: 'market',
    type: 'market.tested',
    seq: 10,
    createdAt: 1_700_000_000_000,
    body: JSON.stringify({ n: 10, pad: 'p'.repeat(300) }),
  });
  t.is(rows[1]!.seq, null);
  t.is(sha256(path), before);
});

test('seqs the drainer assigned are exported with their rows and counted in doubt by the summary', async (t) => {
  const path = await bufferFile(t);
  const buffer = DiskBuffer.open({ path });
  const market = buffer.oldest('market', 6);
  const fresh = market.filter((r) => r.seq === null);
  buffer.assignSeqs(
    'market',
    fresh.map((r, i) => ({ id: r.id, seq: 500 + i })),
  );
  await buffer.close();

  const { rows, errors } = runExport(path);
  t.deepEqual(errors, []);
  t.deepEqual(
    rows
      .filter((r) => r.topic === 'market')
      .slice(0, 6)
      .map((r) => r.seq),
    [0, 500, 501, 502, 503, 10],
    'the rows parked with a seq keep theirs; the others show the assigned one',
  );
  t.true(rows.filter((r) => r.topic === 'order').every((r) => r.seq === null));
  const summary = summarizeBuffer(path);
  const inDoubt = Object.fromEntries(summary.topics.map((topic) => [topic.topic, topic.inDoubt]));
  // Parked with a seq: every tenth row, all of them on market (even n). Assigned: four more.
  t.deepEqual(inDoubt, { market: ROWS / 10 + 4, order: 0 });
  t.is(summary.inDoubt, ROWS / 10 + 4);
});

test('a damaged page loses only its rows; the error names the id range; the file is unchanged', async (t) => {
  const path = await bufferFile(t);
  damageLeaf(path, 40);
  const before = sha256(path);
  const { rows, exported, errors } = runExport(path);
  t.is(exported, rows.length);
  t.true(exported > ROWS - 30 && exported < ROWS, `exported ${exported}`);
  t.is(errors.length, 1);
  t.regex(
    errors[0]!,
    /^rows with ids \d+\.\.\d+ are unreadable \(\d+ rows per the index\): database disk image is malformed/,
  );
  const [, from, to, lost] = /ids (\d+)\.\.(\d+) .*\((\d+) rows/.exec(errors[0]!)!.map(Number);
  t.is(Number(lost), ROWS - exported, 'the index accounts for every missing row');
  const ids = new Set(rows.map((r) => r.id));
  for (let id = from!; id <= to!; id++) t.false(ids.has(id));
  t.true(rows.at(-1)!.id > to!, 'rows after the damage are exported');
  t.true(rows.every((r) => nOf(r) === r.id - 1));
  t.deepEqual(
    rows.map((r) => r.id),
    rows.map((r) => r.id).sort((a, b) => a - b),
  );
  t.is(sha256(path), before);
});

test('a truncated buffer exports the rows before the cut', async (t) => {
  const path = await bufferFile(t);
  truncateSync(path, Math.floor(statSync(path).size * 0.6));
  const before = sha256(path);
  const { rows, exported, errors } = runExport(path);
  t.true(exported > 0 && exported < ROWS, `exported ${exported}`);
  t.true(
    rows.every((r) => nOf(r) === r.id - 1),
    'every exported row is intact (ids start at 1 in a fresh file)',
  );
  t.true(exported > ROWS * 0.5, 'most rows before the cut survive');
  t.regex(errors[0]!, /truncated: the header says/);
  t.true(errors.some((e) => /\.\.end are unreadable/.test(e)));
  t.is(sha256(path), before);
});

test('garbage, a missing file and a foreign SQLite file export nothing and say why', (t) => {
  const garbage = tempBufferPath(t);
  writeFileSync(garbage, Buffer.alloc(8192, 0x41));
  t.deepEqual(runExport(garbage).errors, [`${garbage}: not a SQLite database (bad header)`]);
  t.regex(runExport(`${garbage}.missing`).errors[0]!, /ENOENT/);
  const foreign = tempBufferPath(t);
  const db = new Database(foreign);
  db.exec('CREATE TABLE users (id INTEGER)');
  db.close();
  const { exported, errors } = runExport(foreign);
  t.is(exported, 0);
  t.deepEqual(errors, [`${foreign}: not a disk buffer (no events table; tables: users)`]);
});

test('a file left by a killed producer exports what it committed, WAL included', async (t) => {
  const path = tempBufferPath(t);
  const child = startChild(t, 'append', path);
  await waitFor(() => (child.output().match(/^ok /gm) ?? []).length >= 500, '500 appends');
  child.process.kill('SIGKILL');
  await child.exited;
  const { rows, errors } = runExport(path);
  t.deepEqual(errors, []);
  const buffer = DiskBuffer.open({ path });
  t.is(rows.length, buffer.stats().rows);
  t.true(rows.length >= 500);
  await buffer.close();
});

test('a buffer held by a running process is exported from a copy, without blocking it or touching the file', async (t) => {
  const path = await bufferFile(t);
  const holder = startChild(t, 'hold', path);
  await waitFor(() => holder.output().includes('ready'), 'holder ready');
  const files = filesIn(dirname(path));
  const { rows, exported, errors } = runExport(path);
  t.deepEqual(errors, []);
  t.is(exported, ROWS);
  t.deepEqual(
    rows.map(nOf),
    Array.from({ length: ROWS }, (_, i) => i),
  );
  t.deepEqual(filesIn(dirname(path)), files, 'nothing created beside the held file');

  // A producer appending all along: every append that resolved before the export is in it, and it keeps appending.
  const livePath = tempBufferPath(t);
  const writer = startChild(t, 'append', livePath);
  await waitFor(() => (writer.output().match(/^ok /gm) ?? []).length >= 300, '300 appends');
  const acknowledged = (writer.output().match(/^ok (\d+)$/gm) ?? []).map((l) => Number(l.slice(3)));
  const live = runExport(livePath);
  t.deepEqual(live.errors, []);
  const ids = live.rows.map((r) => r.id);
  t.deepEqual(
    ids,
    Array.from({ length: ids.length }, (_, i) => i + 1),
    'a committed prefix, in order',
  );
  const exportedN = new Set(live.rows.map(nOf));
  t.true(
    acknowledged.every((n) => exportedN.has(n)),
    'every append acknowledged before the export is exported',
  );
  const afterExport = (writer.output().match(/^ok /gm) ?? []).length;
  await waitFor(() => (writer.output().match(/^ok /gm) ?? []).length >= afterExport + 300, 'appends go on');
  t.pass();
});

test('an error thrown by write() propagates', async (t) => {
  const path = await bufferFile(t);
  const boom = new Error('EPIPE');
  t.is(
    t.throws(() =>
      exportBuffer(path, () => {
        throw boom;
      }),
    ),
    boom,
  );
});
