/**
 * infra/redis/render.sh, the step a deploy runs on each Sentinel-set file: every placeholder outside
 * comments replaced (password from REDIS_PASSWORD_FILE, master from REDIS_MASTER_HOST), the output
 * readable by its owner only, and a clear refusal (exit 2, what is wrong) for a missing setting or a
 * password it cannot write unquoted. The shipped files hold no secret: only the placeholder.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { REDIS_INFRA_DIR } from '../support/sentinel-files.js';

const FILES = ['master.conf', 'replica.conf', 'sentinel.conf'];
const PLACEHOLDER = /__REDIS_[A-Z_]+__/;

/** Runs render.sh on `template` with the given environment; returns exit status, stderr and the output path. */
async function render(template: string, env: Record<string, string>) {
  const dir = await mkdtemp(join(tmpdir(), 'qt-render-test-'));
  const output = join(dir, 'out.conf');
  const result = spawnSync('sh', [join(REDIS_INFRA_DIR, 'render.sh'), join(REDIS_INFRA_DIR, template), output], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    encoding: 'utf8',
  });
  return { status: result.status, stderr: result.stderr, output, dir };
}

test('each shipped file has the password placeholder where a secret goes, and no secret', async (t) => {
  for (const file of FILES) {
    const text = await readFile(join(REDIS_INFRA_DIR, file), 'utf8');
    const directives = text.split('\n').filter((l) => /^(requirepass|masterauth|sentinel auth-pass) /.test(l));
    t.true(directives.length > 0, `${file} sets a password`);
    for (const line of directives) t.regex(line, /__REDIS_PASSWORD__$/, `${file}: ${line}`);
  }
});

test('render.sh fills every placeholder outside comments and writes a 0600 file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'qt-render-pw-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const passwordFile = join(dir, 'password');
  await writeFile(passwordFile, 'Secret_0123456789-abcdef\n');
  for (const file of FILES) {
    const r = await render(file, { REDIS_PASSWORD_FILE: passwordFile, REDIS_MASTER_HOST: 'redis-master' });
    t.teardown(() => rm(r.dir, { recursive: true, force: true }));
    t.is(r.status, 0, r.stderr);
    const text = await readFile(r.output, 'utf8');
    const live = text.split('\n').filter((l) => !/^\s*#/.test(l));
    t.false(
      live.some((l) => PLACEHOLDER.test(l)),
      `${file}: no placeholder left`,
    );
    t.true(
      live.some((l) => l.endsWith(' Secret_0123456789-abcdef')),
      `${file}: the password is in`,
    );
    t.is((await stat(r.output)).mode & 0o777, 0o600, `${file}: owner only`);
  }
});

test('render.sh refuses a short or unquotable password, and missing settings, naming what is wrong', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'qt-render-bad-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const cases: [string, Record<string, string>, RegExp][] = [
    ['short', { REDIS_MASTER_HOST: 'h' }, /must be 16 or more of A-Z a-z 0-9 _ -/],
    ['has space and quote "x" 1234567890', { REDIS_MASTER_HOST: 'h' }, /must be 16 or more/],
    ['Good_password_1234567890', { REDIS_MASTER_HOST: 'bad host' }, /REDIS_MASTER_HOST must be a host name/],
    ['Good_password_1234567890', {}, /REDIS_MASTER_HOST must be the master address/],
  ];
  for (const [password, env, message] of cases) {
    const passwordFile = join(dir, 'password');
    await writeFile(passwordFile, password);
    const r = await render('master.conf', { REDIS_PASSWORD_FILE: passwordFile, ...env });
    t.teardown(() => rm(r.dir, { recursive: true, force: true }));
    t.not(r.status, 0, password);
    t.regex(r.stderr, message);
  }
  const r = await render('master.conf', { REDIS_MASTER_HOST: 'h' });
  t.teardown(() => rm(r.dir, { recursive: true, force: true }));
  t.regex(r.stderr, /REDIS_PASSWORD_FILE must name the file/);
});
