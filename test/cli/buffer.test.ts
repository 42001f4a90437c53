/**
 * `qt buffer status` and `qt buffer export`, the CLI as a child process: a
 * file `main` refuses as corrupt still exports what is readable (and stays
 * byte for byte as it was), and a file in use by a live producer is read
 * without blocking it: every publish it had buffered is exported while it
 * keeps publishing.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import test from 'ava';
import Database from 'better-sqlite3';
import { DiskBuffer } from '../../src/buffer/disk-buffer.js';
import { ExportedRowSchema } from '../../src/buffer/export.js';
import { BufferExportOutputSchema, BufferStatusOutputSchema } from '../../src/cli/buffer.js';
import { isQtError } from '../../src/errors.js';
import { sha256, waitFor } from '../buffer/helpers.js';
import { runQt } from '../support/cli.js';
import { getFreePort } from '../support/free-port.js';

const ROWS = 2_000;

/** A fresh data directory, removed at the end of the test. */
function dataDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'qt-cli-buffer-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A closed buffer file of producer `producer` under `dir/buffer/`, with ROWS rows over two topics, every 10th in doubt. */
async function bufferFile(dir: string, producer: string): Promise<string> {
  const path = join(dir, 'buffer', `${producer}.sqlite`);
  const buffer = DiskBuffer.open({ path, now: () => Date.now() - 60_000 });
  await buffer.append(
    Array.from({ length: ROWS }, (_, i) => ({
      topic: i % 2 ? 'order' : 'market',
      type: i % 2 ? 'order.placed' : 'market.tick',
      seq: i % 10 === 0 ? i + 1 : null,
      body: JSON.stringify({ n: i, pad: 'p'.repeat(300) }),
    })),
  );
  await buffer.close();
  return path;
}

/** Overwrites the `which`-th leaf page of the events table with junk (as test/buffer/corrupt.test.ts does). */
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

test('status: rows, bytes, oldest age, in-doubt rows, per topic, for every file of the data dir', async (t) => {
  const dir = dataDir(t);
  await bufferFile(dir, 'vm.alpha');
  const env = { QT_DATA_DIR: dir };
  const res = await runQt(['--json', 'buffer', 'status'], env);
  t.is(res.code, 0, res.stderr);
  const out = BufferStatusOutputSchema.parse(JSON.parse(res.stdout));
  t.is(out.dir, join(dir, 'buffer'));
  t.is(out.files.length, 1);
  const file = out.files[0];
  t.like(file, { producer: 'vm.alpha', state: 'ok', problem: null, rows: ROWS, inDoubt: ROWS / 10 });
  t.true((file?.oldestAgeMs ?? 0) >= 60_000);
  t.deepEqual(
    file?.topics.map((x) => [x.topic, x.rows, x.inDoubt]),
    [
      ['market', ROWS / 2, ROWS / 10],
      ['order', ROWS / 2, 0],
    ],
  );
  t.is(
    file?.bytes,
    file?.topics.reduce((n, x) => n + x.bytes, 0),
  );

  const table = await runQt(['buffer', 'status', '--data-dir', dir], { QT_CLI_WIDTH: '120' });
  t.is(table.code, 0, table.stderr);
  const lines = table.stdout.trimEnd().split('\n');
  t.regex(lines[0] ?? '', /^FILE +TOPIC +ROWS +IN DOUBT +BYTES +OLDEST +STATE/);
  t.regex(lines[1] ?? '', /^vm\.alpha +\* +2000 +200 +\d+ KiB +1m( \d+s)? +ok \(\d+ KiB on disk\)/);
  t.regex(lines[2] ?? '', /^vm\.alpha +market +1000 +200 +\d+ KiB +1m/);
  t.regex(lines[3] ?? '', /^vm\.alpha +order +1000 +0 /);

  const empty = await runQt(['buffer', 'status', '--data-dir', join(dir, 'nothing')], {});
  t.is(empty.code, 0);
  t.regex(empty.stdout, /^no buffer files in /);
  t.is((await runQt(['buffer', 'status', join(dir, 'missing.sqlite')], {})).code, 5);
  t.is((await runQt(['buffer', 'status', '--producer', 'no/such'], env)).code, 2);
});

