import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, rmSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis, type RedisOptions } from 'ioredis';
import { getFreePort, RESERVED_PORTS } from './free-port.js';

/** How long a server gets to answer PING after being (re)started before we give up and show its log. */
const READY_TIMEOUT_MS = 10_000;
/** How often readiness and topology conditions are re-checked while waiting. */
const POLL_INTERVAL_MS = 25;
/** How many fresh ports we try when a free port is taken between probing it and redis binding it. */
const MAX_PORT_ATTEMPTS = 5;
/** Local servers only ever listen on loopback: tests must not expose an unauthenticated Redis. */
const LOOPBACK = '127.0.0.1';
const CONTAINER_IMAGE = 'redis:7';

/** Persistence mode of a test server: `none` loses everything on a kill, `aof` fsyncs every write. */
export type RedisPersistence = 'none' | 'aof';

/** Options for {@link startRedis}. */
export interface StartRedisOptions {
  /** `none` (default): no RDB, no AOF. `aof`: append-only file with `appendfsync always`, so data survives a SIGKILL. */
  persistence?: RedisPersistence;
  /** Extra `redis-server` arguments, appended last. Port, bind address, dir and logfile are owned by the fixture. */
  args?: string[];
  /** Human-readable label used in the temp dir name and in error messages. */
  name?: string;
}

/** A host/port pair as reported by Redis Sentinel. */
export interface RedisAddress {
  host: string;
  port: number;
}

/**
 * A Redis server started by this fixture, either a local `redis-server` child process or a container.
 *
 * Everything here acts only on the server this fixture started: there is no way to point it at another one.
 */
export interface RedisServer {
  /** The name given at start, or a default such as `redis`. */
  readonly name: string;
  /** Host to connect to (`127.0.0.1` for local servers). */
  readonly host: string;
  /** TCP port; stays the same across {@link RedisServer.restart}. */
  readonly port: number;
  /** `redis://host:port`. */
  readonly url: string;
  /** The password its config requires (`requirepass`), if any; {@link RedisServer.client} sends it. */
  readonly password: string | undefined;
  /** Pid of the current local `redis-server` process; `undefined` for containers or while killed. */
  readonly pid: number | undefined;
  /** Working directory of the server: a host temp dir for local servers, the path inside the container otherwise. */
  readonly dir: string;
  /** SIGKILLs the server (no graceful shutdown, no final save) and resolves once the process has exited. */
  kill(): Promise<void>;
  /** Starts the server again on the same port with the same dir and arguments, and waits until it answers PING. */
  restart(): Promise<void>;
  /** Disconnects every client made by {@link RedisServer.client}, kills the server and removes its dir. Idempotent. */
  stop(): Promise<void>;
  /** Creates an ioredis client connected to this server; {@link RedisServer.stop} disconnects it. */
  client(options?: RedisOptions): Redis;
}

/** Options for {@link startSentinelGroup}. */
export interface SentinelGroupOptions {
  /** Number of replicas of the master (default 2). */
  replicas?: number;
  /** Number of sentinels (default 3). */
  sentinels?: number;
  /** Sentinels that must agree the master is down before a failover (default 2). */
  quorum?: number;
  /** Name the sentinels monitor the master under (default `qtmaster`). */
  masterName?: string;
  /** `sentinel down-after-milliseconds` (default 1000). */
  downAfterMs?: number;
  /** `sentinel failover-timeout` (default 5000). */
  failoverTimeoutMs?: number;
}

/** A master, its replicas and the sentinels watching them, all started by {@link startSentinelGroup}. */
export interface SentinelGroup {
  /** The server that was master when the group started (it stops being master after a failover). */
  readonly master: RedisServer;
  readonly replicas: RedisServer[];
  readonly sentinels: RedisServer[];
  readonly masterName: string;
  /** Addresses of the sentinels, in the shape ioredis' `sentinels` option expects. */
  readonly sentinelAddrs: RedisAddress[];
  /** Asks the sentinels (first one that answers) for the current master address. */
  currentMaster(): Promise<RedisAddress>;
  /**
   * Waits until the sentinels report a master other than `oldPort` and that node itself reports role master.
   * Rejects after `timeoutMs` (default 15 s).
   */
  waitForFailover(oldPort: number, timeoutMs?: number): Promise<RedisAddress>;
  /** Stops sentinels first (so they do not react to the rest going away), then replicas, then the master. */
  stop(): Promise<void>;
}

