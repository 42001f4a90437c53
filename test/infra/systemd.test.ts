/**
 * infra/systemd/: `systemd-analyze verify` passes on each shipped unit (installed into a temp dir with
 * the paths rewritten to ones that exist here: node's real path, this checkout for /opt/quantum-trader,
 * the example env file), and fails on a broken copy, so the check can fail. Then the units' structure:
 * one per service running `dist/main.js --actors=NAME`, the target wanting every service, the
 * documented start order (risk-safety first, execution after it, monitoring-health last) as the After=
 * graph gives it, the same restart policy and hardening in every unit, and the env file: only known
 * settings, every secret a CHANGE_ME placeholder that the runtime refuses as it is. The two timers: the
 * daily restart at 04:00 UTC and the PostgreSQL backup (infra/postgres/backup.sh) at 02:00 UTC.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import test from 'ava';
import { SERVICE_NAMES } from '../../src/actors/services.js';
import { loadConfig } from '../../src/config/load.js';
import { EnvSchema } from '../../src/config/schema.js';
import type { QtError } from '../../src/errors.js';

const ROOT = resolve(import.meta.dirname, '../..');
const DIR = join(ROOT, 'infra/systemd');
const TARGET = 'quantum-trader.target';
/** The start order docs/operations.md and the target's comment give. */
const START_ORDER = [
  'risk-safety',
  'portfolio-intelligence',
  'execution',
  'marketdata',
  'ai-engine',
  'rl-training',
  'monitoring-health',
];
const haveSystemd = spawnSync('systemd-analyze', ['--version']).status === 0;

type Unit = Record<string, Record<string, string[]>>;

/** A unit file as sections of keys, each with its values in order (a key may repeat). */
function parseUnit(text: string): Unit {
  const unit: Unit = {};
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1] as string;
      unit[section] ??= {};
      continue;
    }
    const eq = line.indexOf('=');
    const key = line.slice(0, eq);
    const keys = unit[section] as Record<string, string[]>;
    keys[key] = [...(keys[key] ?? []), line.slice(eq + 1)];
  }
  return unit;
}

function value(unit: Unit, section: string, key: string): string | undefined {
  return unit[section]?.[key]?.at(-1);
}

const unitName = (service: string) => `quantum-trader-${service}.service`;

async function shippedUnits(): Promise<Map<string, string>> {
  const names = (await readdir(DIR)).filter((n) => /\.(service|target|timer)$/.test(n));
  return new Map(await Promise.all(names.map(async (n) => [n, await readFile(join(DIR, n), 'utf8')] as const)));
}

/** The units as installed here: the same files with paths that exist on this machine. */
async function installHere(units: Map<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'qt-systemd-'));
  const node = await realpath(process.execPath);
  for (const [name, text] of units) {
    const local = text
      .replace(/^ExecStart=\/usr\/bin\/node /m, `ExecStart=${node} `)
      .replaceAll('/opt/quantum-trader', ROOT)
      .replace('/etc/quantum-trader/quantum-trader.env', join(DIR, 'quantum-trader.env'));
    await writeFile(join(dir, name), local);
  }
  return dir;
}

