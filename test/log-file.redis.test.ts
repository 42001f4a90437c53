/**
 * The log file (QT_LOG_FILE, rotated by QT_LOG_FILE_SIZE, QT_LOG_FILE_COUNT files kept) through real
 * `main` processes: the files rotate (several numbers used, never more than COUNT files, each about the
 * size), hold the same JSON lines as stdout in the same order (the newest files are a suffix of stdout,
 * up to the "stopped" line after SIGTERM: nothing is lost at exit), a restart appends under the same
 * limit, and no secret (QT_ADMIN_TOKEN, the Redis URL's password) is in any file while the redacted URL
 * is. Also: the same redaction in the file as on stdout for a logged config, and an unwritable path
 * exiting 3 with the path named.
 */
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import test from 'ava';
import { loadConfig } from '../src/config/load.js';
import { createLogger, openLogFile } from '../src/log.js';
import { uniquePrefix, waitFor } from './support/bus.js';
import { spawnMain, startMain } from './support/main-process.js';
import { startRedis } from './support/redis-fixture.js';

const TOKEN = 'log-file-admin-token-0123456789';
const PASSWORD = 'log-file-redis-password-98765';
const MAX_BYTES = 2 * 1024;
const COUNT = 3;

/** `qt.N.log` files of `dir`, oldest number first. */
async function logFiles(dir: string): Promise<{ name: string; n: number; text: string; size: number }[]> {
  const names = (await readdir(dir)).filter((n) => /^qt\.\d+\.log$/.test(n));
  const files = await Promise.all(
    names.map(async (name) => {
      const path = join(dir, name);
      return { name, n: Number(name.split('.')[1]), text: await readFile(path, 'utf8'), size: (await stat(path)).size };
    }),
  );
  return files.sort((a, b) => a.n - b.n);
}

/** JSON lines of a text (lines that are not JSON are left out: stderr mixed into main's output). */
function jsonLines(text: string): string[] {
  return text.split('\n').filter((l) => l.startsWith('{'));
}