/**
 * Starts a Redis server that belongs to the caller alone: in a container when a container runtime is
 * reachable, otherwise as a local `redis-server` child process on a free loopback port.
 *
 * Set `QT_TEST_REDIS=local` to skip container detection, or `QT_TEST_REDIS=container` to require it.
 * The local path needs `redis-server` on PATH. Call {@link RedisServer.stop} when done; if the test
 * process dies without it, the server is still killed, but after a signal death its temp dir remains.
 */
export async function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  const name = options.name ?? 'redis';
  const persistence = options.persistence ?? 'none';
  const extra = options.args ?? [];
  assertNoOwnedArgs(extra);
  if (await containerRuntimeAvailable()) return startContainer(name, persistence, extra);
  return spawnLocal(localServerSpec(name, extra, persistence));
}

/**
 * Starts a Redis Sentinel topology for failover tests: one master, `replicas` replicas and `sentinels`
 * sentinels, all local `redis-server` processes on free loopback ports. Resolves once every sentinel
 * sees all replicas and all other sentinels, so a failover can actually happen.
 *
 * Always local, even when a container runtime is available: sentinels hand out the addresses replicas
 * announce, and with Docker port mapping those are container-internal and unreachable from the test.
 */
export async function startSentinelGroup(options: SentinelGroupOptions = {}): Promise<SentinelGroup> {
  const replicaCount = options.replicas ?? 2;
  const sentinelCount = options.sentinels ?? 3;
  const quorum = options.quorum ?? 2;
  const masterName = options.masterName ?? 'qtmaster';
  const downAfterMs = options.downAfterMs ?? 1000;
  const failoverTimeoutMs = options.failoverTimeoutMs ?? 5000;
  // The name is written into a config file; keep it to characters that need no quoting there.
  if (!/^[A-Za-z0-9._-]+$/.test(masterName)) throw new Error(`startSentinelGroup: invalid masterName ${masterName}`);
  if (quorum < 1 || quorum > sentinelCount) throw new Error(`startSentinelGroup: quorum ${quorum} out of range`);

  return startSentinelTopology({
    masterName,
    master: localServerSpec('master', []),
    replicas: Array.from(
      { length: replicaCount },
      (_, i) => (masterPort) => localServerSpec(`replica-${i + 1}`, ['--replicaof', LOOPBACK, String(masterPort)]),
    ),
    sentinels: Array.from({ length: sentinelCount }, (_, i) => (masterPort) => ({
      name: `sentinel-${i + 1}`,
      argv: async (port: number, dir: string, logfile: string) => {
        const conf = join(dir, 'sentinel.conf');
        // Sentinel rewrites this file at runtime, so it must live in a dir the sentinel can write to.
        await writeFile(
          conf,
          [
            `port ${port}`,
            `bind ${LOOPBACK}`,
            `dir ${dir}`,
            `logfile ${logfile}`,
            'daemonize no',
            'protected-mode no',
            'sentinel resolve-hostnames no',
            `sentinel monitor ${masterName} ${LOOPBACK} ${masterPort} ${quorum}`,
            `sentinel down-after-milliseconds ${masterName} ${downAfterMs}`,
            `sentinel failover-timeout ${masterName} ${failoverTimeoutMs}`,
            '',
          ].join('\n'),
        );
        return [conf, '--sentinel'];
      },
    })),
  });
}

/** What {@link startSentinelTopology} starts: the master, then each replica and sentinel given the master's port. */
export interface SentinelTopologySpec {
  readonly masterName: string;
  readonly master: LocalSpec;
  readonly replicas: readonly ((masterPort: number) => LocalSpec)[];
  readonly sentinels: readonly ((masterPort: number) => LocalSpec)[];
}

/**
 * Starts a master, its replicas and its sentinels from the given specs (each a local `redis-server` on a
 * free loopback port) and resolves once every sentinel sees all replicas and all other sentinels. Used by
 * {@link startSentinelGroup} and by test/support/sentinel-files.ts, which runs the shipped infra/redis files.
 */