test('export of a file main refuses as corrupt: what is readable, as JSON lines; the file is left as it was', async (t) => {
  const dir = dataDir(t);
  const path = await bufferFile(dir, 'vm.broken');
  damageLeaf(path, 10);
  const before = sha256(path);
  const refused = t.throws(() => DiskBuffer.open({ path }));
  t.true(isQtError(refused, 'QT_BUFFER_CORRUPT'));
  t.true(refused?.message.includes(`export what is readable with "qt buffer export ${path} --out FILE"`));

  const res = await runQt(['buffer', 'export', path], {});
  t.is(res.code, 1, 'some rows were unreadable');
  const rows = res.stdout
    .trimEnd()
    .split('\n')
    .map((l) => ExportedRowSchema.parse(JSON.parse(l)));
  t.true(rows.length > ROWS - 40 && rows.length < ROWS, `exported ${rows.length}`);
  t.true(
    rows.every((r, i) => i === 0 || r.id > (rows[i - 1]?.id ?? 0)),
    'oldest first',
  );
  t.regex(res.stderr, new RegExp(`^exported ${rows.length} rows from ${path}$`, 'm'));
  t.regex(res.stderr, /^qt: rows with ids \d+\.\.\d+ are unreadable/m);

  // As the error message says: --out FILE, the summary as JSON with --json.
  const out = join(dir, 'rows.jsonl');
  const json = await runQt(['--json', 'buffer', 'export', '--producer', 'vm.broken', '--out', out], {
    QT_DATA_DIR: dir,
  });
  t.is(json.code, 1);
  const summary = BufferExportOutputSchema.parse(JSON.parse(json.stdout));
  t.like(summary, { file: path, out, exported: rows.length });
  t.is(summary.errors.length, 1);
  t.is(readFileSync(out, 'utf8'), res.stdout);
  t.is(sha256(path), before, 'never modified');

  const status = BufferStatusOutputSchema.parse(
    JSON.parse((await runQt(['--json', 'buffer', 'status', path], {})).stdout),
  );
  t.like(status.files[0], { state: 'corrupt', rows: null });
  t.regex(status.files[0]?.problem ?? '', /damaged/);
  t.is((await runQt(['buffer', 'export', '--out', path, path], {})).code, 2, '--out never overwrites the buffer');
  t.is(sha256(path), before);
});

/** publisher-child (test/support/publisher-child.ts) in burst mode, with Redis down: every publish goes to its buffer. */
async function liveProducer(t: ExecutionContext, dir: string, producer: string): Promise<{ resolved(): number }> {
  const port = await getFreePort();
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import=tsx', fileURLToPath(new URL('../support/publisher-child.ts', import.meta.url)), producer, 'burst', '1'],
    {
      env: { ...process.env, REDIS_URL: `redis://127.0.0.1:${port}`, QT_DATA_DIR: dir, QT_KEY_PREFIX: 'cli-buffer' },
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  let resolved = 0;
  let partial = '';
  child.stdout?.on('data', (d: Buffer) => {
    const lines = (partial + String(d)).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const m = /^resolved=(\d+)/.exec(line);
      if (m) resolved = Number(m[1]);
    }
  });
  return { resolved: () => resolved };
}

test('a file in use by a live producer: status and export read it without blocking the producer', async (t) => {
  const dir = dataDir(t);
  const producer = await liveProducer(t, dir, 'vm.live');
  await waitFor(() => producer.resolved() >= 20_000, '20,000 buffered publishes', 60_000);
  const path = join(dir, 'buffer', 'vm.live.sqlite');

  const before = producer.resolved();
  const status = await runQt(['--json', 'buffer', 'status', '--producer', 'vm.live'], { QT_DATA_DIR: dir });
  t.is(status.code, 0, status.stderr);
  const file = BufferStatusOutputSchema.parse(JSON.parse(status.stdout)).files[0];
  t.like(file, { state: 'ok', inDoubt: 0 });
  t.true((file?.rows ?? 0) >= before, `${file?.rows} rows, ${before} resolved before`);

  const out = join(dir, 'live.jsonl');
  const resolvedBefore = producer.resolved();
  const res = await runQt(['--json', 'buffer', 'export', path, '--out', out], {});
  t.is(res.code, 0, res.stderr);
  const summary = BufferExportOutputSchema.parse(JSON.parse(res.stdout));
  t.deepEqual(summary.errors, []);
  const prices = readFileSync(out, 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => {
      const row = ExportedRowSchema.parse(JSON.parse(l));
      return (JSON.parse(row.body) as { data: { price: number } }).data.price;
    });
  t.is(prices.length, summary.exported);
  // Every publish that had resolved (was durable in the buffer) before the export started is in it, in order.
  t.true(prices.length >= resolvedBefore, `${prices.length} exported, ${resolvedBefore} resolved before`);
  t.deepEqual(
    prices.slice(0, resolvedBefore),
    Array.from({ length: resolvedBefore }, (_, i) => i + 1),
  );
  const after = producer.resolved();
  await waitFor(() => producer.resolved() >= after + 5_000, 'the producer keeps publishing', 30_000);
  t.pass();
});