test.serial(
  'main with QT_LOG_FILE: files rotate, stay bounded, hold stdout and its last line, no secret',
  async (t) => {
    const server = await startRedis({ name: 'log-file' });
    const dir = await mkdtemp(join(tmpdir(), 'qt-log-file-'));
    t.teardown(async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    });
    await server.client().acl('SETUSER', 'trader', 'on', `>${PASSWORD}`, '~*', '&*', '+@all');
    const logDir = join(dir, 'logs'); // does not exist yet: created
    const env = {
      REDIS_URL: `redis://trader:${PASSWORD}@127.0.0.1:${server.port}`,
      QT_ADMIN_TOKEN: TOKEN,
      QT_DATA_DIR: join(dir, 'data'),
      QT_KEY_PREFIX: uniquePrefix('logfile'),
      QT_LOG_LEVEL: 'debug',
      QT_SUMMARY_INTERVAL_MS: '100',
      QT_FEED_TICKS_PER_SECOND: '20',
      QT_LOG_FILE: join(logDir, 'qt.log'),
      QT_LOG_FILE_SIZE: '2k',
      QT_LOG_FILE_COUNT: String(COUNT),
    };

    const { run, port } = await startMain(t, ['--actors=all'], env);
    // Authenticated and unauthenticated admin calls: the token is in a header, never in a line.
    const headers = { authorization: `Bearer ${TOKEN}` };
    t.is((await fetch(`http://127.0.0.1:${port(8003)}/ess`, { headers })).status, 200);
    t.is((await fetch(`http://127.0.0.1:${port(8003)}/admin/shutdown`, { method: 'POST' })).status, 401);
    await waitFor(async () => (await logFiles(logDir)).some((f) => f.n >= COUNT + 3), 'several rotations', 60_000, 100);
    run.child.kill('SIGTERM');
    t.is(await run.exit, 0, run.out().slice(-2_000));

    const files = await logFiles(logDir);
    t.log(`files: ${files.map((f) => `${f.name} ${f.size} B`).join(', ')}`);
    t.is(files.length, COUNT, `${COUNT} files kept`);
    const longestLine = Math.max(...jsonLines(run.out()).map((l) => Buffer.byteLength(l) + 1));
    for (const f of files.slice(0, -1)) {
      // A file is rotated on the first write that takes it to the size: it ends within one tick's lines of it.
      t.true(f.size >= MAX_BYTES, `${f.name} (${f.size} B) was rotated at the size`);
      t.true(f.size <= MAX_BYTES + 4 * longestLine, `${f.name}: ${f.size} B, bounded by ${MAX_BYTES} B + a few lines`);
    }
    const fileLines = files.flatMap((f) => jsonLines(f.text));
    const stdoutLines = jsonLines(run.out());
    t.true(fileLines.length > 10, `${fileLines.length} lines in the files`);
    t.deepEqual(stdoutLines.slice(-fileLines.length), fileLines, 'the files hold the newest stdout lines, in order');
    t.is((JSON.parse(fileLines.at(-1) as string) as { msg: string }).msg, 'stopped', 'the last line before exit');

    // A restart appends to the newest number, and the limit counts the files of earlier runs too.
    const before = files.at(-1)?.n ?? 0;
    const again = spawnMain(['--actors=marketdata', '--duration', '2'], env);
    t.is(await again.exit, 0, again.out().slice(-2_000));
    const after = await logFiles(logDir);
    t.true(after.length <= COUNT, `${after.length} files after the restart`);
    t.true((after.at(-1)?.n ?? 0) >= before, 'numbering goes on');
    t.true(after.at(-1)?.text.trimEnd().endsWith('"msg":"stopped"}'), "the restart's last line is in the newest file");

    const everything = [...files, ...after].map((f) => f.text).join('');
    t.false(everything.includes(TOKEN), 'no admin token in a file');
    t.false(everything.includes(PASSWORD), 'no Redis password in a file');
    t.false(run.out().includes(PASSWORD) || run.out().includes(TOKEN), 'none on stdout either');
  },
);

test('a config logged to the file is redacted as on stdout', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'qt-log-redact-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  let stdout = '';
  const destination = new Writable({
    write(chunk, _e, done) {
      stdout += String(chunk);
      done();
    },
  });
  const file = await openLogFile({ path: join(dir, 'qt.log'), maxBytes: 1024 ** 2, count: 2 });
  const log = createLogger({ destination, file });
  const config = loadConfig({ REDIS_URL: `redis://trader:${PASSWORD}@h:1`, QT_ADMIN_TOKEN: TOKEN });
  log.info({ config, token: TOKEN, headers: { authorization: `Bearer ${TOKEN}` } }, 'configuration');
  const written = await readFile(join(dir, 'qt.1.log'), 'utf8');
  t.is(written, stdout, 'the same line in the file as on stdout');
  t.false(written.includes(PASSWORD) || written.includes(TOKEN));
  t.regex(written, /"url":"\[redacted\]"/);
  t.regex(written, /"adminToken":"\[redacted\]"/);
  t.regex(written, /"token":"\[redacted\]"/);
});

test('a log file that cannot be opened: exit 3 naming the path', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'qt-log-bad-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const notADir = join(dir, 'plain-file');
  await writeFile(notADir, 'x');
  const path = join(notADir, 'qt.log');
  const run = spawnMain(['--actors=marketdata'], {
    QT_LOG_FILE: path,
    QT_DATA_DIR: dir,
    REDIS_URL: 'redis://127.0.0.1:1',
  });
  t.is(await run.exit, 3);
  t.regex(run.out(), new RegExp(`error: cannot open the log file ${path.replace(/[.]/g, '\\.')}: `));
  t.notRegex(run.out(), /\n\s+at /, 'no stack trace');
});