export async function startSentinelTopology(spec: SentinelTopologySpec): Promise<SentinelGroup> {
  const { masterName } = spec;
  const replicaCount = spec.replicas.length;
  const sentinelCount = spec.sentinels.length;
  const started: RedisServer[] = [];
  // Starts several servers in parallel, but remembers every one that came up so a failure can clean up.
  const startAll = async (specs: LocalSpec[]): Promise<RedisServer[]> => {
    const results = await Promise.allSettled(specs.map(spawnLocal));
    for (const r of results) if (r.status === 'fulfilled') started.push(r.value);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    return results.map((r) => (r as PromiseFulfilledResult<RedisServer>).value);
  };

  try {
    const [master] = await startAll([spec.master]);
    if (!master) throw new Error('startSentinelTopology: master did not start');
    const replicas = await startAll(spec.replicas.map((replica) => replica(master.port)));
    // Sentinels learn about replicas from the master's INFO, which they refresh only every 10 s; if the
    // replicas are already attached when a sentinel first connects, it sees them right away.
    await waitUntil(`${replicaCount} replicas attached to master ${master.port}`, 15_000, async () => {
      const info = await command(master, 'INFO', 'replication');
      return typeof info === 'string' && infoField(info, 'connected_slaves') === String(replicaCount);
    });

    const sentinels = await startAll(spec.sentinels.map((sentinel) => sentinel(master.port)));
    // Sentinels find each other through hello messages on the master (every 2 s); until they do, a
    // quorum cannot be reached and a failover test would time out for the wrong reason.
    await waitUntil(`${sentinelCount} sentinels to see the whole topology`, 15_000, async () => {
      for (const sentinel of sentinels) {
        const seenReplicas = await command(sentinel, 'SENTINEL', 'replicas', masterName);
        const seenSentinels = await command(sentinel, 'SENTINEL', 'sentinels', masterName);
        if (!Array.isArray(seenReplicas) || seenReplicas.length !== replicaCount) return false;
        if (!Array.isArray(seenSentinels) || seenSentinels.length !== sentinelCount - 1) return false;
      }
      return true;
    });

    const ownPorts = new Map(started.map((s) => [s.port, s]));
    const currentMaster = async (): Promise<RedisAddress> => {
      let lastError: unknown;
      // Any sentinel will do; tests may kill some of them, so fall through to the next one.
      for (const sentinel of sentinels) {
        try {
          const reply = await command(sentinel, 'SENTINEL', 'get-master-addr-by-name', masterName);
          if (Array.isArray(reply) && reply.length === 2) return { host: String(reply[0]), port: Number(reply[1]) };
          lastError = new Error(`unexpected reply ${JSON.stringify(reply)}`);
        } catch (error) {
          lastError = error;
        }
      }
      throw new Error(`no sentinel of ${masterName} answered get-master-addr-by-name`, { cause: lastError });
    };

    return {
      master,
      replicas,
      sentinels,
      masterName,
      sentinelAddrs: sentinels.map((s) => ({ host: s.host, port: s.port })),
      currentMaster,
      waitForFailover: async (oldPort, timeoutMs = 15_000) => {
        let found: RedisAddress | undefined;
        await waitUntil(`failover of ${masterName} away from port ${oldPort}`, timeoutMs, async () => {
          const addr = await currentMaster();
          if (addr.port === oldPort) return false;
          // Only ever talk to servers of this group, whatever the sentinels say.
          const node = ownPorts.get(addr.port);
          if (!node)
            throw new Error(`sentinels report master ${addr.host}:${addr.port}, which this group did not start`);
          const role = await command(node, 'ROLE');
          if (!Array.isArray(role) || role[0] !== 'master') return false;
          found = addr;
          return true;
        });
        return found!;
      },
      stop: async () => {
        for (const tier of [sentinels, replicas, [master]]) await Promise.allSettled(tier.map((s) => s.stop()));
      },
    };
  } catch (error) {
    await Promise.allSettled(started.map((s) => s.stop()));
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------------
// Local processes
// ---------------------------------------------------------------------------------------------------

/**
 * What to run: `argv` builds the `redis-server` arguments for a port (it may write config files into `dir`);
 * `password` is what the config's `requirepass` asks for, if anything.
 */
export interface LocalSpec {
  name: string;
  argv(port: number, dir: string, logfile: string): Promise<string[]>;
  password?: string;
}

interface Launched {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>;
}

class StartError extends Error {
  constructor(
    message: string,
    readonly addressInUse: boolean,
  ) {
    super(message);
    this.name = 'StartError';
  }
}

/** Every child we spawned that has not exited yet; the exit hook SIGKILLs them. */
const liveChildren = new Set<ChildProcess>();
/** Temp dirs of local servers not yet stopped; the exit hook removes them. */
const liveDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous; kill() and rmSync() are. This catches test files that crash or
  // forget stop(), so no redis-server or temp dir outlives the test process.
  process.on('exit', cleanUpSync);
  // No SIGTERM/SIGINT handlers: with signal-exit (loaded by testcontainers) also listening, each would
  // defer to the other and the process would no longer die of the signal. Signal deaths of the test
  // process, e.g. ava's timeout SIGTERMing a worker, are covered by the parent-death signal instead
  // (see redisServerCommand).
}

function cleanUpSync(): void {
  for (const child of liveChildren) {
    try {
      child.kill('SIGKILL');
    } catch {
      // Already gone; nothing else to do while exiting.
    }
  }
  for (const dir of liveDirs) {
    try {
      // Retries cover a dying server still creating files in the dir.
      rmSync(dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 10 });
    } catch {
      // Best effort: a leftover temp dir is harmless, a throwing exit handler is not.
    }
  }
  liveDirs.clear();
}

