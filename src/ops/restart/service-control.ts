/**
 * How the restart orchestrator stops and starts a service, behind one
 * interface (docs/operations.md, "The daily restart"): plain processes (one
 * `main --actors=NAME` per service: stopped with `POST /admin/shutdown`, and
 * SIGKILL by the pid its health report gives if it will not go; started as a
 * detached child with its log in `QT_DATA_DIR/logs/`) or systemd units
 * (`systemctl stop|start quantum-trader-NAME.service`). Either way a service
 * counts as stopped when its `/health` no longer answers and as started
 * when it answers OK.
 */
import { execFile, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pollService } from '../../actors/monitoring/poll-services.js';
import type { ServiceName } from '../../actors/services.js';
import type { HealthReport } from '../../http/health.js';

const run = promisify(execFile);

/** Where a service answers and how long its steps may take. */
export interface ServiceEndpoint {
  readonly service: string;
  /** `http://host:port`. */
  readonly baseUrl: string;
}

/** Stops and starts services. */
export interface ServiceControl {
  readonly kind: 'process' | 'systemd';
  /** Stops the service; resolves once its `/health` no longer answers. Already stopped is fine. */
  stop(endpoint: ServiceEndpoint, timeoutMs: number): Promise<string>;
  /** Starts the service; resolves once its `/health` answers OK. Already running and OK is fine. */
  start(endpoint: ServiceEndpoint, timeoutMs: number): Promise<string>;
}

/** A service's health report (a DOWN one too), or null when nothing answers or not its report: monitoring's poll. */
export async function readHealth(endpoint: ServiceEndpoint, timeoutMs = 2_000): Promise<HealthReport | null> {
  const target = { service: endpoint.service as ServiceName, critical: false, baseUrl: endpoint.baseUrl };
  return (await pollService(target, { timeoutMs, slowMs: Number.POSITIVE_INFINITY })).report;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Reads until `done` says the reading will do or the deadline passes; the last reading either way. */
export async function poll<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs: number,
  everyMs = 200,
): Promise<{ ok: boolean; last: T }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const last = await read();
    if (done(last)) return { ok: true, last };
    if (Date.now() >= deadline) return { ok: false, last };
    await sleep(everyMs);
  }
}

/** Polls until `done` or the deadline; true when done. */
async function until(done: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  return (await poll(done, (v) => v, timeoutMs)).ok;
}

/** Waits for the service to answer OK; throws naming what it last said. */
async function awaitHealthy(
  endpoint: ServiceEndpoint,
  timeoutMs: number,
  exited?: () => string | null,
): Promise<string> {
  let last: HealthReport | null = null;
  let gone: string | null = null;
  const ok = await until(async () => {
    gone = exited?.() ?? null;
    if (gone !== null) return true;
    last = await readHealth(endpoint);
    return last?.status === 'OK';
  }, timeoutMs);
  if (gone !== null) throw new Error(`${endpoint.service} exited while starting: ${gone}`);
  const seen = last as HealthReport | null;
  if (!ok)
    throw new Error(
      `${endpoint.service} not OK within ${timeoutMs} ms (${seen ? `last answered ${seen.status}` : 'no answer'})`,
    );
  return `${endpoint.service} OK (pid ${seen?.pid ?? '?'})`;
}

/**
 * True while a process of this host has `pid` (signal 0 probes without
 * signalling); unknown counts as gone, and so does a zombie (exited, not
 * yet reaped by a parent that may never reap it).
 */
function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/** The command that runs `main`: this checkout's, compiled or through tsx as this process runs. */
export function mainCommand(): { command: string; args: string[] } {
  const here = fileURLToPath(import.meta.url);
  const ext = here.endsWith('.ts') ? '.ts' : '.js';
  const main = fileURLToPath(new URL(`../../main${ext}`, import.meta.url));
  return { command: process.execPath, args: [...process.execArgv, main] };
}

/**
 * Plain processes on this host, one per service. Started with the
 * orchestrator's own environment (the services' settings), logs appended
 * to `DATA_DIR/logs/SERVICE.log`, pid in `DATA_DIR/run/SERVICE.pid`.
 */
export class ProcessControl implements ServiceControl {
  readonly kind = 'process' as const;
  readonly #dataDir: string;
  readonly #adminToken: string | undefined;
  readonly #env: NodeJS.ProcessEnv;

  constructor(options: { dataDir: string; adminToken: string | undefined; env?: NodeJS.ProcessEnv }) {
    this.#dataDir = options.dataDir;
    this.#adminToken = options.adminToken;
    this.#env = options.env ?? process.env;
  }

