/**
 * A PostgreSQL server that belongs to one test: `initdb` into a temp dir, then the `postgres` binary of
 * the machine's newest /usr/lib/postgresql/<version>/bin, on a free loopback port, its unix socket in the
 * temp dir, trust authentication for the superuser `postgres`. It is stopped and killed by its pid only,
 * so it can never touch the machine's own PostgreSQL (whose port, 5432, it never hands out).
 *
 * PostgreSQL refuses to run as root: when the test runs as root, `initdb` and `postgres` run as `nobody`
 * through `setpriv --reuid --regid --clear-groups` (util-linux), and the temp dir is given to that user.
 * Run as any other user, they run as that user.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chownSync, createWriteStream, readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { getFreePort } from './free-port.js';

/** The machine's PostgreSQL's port, and Redis's: never handed out. */
const RESERVED_PORTS: ReadonlySet<number> = new Set([5432, 6379, 26379]);
const LOOPBACK = '127.0.0.1';
/** How long a (re)started server gets to accept a connection before we give up and show its log. */
const READY_TIMEOUT_MS = 20_000;
const POLL_INTERVAL_MS = 50;
const MAX_PORT_ATTEMPTS = 5;
/** The unprivileged account PostgreSQL runs as when the test runs as root. */
const NOBODY = { uid: 65534, gid: 65534 };

/** A PostgreSQL server started by {@link startPostgres}; every method acts on that server alone. */
export interface PgServer {
  readonly name: string;
  readonly host: string;
  /** TCP port on loopback; the same across {@link PgServer.restart}. */
  readonly port: number;
  /** `postgres://postgres@127.0.0.1:<port>/postgres` (trust auth: no password). */
  readonly url: string;
  /** Pid of the current postmaster; `undefined` while killed or stopped. */
  readonly pid: number | undefined;
  /** The temp dir: `data/` (the cluster), `sock/` (the unix socket), `postgres.log`. */
  readonly dir: string;
  /** A URL of another database on this server. */
  urlOf(database: string): string;
  /** Creates a database on this server and returns its URL. */
  createDatabase(database: string): Promise<string>;
  /** SIGKILLs the postmaster and its backends (a crash: no shutdown checkpoint) and resolves once all are gone. */
  kill(): Promise<void>;
  /** SIGSTOPs the postmaster and its backends: connections stay open, nothing answers until {@link PgServer.resume}. */
  pause(): void;
  /** SIGCONTs what {@link PgServer.pause} stopped. */
  resume(): void;
  /** Starts the server again on the same port and data dir (crash recovery after a kill) and waits until it answers. */
  restart(): Promise<void>;
  /** Immediate shutdown (SIGQUIT, as `pg_ctl stop -m immediate`; SIGKILL after 5 s), then removes the dir. Idempotent. */
  stop(): Promise<void>;
}

/** The newest installed PostgreSQL's bin dir. */
export function postgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = readdirSync(root)
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a));
  if (versions.length === 0) throw new Error(`pg-fixture: no PostgreSQL under ${root}`);
  return join(root, versions[0]!, 'bin');
}