function localServerSpec(name: string, extra: string[], persistence: RedisPersistence = 'none'): LocalSpec {
  return {
    name,
    argv: (port, dir, logfile) =>
      Promise.resolve(serverArgs({ port, bind: LOOPBACK, dir, logfile, persistence, extra })),
  };
}

/** Arguments for a plain (non-sentinel) server; shared by the local and the container path. */
function serverArgs(o: {
  port: number;
  bind: string;
  dir: string;
  logfile: string;
  persistence: RedisPersistence;
  extra: string[];
}): string[] {
  const persistence =
    o.persistence === 'aof' ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
  return [
    ...['--port', String(o.port), '--bind', o.bind, '--dir', o.dir, '--logfile', o.logfile],
    // No RDB snapshots: they would make 'none' survive restarts and slow tests down with forks.
    ...['--save', ''],
    ...persistence,
    ...['--protected-mode', 'no', '--daemonize', 'no'],
    ...o.extra,
  ];
}

const OWNED_ARGS = new Set(['--port', '--bind', '--dir', '--logfile', '--daemonize']);

function assertNoOwnedArgs(args: string[]): void {
  const owned = args.find((a) => OWNED_ARGS.has(a.toLowerCase()));
  // Letting callers move the port or dir would defeat the "only ever touch our own server" guarantee.
  if (owned) throw new Error(`startRedis: ${owned} is managed by the fixture and cannot be passed in args`);
}

/**
 * The one way this module starts a local `redis-server` (plain or sentinel): a fresh temp dir, a free
 * loopback port (retried if someone else grabs it first), and a server object that only ever acts on
 * the process it spawned.
 */