  async stop(endpoint: ServiceEndpoint, timeoutMs: number): Promise<string> {
    const report = await readHealth(endpoint);
    if (report === null) return `${endpoint.service} was not running`;
    if (!this.#adminToken) throw new Error('stopping a service needs QT_ADMIN_TOKEN (POST /admin/shutdown)');
    const response = await fetch(`${endpoint.baseUrl}/admin/shutdown`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.#adminToken}` },
      signal: AbortSignal.timeout(5_000),
    }).catch((err: Error) => err);
    const asked = response instanceof Error ? `not asked (${response.message})` : `asked (HTTP ${response.status})`;
    // Its HTTP closes first; the process is gone only once its pid is (its disk buffer and actors released).
    const gone = async () => (await readHealth(endpoint)) === null && !alive(report.pid);
    if (await until(gone, timeoutMs)) return `${endpoint.service} stopped (pid ${report.pid ?? '?'} exited), ${asked}`;
    if (report.pid === undefined) throw new Error(`${endpoint.service} still answering after ${timeoutMs} ms`);
    try {
      process.kill(report.pid, 'SIGKILL');
    } catch (err) {
      throw new Error(
        `${endpoint.service} still running after ${timeoutMs} ms; kill ${report.pid}: ${(err as Error).message}`,
      );
    }
    if (await until(gone, 5_000)) return `${endpoint.service} killed (pid ${report.pid}) after ${timeoutMs} ms`;
    throw new Error(`${endpoint.service} still running after SIGKILL of pid ${report.pid}`);
  }

  async start(endpoint: ServiceEndpoint, timeoutMs: number): Promise<string> {
    if ((await readHealth(endpoint))?.status === 'OK') return `${endpoint.service} was already running`;
    const logs = join(this.#dataDir, 'logs');
    const runs = join(this.#dataDir, 'run');
    mkdirSync(logs, { recursive: true });
    mkdirSync(runs, { recursive: true });
    const logFile = join(logs, `${endpoint.service}.log`);
    const out = openSync(logFile, 'a');
    const { command, args } = mainCommand();
    const child = spawn(command, [...args, `--actors=${endpoint.service}`], {
      env: { ...this.#env, QT_LOG_PRETTY: 'false' },
      stdio: ['ignore', out, out],
      detached: true,
    });
    closeSync(out);
    child.unref();
    if (child.pid !== undefined) writeFileSync(join(runs, `${endpoint.service}.pid`), `${child.pid}\n`);
    let exit: string | null = null;
    child.once('exit', (code, signal) => {
      exit = `exit ${code ?? signal}; last log lines:\n${tail(logFile)}`;
    });
    return awaitHealthy(endpoint, timeoutMs, () => exit);
  }
}

function tail(file: string, lines = 8): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** The systemd unit of a service, from a template: `quantum-trader-{service}.service` by default. */
export const DEFAULT_UNIT_TEMPLATE = 'quantum-trader-{service}.service';

/**
 * Runs `systemctl VERB UNIT`; a failure says on one line how it ended and
 * the first thing systemctl said (`exited 1: Job for … failed …`).
 */
async function systemctl(verb: 'stop' | 'start', unit: string, timeoutMs: number): Promise<void> {
  try {
    await run('systemctl', [verb, unit], { timeout: timeoutMs });
  } catch (err) {
    const e = err as Error & { code?: number | string; killed?: boolean; signal?: string | null; stderr?: string };
    const said = (e.stderr ?? '').trim().split('\n')[0] ?? '';
    const how =
      e.code === 'ENOENT'
        ? 'not found on PATH (--control systemd needs a host run by systemd)'
        : e.killed
          ? `did not return within ${timeoutMs} ms`
          : typeof e.code === 'number'
            ? `exited ${e.code}`
            : `failed (${e.signal ?? e.code ?? e.message})`;
    throw new Error(`systemctl ${verb} ${unit} ${how}${said ? `: ${said}` : ''}`);
  }
}

/** How much longer than its stop timeout `systemctl stop` may take: systemd's SIGKILL at the unit's TimeoutStopSec. */
const SYSTEMCTL_STOP_MARGIN_MS = 5_000;

/** systemd units (production): `systemctl stop` / `systemctl start`, then the same health checks. */
export class SystemdControl implements ServiceControl {
  readonly kind = 'systemd' as const;
  readonly #template: string;

  constructor(template = DEFAULT_UNIT_TEMPLATE) {
    this.#template = template;
  }

  #unit(service: string): string {
    return this.#template.replaceAll('{service}', service);
  }

  async stop(endpoint: ServiceEndpoint, timeoutMs: number): Promise<string> {
    const unit = this.#unit(endpoint.service);
    // The units stop within TimeoutStopSec=30, the restart's bound (SIGTERM, then SIGKILL): a little
    // longer here, so systemd's own kill settles a slow stop rather than this timeout.
    await systemctl('stop', unit, timeoutMs + SYSTEMCTL_STOP_MARGIN_MS);
    if (!(await until(async () => (await readHealth(endpoint)) === null, 5_000)))
      throw new Error(`${unit} stopped but ${endpoint.service} still answers`);
    return `${unit} stopped`;
  }

  async start(endpoint: ServiceEndpoint, timeoutMs: number): Promise<string> {
    const unit = this.#unit(endpoint.service);
    await systemctl('start', unit, timeoutMs);
    return `${unit}: ${await awaitHealthy(endpoint, timeoutMs)}`;
  }
}