function verify(dir: string, name: string): { status: number | null; output: string } {
  const r = spawnSync('systemd-analyze', ['verify', '--man=no', join(dir, name)], { encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

test('systemd-analyze verify passes on every shipped unit, with no warning', async (t) => {
  if (!haveSystemd) return t.log('systemd-analyze is not installed here: NOT VERIFIED');
  const units = await shippedUnits();
  const dir = await installHere(units);
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // A unit per service, the target, and the daily restart's and the backup's service and timer.
  t.is(units.size, SERVICE_NAMES.length + 5);
  for (const name of units.keys()) t.deepEqual(verify(dir, name), { status: 0, output: '' }, name);
});

test('systemd-analyze verify fails on a broken unit (missing binary, unknown key, missing dependency)', async (t) => {
  if (!haveSystemd) return t.log('systemd-analyze is not installed here: NOT VERIFIED');
  const units = await shippedUnits();
  const execution = units.get(unitName('execution')) as string;
  const cases: [string, string, RegExp][] = [
    ['binary', execution.replace(/^ExecStart=\S+/m, 'ExecStart=/nonexistent/node'), /not executable/],
    ['key', execution.replace(/^ProtectSystem=strict$/m, 'ProtectSistem=strict'), /Unknown key 'ProtectSistem'/],
  ];
  for (const [what, text, message] of cases) {
    const dir = await installHere(new Map([...units, [unitName('execution'), text]]));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    t.regex(verify(dir, unitName('execution')).output, message, what);
  }
  const alone = await installHere(new Map([[unitName('execution'), execution]]));
  t.teardown(() => rm(alone, { recursive: true, force: true }));
  const r = verify(alone, unitName('execution'));
  t.not(r.status, 0);
  t.regex(r.output, /quantum-trader-risk-safety\.service not found/);
});

test('one unit per service runs main for it; the target wants them all and each is part of it', async (t) => {
  const units = await shippedUnits();
  const timed = ['restart', 'backup'].flatMap((n) => [`quantum-trader-${n}.service`, `quantum-trader-${n}.timer`]);
  t.deepEqual([...units.keys()].sort(), [...SERVICE_NAMES.map(unitName), TARGET, ...timed].sort());
  const target = parseUnit(units.get(TARGET) as string);
  t.deepEqual(
    (value(target, 'Unit', 'Wants') ?? '').split(/\s+/).sort(),
    SERVICE_NAMES.map(unitName).sort(),
    'the target lists every service',
  );
  t.is(value(target, 'Install', 'WantedBy'), 'multi-user.target');
  for (const service of SERVICE_NAMES) {
    const unit = parseUnit(units.get(unitName(service)) as string);
    t.is(
      value(unit, 'Service', 'ExecStart'),
      `/usr/bin/node /opt/quantum-trader/dist/main.js --actors=${service}`,
      service,
    );
    t.is(value(unit, 'Unit', 'PartOf'), TARGET, service);
    t.is(value(unit, 'Install', 'WantedBy'), TARGET, service);
    t.is(value(unit, 'Service', 'Environment'), `QT_LOG_FILE=/var/log/quantum-trader/${service}/qt.log`);
  }
});

test('the After= graph starts risk-safety first, execution after it (which Requires it), monitoring-health last', async (t) => {
  const units = await shippedUnits();
  const after = new Map<string, string[]>();
  for (const service of SERVICE_NAMES) {
    const unit = parseUnit(units.get(unitName(service)) as string);
    const deps = (value(unit, 'Unit', 'After') ?? '').split(/\s+/).filter((u) => u.startsWith('quantum-trader-'));
    after.set(
      service,
      deps.map((u) => u.replace(/^quantum-trader-|\.service$/g, '')),
    );
  }
  // Kahn's algorithm, ties broken by the documented order: the order systemd may start them in.
  const order: string[] = [];
  const left = new Set(SERVICE_NAMES as readonly string[]);
  while (left.size > 0) {
    const ready = START_ORDER.filter((s) => left.has(s) && (after.get(s) ?? []).every((d) => !left.has(d)));
    if (ready.length === 0) return t.fail(`After= cycle among ${[...left].join(', ')}`);
    order.push(ready[0] as string);
    left.delete(ready[0] as string);
  }
  t.deepEqual(order, START_ORDER);
  t.deepEqual(after.get('risk-safety'), [], 'risk-safety waits for no service');
  t.true(after.get('execution')?.includes('risk-safety'));
  t.deepEqual(after.get('monitoring-health')?.sort(), START_ORDER.slice(0, -1).sort(), 'monitoring-health after all');
  const execution = parseUnit(units.get(unitName('execution')) as string);
  t.is(value(execution, 'Unit', 'Requires'), unitName('risk-safety'), 'no execution without the ESS');
});

test('every unit has the same restart policy and hardening', async (t) => {
  const units = await shippedUnits();
  const perService = new Set(['ExecStart', 'Environment', 'LogsDirectory']);
  const common = (service: string) =>
    Object.entries(parseUnit(units.get(unitName(service)) as string).Service ?? {})
      .filter(([k]) => !perService.has(k))
      .map(([k, v]) => `${k}=${v.join(' | ')}`);
  const first = common('risk-safety');
  for (const service of SERVICE_NAMES) t.deepEqual(common(service), first, service);
  const service = Object.fromEntries(first.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  t.like(service, {
    Restart: 'on-failure',
    RestartSec: '5s',
    RestartPreventExitStatus: '2',
    NoNewPrivileges: 'yes',
    ProtectSystem: 'strict',
    ProtectHome: 'yes',
    PrivateTmp: 'yes',
    ReadWritePaths: '/var/lib/quantum-trader',
    StateDirectory: 'quantum-trader',
    EnvironmentFile: '/etc/quantum-trader/quantum-trader.env',
    User: 'quantum-trader',
  });
  const unit = parseUnit(units.get(unitName('execution')) as string);
  t.is(value(unit, 'Unit', 'StartLimitBurst'), '5');
  t.is(value(unit, 'Unit', 'StartLimitIntervalSec'), '300');
  if (haveSystemd) {
    const dir = await installHere(units);
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const r = spawnSync(
      'systemd-analyze',
      ['security', '--offline=yes', '--no-pager', join(dir, unitName('execution'))],
      { encoding: 'utf8' },
    );
    const exposure = /Overall exposure level for \S+: ([\d.]+)/.exec(r.stdout)?.[1];
    t.log(`systemd-analyze security: exposure ${exposure} (0 safest, 10 unprotected)`);
    t.true(Number(exposure) <= 3, `exposure ${exposure}`);
  }
});

test('the env file: known settings only, every secret a CHANGE_ME the runtime refuses until replaced', async (t) => {
  const text = await readFile(join(DIR, 'quantum-trader.env'), 'utf8');
  const entries = (commented: boolean) =>
    text
      .split('\n')
      .filter((l) => (commented ? /^#[A-Z_]+=/.test(l) : /^[A-Z_]+=/.test(l)))
      .map((l) => l.replace(/^#/, ''))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const);
  const known = new Set(Object.keys(EnvSchema.shape));
  for (const [key] of [...entries(false), ...entries(true)]) t.true(known.has(key), `${key} is a setting`);
  const secrets = [...entries(false), ...entries(true)].filter(([k]) =>
    /TOKEN|SECRET|API_KEY|WEBHOOK|REDIS_URL|DATABASE_URL|MIGRATION_URL/.test(k),
  );
  t.true(secrets.length >= 6, secrets.map(([k]) => k).join(', '));
  for (const [key, v] of secrets) {
    const secret = /^(REDIS_URL|DATABASE_URL|QT_PG_MIGRATION_URL)$/.test(key) ? new URL(v).password : v;
    t.regex(secret, /CHANGE_ME/, `${key} is a placeholder`);
  }
  const env = Object.fromEntries(entries(false));
  const err = t.throws<QtError>(() => loadConfig(env));
  t.is(err?.code, 'QT_CONFIG_INVALID');
  t.regex(err?.message ?? '', /QT_ADMIN_TOKEN/, 'the placeholder token is refused');
  const filled = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v.replace('CHANGE_ME', 'a'.repeat(32))]));
  const config = loadConfig(filled);
  t.is(config.dataDir, '/var/lib/quantum-trader');
  t.is(config.redis.local, 'never');
  t.is(config.log.file, undefined, 'the file is per unit (Environment=QT_LOG_FILE=...)');
});

test('the daily restart: the timer fires at 04:00 UTC and runs qt restart through systemctl', async (t) => {
  const units = await shippedUnits();
  const timer = parseUnit(units.get('quantum-trader-restart.timer') as string);
  const calendar = value(timer, 'Timer', 'OnCalendar') as string;
  t.is(value(timer, 'Timer', 'Unit'), 'quantum-trader-restart.service');
  if (haveSystemd) {
    const r = spawnSync('systemd-analyze', ['calendar', calendar], { encoding: 'utf8' });
    t.is(r.status, 0, r.stderr);
    t.regex(r.stdout, /Normalized form: \*-\*-\* 04:00:00 UTC/);
  }
  const service = parseUnit(units.get('quantum-trader-restart.service') as string);
  t.regex(
    value(service, 'Service', 'ExecStart') ?? '',
    /dist\/cli\/main\.js restart --execute --control systemd .*--reason/,
  );
});

test('the backup: the timer fires at 02:00 UTC and runs infra/postgres/backup.sh into the state dir, hardened', async (t) => {
  const units = await shippedUnits();
  const timer = parseUnit(units.get('quantum-trader-backup.timer') as string);
  const calendar = value(timer, 'Timer', 'OnCalendar') as string;
  t.is(value(timer, 'Timer', 'Unit'), 'quantum-trader-backup.service');
  t.is(value(timer, 'Timer', 'Persistent'), 'true');
  t.is(value(timer, 'Install', 'WantedBy'), 'timers.target');
  if (haveSystemd) {
    const r = spawnSync('systemd-analyze', ['calendar', calendar], { encoding: 'utf8' });
    t.is(r.status, 0, r.stderr);
    t.regex(r.stdout, /Normalized form: \*-\*-\* 02:00:00 UTC/);
  }
  const service = parseUnit(units.get('quantum-trader-backup.service') as string);
  t.like(service.Service, {
    Type: ['oneshot'],
    User: ['quantum-trader'],
    ExecStart: ['/opt/quantum-trader/infra/postgres/backup.sh /var/lib/quantum-trader/backups'],
    EnvironmentFile: ['/etc/quantum-trader/quantum-trader.env'],
    ReadWritePaths: ['/var/lib/quantum-trader'],
    UMask: ['0077'],
    ProtectSystem: ['strict'],
    NoNewPrivileges: ['yes'],
  });
  t.regex(value(service, 'Service', 'Environment') ?? '', /^QT_BACKUP_RETENTION_DAYS=\d+$/);
  const script = await stat(join(ROOT, 'infra/postgres/backup.sh'));
  t.true((script.mode & 0o111) !== 0, 'backup.sh is executable');
  if (haveSystemd) {
    const dir = await installHere(units);
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const r = spawnSync(
      'systemd-analyze',
      ['security', '--offline=yes', '--no-pager', join(dir, 'quantum-trader-backup.service')],
      { encoding: 'utf8' },
    );
    const exposure = /Overall exposure level for \S+: ([\d.]+)/.exec(r.stdout)?.[1];
    t.log(`systemd-analyze security (backup): exposure ${exposure}`);
    t.true(Number(exposure) <= 3, `exposure ${exposure}`);
  }
});