async function spawnLocal(spec: LocalSpec): Promise<RedisServer> {
  installExitHook();
  const dir = await mkdtemp(join(tmpdir(), `qt-redis-${spec.name.replace(/[^A-Za-z0-9_-]/g, '_')}-`));
  const logfile = join(dir, 'redis.log');
  liveDirs.add(dir);

  let port = 0;
  let args: string[] = [];
  let current: Launched | undefined;
  try {
    for (let attempt = 1; ; attempt++) {
      port = await getFreePort(LOOPBACK, RESERVED_PORTS);
      args = await spec.argv(port, dir, logfile);
      try {
        current = await launchAndWait(spec.name, args, dir, logfile, port, spec.password);
        break;
      } catch (error) {
        if (error instanceof StartError && error.addressInUse && attempt < MAX_PORT_ATTEMPTS) continue;
        throw error;
      }
    }
  } catch (error) {
    await removeDir(dir);
    throw error;
  }

  const clients = new Set<Redis>();
  let stopping: Promise<void> | undefined;

  const kill = async (): Promise<void> => {
    const launched = current;
    if (!launched) return;
    await killChild(launched);
    if (current === launched) current = undefined;
  };

  return {
    name: spec.name,
    host: LOOPBACK,
    port,
    url: `redis://${LOOPBACK}:${port}`,
    password: spec.password,
    get pid() {
      return current?.child.pid;
    },
    dir,
    kill,
    restart: async () => {
      if (stopping) throw new Error(`${spec.name}: restart() after stop()`);
      await kill();
      // Same port, dir and argv: with AOF the data comes back, without it the server starts empty.
      // No port retry here: callers rely on the port staying the same.
      current = await launchAndWait(spec.name, args, dir, logfile, port, spec.password);
    },
    stop: () => {
      stopping ??= (async () => {
        for (const c of clients) c.disconnect();
        clients.clear();
        await kill();
        await removeDir(dir);
      })();
      return stopping;
    },
    client: (options) => {
      if (stopping) throw new Error(`${spec.name}: client() after stop()`);
      return trackedClient(clients, {
        ...(spec.password === undefined ? {} : { password: spec.password }),
        ...options,
        host: LOOPBACK,
        port,
      });
    },
  };
}

async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  liveDirs.delete(dir);
}

/** Spawns `redis-server args` and waits until it is ready; on failure the child is killed before rejecting. */
async function launchAndWait(
  name: string,
  args: string[],
  dir: string,
  logfile: string,
  port: number,
  password?: string,
): Promise<Launched> {
  // Only log lines written by this launch count: on restart the file still holds the previous run.
  const logOffset = await stat(logfile).then(
    (s) => s.size,
    () => 0,
  );
  const launched = launch(args, dir);
  try {
    await waitReady(name, launched, port, logfile, logOffset, dir, password);
    return launched;
  } catch (error) {
    await killChild(launched);
    throw error;
  }
}

let serverCommand: string[] | undefined;

/**
 * The command that runs `redis-server`: through `setpriv --pdeathsig KILL` where available, so the kernel
 * SIGKILLs the server when the test process dies in a way no 'exit' handler sees (a signal, SIGKILL).
 * setpriv execs redis-server in place, so the pid we get is still the server's own.
 */
function redisServerCommand(): string[] {
  serverCommand ??=
    spawnSync('setpriv', ['--pdeathsig', 'KILL', 'true'], { stdio: 'ignore' }).status === 0
      ? ['setpriv', '--pdeathsig', 'KILL', 'redis-server']
      : ['redis-server'];
  return serverCommand;
}

function launch(args: string[], dir: string): Launched {
  // stdout/stderr go to a file rather than a pipe: config errors are printed there before the logfile is
  // opened, and a file needs no open handle in this process.
  const out = openSync(join(dir, 'stdout.log'), 'a');
  let child: ChildProcess;
  try {
    const [file, ...prefix] = redisServerCommand();
    child = spawn(file!, [...prefix, ...args], { cwd: dir, stdio: ['ignore', out, out] });
  } finally {
    closeSync(out);
  }
  const exited = new Promise<Awaited<Launched['exited']>>((resolve) => {
    child.once('exit', (code, signal) => {
      liveChildren.delete(child);
      resolve({ code, signal });
    });
    child.once('error', (error) => {
      // 'error' without a pid means spawning failed (e.g. redis-server not on PATH); later errors are from kill().
      if (child.pid === undefined) resolve({ code: null, signal: null, error });
    });
  });
  if (child.pid !== undefined) liveChildren.add(child);
  // Do not keep the test process alive just because a server is running; the exit hook kills it.
  child.unref();
  return { child, exited };
}

async function killChild(launched: Launched): Promise<void> {
  const { child } = launched;
  if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
    // Re-ref while waiting, otherwise an otherwise idle process could exit before 'exit' arrives.
    child.ref();
    child.kill('SIGKILL');
  }
  await launched.exited;
}