/** Every postmaster started and not yet gone, with its backends; the exit hook SIGKILLs them. */
const live = new Map<ChildProcess, string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const [child, dir] of live) {
      const pids = child.pid === undefined ? [] : [child.pid, ...childPids(child.pid)];
      for (const pid of pids) signal(pid, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

/** Runs a command as the unprivileged user when we are root, else as ourselves. */
function asServerUser(command: string, args: string[]): [string, string[]] {
  if (process.getuid?.() !== 0) return [command, args];
  return ['setpriv', [`--reuid=${NOBODY.uid}`, `--regid=${NOBODY.gid}`, '--clear-groups', command, ...args]];
}

/** Starts a PostgreSQL server of the caller's own; call {@link PgServer.stop} when done. */
export async function startPostgres(options: { name?: string } = {}): Promise<PgServer> {
  const name = options.name ?? 'postgres';
  const bin = postgresBinDir();
  const dir = await mkdtemp(join(tmpdir(), `qt-${name}-`));
  const data = join(dir, 'data');
  const sock = join(dir, 'sock');
  await mkdir(sock);
  if (process.getuid?.() === 0) for (const d of [dir, sock]) chownSync(d, NOBODY.uid, NOBODY.gid);
  const [cmd, args] = asServerUser(join(bin, 'initdb'), [
    ...['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
  ]);
  const init = spawnSync(cmd, args, { encoding: 'utf8' });
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`pg-fixture: initdb failed (${init.status ?? init.signal}):\n${init.stderr}${init.stdout}`);
  }

  installExitHook();
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let port = 0;
  let stopping: Promise<void> | undefined;
  const logfile = join(dir, 'postgres.log');

  const launch = async (): Promise<void> => {
    const [command, argv] = asServerUser(join(bin, 'postgres'), [
      ...['-D', data, '-p', String(port), '-k', sock],
      ...['-c', `listen_addresses=${LOOPBACK}`, '-c', 'fsync=off', '-c', 'logging_collector=off'],
    ]);
    const started = spawn(command, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
    // The server logs to stderr; keep it in a file for failure messages.
    started.stderr?.pipe(createWriteStream(logfile, { flags: 'a' }));
    child = started;
    live.set(started, dir);
    let exitCode: string | undefined;
    exited = new Promise((resolve) =>
      started.once('exit', (code, sig) => {
        exitCode = `code ${code}, signal ${sig}`;
        live.delete(started);
        if (child === started) child = undefined;
        resolve();
      }),
    );
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (exitCode !== undefined) {
        const log = await readFile(logfile, 'utf8').catch(() => '');
        const error = new Error(
          `${name}: postgres on port ${port} exited (${exitCode}) before it was ready\n${tail(log)}`,
        );
        throw Object.assign(error, { addressInUse: /could not bind|Address already in use/i.test(log) });
      }
      if (await answers(port, data)) return;
      if (Date.now() > deadline) {
        const log = await readFile(logfile, 'utf8').catch(() => '');
        throw new Error(`${name}: postgres on port ${port} not ready within ${READY_TIMEOUT_MS} ms\n${tail(log)}`);
      }
      await sleep(POLL_INTERVAL_MS);
    }
  };

  const kill = async (): Promise<void> => {
    const current = child;
    if (!current?.pid) return;
    // Its backends first listed, then the postmaster killed (so it cannot restart them), then the backends.
    const backends = childPids(current.pid);
    signal(current.pid, 'SIGKILL');
    for (const pid of backends) signal(pid, 'SIGKILL');
    await exited;
    // A restart finds the old shared memory in use until every backend is gone.
    const deadline = Date.now() + 5_000;
    while (backends.some(alive) && Date.now() < deadline) await sleep(POLL_INTERVAL_MS);
  };

  for (let attempt = 1; ; attempt++) {
    port = await getFreePort(LOOPBACK, RESERVED_PORTS);
    try {
      await launch();
      break;
    } catch (error) {
      await kill();
      if (!(error as { addressInUse?: boolean }).addressInUse || attempt >= MAX_PORT_ATTEMPTS) {
        rmSync(dir, { recursive: true, force: true });
        throw error;
      }
    }
  }

  const urlOf = (database: string) => `postgres://postgres@${LOOPBACK}:${port}/${database}`;
  return {
    name,
    host: LOOPBACK,
    get port() {
      return port;
    },
    get url() {
      return urlOf('postgres');
    },
    get pid() {
      return child?.pid;
    },
    dir,
    urlOf,
    createDatabase: async (database) => {
      if (!/^[a-z_][a-z0-9_]*$/.test(database)) throw new Error(`pg-fixture: bad database name ${database}`);
      const client = new pg.Client({ connectionString: urlOf('postgres') });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${database}`);
      } finally {
        await client.end();
      }
      return urlOf(database);
    },
    kill,
    pause: () => {
      const pid = child?.pid;
      if (pid === undefined) throw new Error(`${name}: pause() while not running`);
      for (const p of [pid, ...childPids(pid)]) signal(p, 'SIGSTOP');
    },
    resume: () => {
      const pid = child?.pid;
      if (pid === undefined) return;
      for (const p of [pid, ...childPids(pid)]) signal(p, 'SIGCONT');
    },
    restart: async () => {
      if (stopping) throw new Error(`${name}: restart() after stop()`);
      await kill();
      await launch();
    },
    stop: () => {
      stopping ??= (async () => {
        const current = child;
        if (current?.pid) {
          signal(current.pid, 'SIGQUIT');
          const gone = await Promise.race([exited.then(() => true), sleep(5_000).then(() => false)]);
          if (!gone) await kill();
        }
        rmSync(dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}

/** Whether the server on `port` accepts a connection and is the one whose data dir is `data` (ours, not another). */
async function answers(port: number, data: string): Promise<boolean> {
  const client = new pg.Client({
    host: LOOPBACK,
    port,
    user: 'postgres',
    database: 'postgres',
    connectionTimeoutMillis: 1000,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    const { rows } = await client.query<{ data_directory: string }>('SHOW data_directory');
    return rows[0]?.data_directory === data;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Pids whose parent is `parent`, from /proc. */
function childPids(parent: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Field 4 (ppid) follows the command name, which is in parentheses and may contain spaces.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

/** Whether `pid` still runs (a zombie, dead but not yet reaped by init, does not). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

function tail(text: string): string {
  return `--- postgres log (tail) ---\n${text.trimEnd().split('\n').slice(-20).join('\n')}`;
}

/** Runs one statement on a connection of its own to `url` and returns its rows. */
export async function pgQuery<R extends pg.QueryResultRow>(url: string, sql: string): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(sql)).rows;
  } finally {
    await client.end();
  }
}
