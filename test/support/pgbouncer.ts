/**
 * A real pgbouncer running the shipped infra/postgres/pgbouncer.ini for one test: the file as it is,
 * with only where it listens (127.0.0.1 and a free port, never 6432), the server it points at (a test
 * PostgreSQL), the auth file and the log and pid files moved into a temp dir, plus any setting a test
 * adds. pgbouncer refuses to run as root, so under root it runs as `nobody` through setpriv, like the
 * test PostgreSQL. Started in the foreground and stopped by its pid.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { getFreePort, RESERVED_PORTS } from './free-port.js';

/** The shipped config. */
export const PGBOUNCER_INI = resolve(import.meta.dirname, '../../infra/postgres/pgbouncer.ini');

/** The pgbouncer program, or undefined when it is not installed. */
export const PGBOUNCER = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer', '/usr/local/bin/pgbouncer'].find((p) =>
  existsSync(p),
);

const NOBODY = { uid: 65534, gid: 65534 };
const LOOPBACK = '127.0.0.1';
const READY_TIMEOUT_MS = 10_000;

/** An ini file as sections of `key = value` settings, in file order (comments dropped). */
export function parseIni(text: string): Map<string, Map<string, string>> {
  const sections = new Map<string, Map<string, string>>();
  let section = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith(';') || line.startsWith('#')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = new Map();
      sections.set(header[1] as string, section);
      continue;
    }
    const eq = line.indexOf('=');
    section.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  return sections;
}

/**
 * The shipped ini with `[pgbouncer]` settings replaced or added from `settings` (a value of `null`
 * removes the line) and every `[databases]` entry replaced by `databases`.
 */
export function renderIni(
  shipped: string,
  settings: Record<string, string | null>,
  databases: Record<string, string>,
): string {
  const out: string[] = [];
  const left = new Map(Object.entries(settings));
  let section = '';
  const flush = () => {
    if (section === 'pgbouncer') for (const [k, v] of left) if (v !== null) out.push(`${k} = ${v}`);
    if (section === 'pgbouncer') left.clear();
  };
  for (const line of shipped.split('\n')) {
    const header = /^\[(.+)\]\s*$/.exec(line);
    if (header) {
      flush();
      section = header[1] as string;
      out.push(line);
      if (section === 'databases') for (const [name, conn] of Object.entries(databases)) out.push(`${name} = ${conn}`);
      continue;
    }
    const setting = /^\s*([a-z_]+)\s*=/.exec(line);
    if (setting && section === 'databases') continue;
    if (setting && section === 'pgbouncer' && left.has(setting[1] as string)) {
      const value = left.get(setting[1] as string);
      left.delete(setting[1] as string);
      if (value !== null) out.push(`${setting[1]} = ${value}`);
      continue;
    }
    out.push(line);
  }
  flush();
  return `${out.join('\n')}\n`;
}

/** A pgbouncer of {@link startPgbouncer}. */
export interface Pgbouncer {
  readonly host: string;
  readonly port: number;
  readonly pid: number;
  /** The rendered ini. */
  readonly ini: string;
  /** A URL through pgbouncer to `database` as `user` (the password percent-encoded if given). */
  urlOf(database: string, user: string, password?: string): string;
  /** Its log so far. */
  log(): Promise<string>;
  /** SIGTERM (immediate shutdown), SIGKILL after 5 s; removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** Options of {@link startPgbouncer}. */
export interface PgbouncerOptions {
  /** `[databases]` entries, e.g. `{ qt: 'host=127.0.0.1 port=5433 dbname=qt' }`. */
  readonly databases: Record<string, string>;
  /** The auth file's lines (`"role" "SCRAM-SHA-256$..."`). */
  readonly users: readonly (readonly [string, string])[];
  /** More `[pgbouncer]` settings, or `null` to remove one. */
  readonly settings?: Record<string, string | null>;
}

/** Starts pgbouncer with the shipped ini adapted as the file comment says; call stop() when done. */
export async function startPgbouncer(options: PgbouncerOptions): Promise<Pgbouncer> {
  if (PGBOUNCER === undefined) throw new Error('pgbouncer is not installed');
  const program = PGBOUNCER;
  const dir = await mkdtemp(join(tmpdir(), 'qt-pgbouncer-'));
  const root = process.getuid?.() === 0;
  const userlist = join(dir, 'userlist.txt');
  await writeFile(userlist, options.users.map(([u, s]) => `"${u}" "${s}"\n`).join(''), { mode: 0o600 });
  const shipped = await readFile(PGBOUNCER_INI, 'utf8');
  const logfile = join(dir, 'pgbouncer.log');
  for (let attempt = 1; ; attempt++) {
    const port = await getFreePort(LOOPBACK, new Set([...RESERVED_PORTS, 5432, 6432]));
    const ini = renderIni(
      shipped,
      {
        listen_port: String(port),
        auth_file: userlist,
        logfile,
        pidfile: join(dir, 'pgbouncer.pid'),
        ...options.settings,
      },
      options.databases,
    );
    const iniPath = join(dir, 'pgbouncer.ini');
    await writeFile(iniPath, ini);
    if (root) for (const f of [dir, userlist, iniPath]) chownSync(f, NOBODY.uid, NOBODY.gid);
    const [command, args] = root
      ? ['setpriv', [`--reuid=${NOBODY.uid}`, `--regid=${NOBODY.gid}`, '--clear-groups', program, iniPath]]
      : [program, [iniPath]];
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<string>((done) =>
      child.once('exit', (code, sig) => done(`code ${code}, signal ${sig}`)),
    );
    let exitStatus: string | undefined;
    void exited.then((s) => {
      exitStatus = s;
    });
    const log = () => readFile(logfile, 'utf8').catch(() => '');
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let ready = false;
    while (!ready && exitStatus === undefined && Date.now() < deadline) {
      ready = await listening(port);
      if (!ready) await sleep(50);
    }
    if (!ready) {
      const text = `${stderr}${await log()}`;
      kill(child);
      await Promise.race([exited, sleep(5_000)]);
      if (/Address already in use/.test(text) && attempt < 5) continue;
      await rm(dir, { recursive: true, force: true });
      throw new Error(`pgbouncer did not start (${exitStatus ?? 'timeout'}):\n${text}`);
    }
    let stopping: Promise<void> | undefined;
    return {
      host: LOOPBACK,
      port,
      pid: child.pid as number,
      ini,
      urlOf: (database, user, password) =>
        `postgres://${user}${password === undefined ? '' : `:${encodeURIComponent(password)}`}@${LOOPBACK}:${port}/${database}`,
      log: async () => `${stderr}${await log()}`,
      stop: () => {
        stopping ??= (async () => {
          if (exitStatus === undefined) {
            child.kill('SIGTERM');
            const gone = await Promise.race([exited.then(() => true), sleep(5_000).then(() => false)]);
            if (!gone) kill(child);
            await exited;
          }
          await rm(dir, { recursive: true, force: true });
        })();
        return stopping;
      },
    };
  }
}

function kill(child: ChildProcess): void {
  try {
    child.kill('SIGKILL');
  } catch {
    // Already gone.
  }
}

/** Whether something accepts TCP connections on the port. */
function listening(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host: LOOPBACK, port });
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

/** The version line of the installed pgbouncer (`PgBouncer 1.18.0`). */
export function pgbouncerVersion(): string {
  if (PGBOUNCER === undefined) return 'not installed';
  return spawnSync(PGBOUNCER, ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0] ?? '';
}