async function waitReady(
  name: string,
  launched: Launched,
  port: number,
  logfile: string,
  logOffset: number,
  dir: string,
  password?: string,
): Promise<void> {
  let exit: Awaited<Launched['exited']> | undefined;
  void launched.exited.then((e) => {
    exit = e;
  });
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const log = await readLogSince(logfile, logOffset);
    if (exit) {
      if (exit.error) throw new StartError(`${name}: could not run redis-server: ${exit.error.message}`, false);
      throw new StartError(
        `${name}: redis-server on port ${port} exited (code ${exit.code}, signal ${exit.signal}) before becoming ready\n` +
          (await logTail(dir, logfile, logOffset)),
        /Address already in use/i.test(log),
      );
    }
    // "Running mode=" is logged once the listening socket is bound (sentinels never log "Ready to accept
    // connections"). Only then do we connect, so we never talk to a port our process does not own yet.
    if (/Running mode=|Ready to accept connections/.test(log) && (await probe(port, launched.child.pid, password)))
      return;
    if (Date.now() > deadline) {
      throw new StartError(
        `${name}: redis-server on port ${port} did not answer PING within ${READY_TIMEOUT_MS} ms\n` +
          (await logTail(dir, logfile, logOffset)),
        false,
      );
    }
    await sleep(POLL_INTERVAL_MS);
  }
}

async function readLogSince(logfile: string, offset: number): Promise<string> {
  try {
    return (await readFile(logfile)).subarray(offset).toString('utf8');
  } catch {
    return '';
  }
}

async function logTail(dir: string, logfile: string, offset: number): Promise<string> {
  const tail = (text: string) => text.trimEnd().split('\n').slice(-20).join('\n');
  const stdout = await readLogSince(join(dir, 'stdout.log'), 0);
  return `--- ${logfile} (tail) ---\n${tail(await readLogSince(logfile, offset))}\n--- stdout/stderr (tail) ---\n${tail(stdout)}`;
}

/**
 * Sends `PING` and `INFO server` (after `AUTH` when the server has a password) over a raw socket and
 * reports whether the server answers PONG (not LOADING) and is the process we spawned. A raw socket keeps
 * probing free of client retry logic and error-event noise.
 */
function probe(port: number, pid: number | undefined, password?: string, timeoutMs = 500): Promise<boolean> {
  if (pid === undefined) return Promise.resolve(false);
  return new Promise((resolve) => {
    const socket = connect({ host: LOOPBACK, port });
    let buffer = '';
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('error', () => done(false));
    const auth = password === undefined ? '' : `AUTH ${password}\r\n`;
    let authed = password === undefined;
    socket.once('connect', () => socket.write(`${auth}PING\r\nINFO server\r\n`));
    socket.on('data', (chunk: Buffer) => {
      // latin1 keeps one char per byte, so RESP bulk lengths can be compared with string lengths.
      buffer += chunk.toString('latin1');
      if (!authed) {
        const authEnd = buffer.indexOf('\r\n');
        if (authEnd < 0) return;
        if (buffer.slice(0, authEnd) !== '+OK') return done(false);
        buffer = buffer.slice(authEnd + 2);
        authed = true;
      }
      const firstEnd = buffer.indexOf('\r\n');
      if (firstEnd < 0) return;
      if (buffer.slice(0, firstEnd) !== '+PONG') return done(false);
      const rest = buffer.slice(firstEnd + 2);
      const header = /^\$(\d+)\r\n/.exec(rest);
      if (!header) {
        if (rest.includes('\r\n')) done(false);
        return;
      }
      const end = header[0].length + Number(header[1]);
      if (rest.length < end) return;
      done(new RegExp(`^process_id:${pid}\\r?$`, 'm').test(rest.slice(header[0].length, end)));
    });
  });
}

// ---------------------------------------------------------------------------------------------------
// Containers
// ---------------------------------------------------------------------------------------------------

let runtimeDetection: Promise<boolean> | undefined;

/** Whether a container runtime is reachable; detected once per process because it does not change. */
function containerRuntimeAvailable(): Promise<boolean> {
  const mode = process.env.QT_TEST_REDIS;
  if (mode === 'local') return Promise.resolve(false);
  runtimeDetection ??= (async () => {
    // Imported lazily: testcontainers is slow to load and not needed at all with QT_TEST_REDIS=local.
    const { getContainerRuntimeClient } = await import('testcontainers');
    try {
      await getContainerRuntimeClient();
      return true;
    } catch (error) {
      // testcontainers fails fast with exactly this when there is no runtime; anything else is a real
      // problem with a runtime that exists and should surface instead of silently falling back.
      if (mode !== 'container' && /Could not find a working container runtime strategy/.test(String(error))) {
        return false;
      }
      throw error;
    }
  })();
  return runtimeDetection;
}

/**
 * Container variant of a {@link RedisServer}.
 *
 * UNTESTED on the machine this was written on (it has no Docker engine); kept deliberately small. The
 * host port is pinned so that restart() keeps it, which assumes the Docker host is this machine.
 */
async function startContainer(name: string, persistence: RedisPersistence, extra: string[]): Promise<RedisServer> {
  const { GenericContainer, Wait, getContainerRuntimeClient } = await import('testcontainers');
  const hostPort = await getFreePort(LOOPBACK, RESERVED_PORTS);
  const dir = '/data';
  // Inside the container: listen on all interfaces (needed for port mapping) and log to stdout so the
  // wait strategy can see "Ready to accept connections".
  const command = [
    'redis-server',
    ...serverArgs({ port: 6379, bind: '0.0.0.0', dir, logfile: '', persistence, extra }),
  ];
  const container = await new GenericContainer(CONTAINER_IMAGE)
    .withCommand(command)
    .withExposedPorts({ container: 6379, host: hostPort })
    .withWaitStrategy(Wait.forLogMessage('Ready to accept connections'))
    .withStartupTimeout(READY_TIMEOUT_MS)
    .start();
  const host = container.getHost();
  const clients = new Set<Redis>();
  let running = true;
  let stopping: Promise<void> | undefined;

  const kill = async (): Promise<void> => {
    if (!running) return;
    // Not container.stop(): testcontainers caches the first stop and would turn the final stop() into a no-op.
    const runtime = await getContainerRuntimeClient();
    const handle = runtime.container.getById(container.getId());
    await handle.kill({ signal: 'SIGKILL' });
    await handle.wait();
    running = false;
  };

  return {
    name,
    host,
    port: hostPort,
    url: `redis://${host}:${hostPort}`,
    password: undefined,
    pid: undefined,
    dir,
    kill,
    restart: async () => {
      if (stopping) throw new Error(`${name}: restart() after stop()`);
      await kill();
      // The container (and its /data) is kept across kill, so AOF data survives; the port binding is fixed.
      await container.restart();
      running = true;
    },
    stop: () => {
      stopping ??= (async () => {
        for (const c of clients) c.disconnect();
        clients.clear();
        await container.stop({ timeout: 0 });
        running = false;
      })();
      return stopping;
    },
    client: (options) => {
      if (stopping) throw new Error(`${name}: client() after stop()`);
      return trackedClient(clients, { ...options, host, port: hostPort });
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------------------------

function trackedClient(clients: Set<Redis>, options: RedisOptions): Redis {
  const client = new Redis({ lazyConnect: false, maxRetriesPerRequest: 1, ...options });
  clients.add(client);
  client.once('end', () => clients.delete(client));
  // These servers get killed on purpose; without a listener ioredis prints every connection error.
  // Commands still reject with the error, so tests see failures where they matter.
  client.on('error', () => {});
  return client;
}

/** Runs one command on a short-lived client that fails fast instead of reconnecting. */
async function command(server: RedisServer, name: string, ...args: string[]): Promise<unknown> {
  const client = server.client({ retryStrategy: () => null, connectTimeout: 1000, enableReadyCheck: false });
  try {
    return await client.call(name, ...args);
  } finally {
    client.disconnect();
  }
}

async function waitUntil(what: string, timeoutMs: number, condition: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await condition()) return;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: lastError });
    await sleep(Math.max(POLL_INTERVAL_MS, 100));
  }
}

function infoField(info: string, field: string): string | undefined {
  return new RegExp(`^${field}:(.*?)\\r?$`, 'm').exec(info)?.[1];
}
