/**
 * A `systemctl` for tests on a host without systemd as PID 1: an executable
 * script, put first on PATH, that does `systemctl start|stop UNIT` for the
 * project's units in infra/systemd/ as systemd would. `start` runs the
 * unit's ExecStart (with the checkout's `main` through tsx in place of
 * /opt/quantum-trader/dist) detached in a session of its own, in its
 * WorkingDirectory, with a clean environment of its Environment= lines and
 * then its EnvironmentFile (the test's, in place of /etc/quantum-trader),
 * stdout and stderr to a journal file; the pid goes to the state dir.
 * `stop` sends the unit's KillSignal to that process group and waits up to
 * TimeoutStopSec for the process to exit, then SIGKILLs it. Every call is
 * logged with its exit code. Exit codes are systemctl's: 5 for a unit it
 * does not know, 1 for a start that fails (one the test marked with
 * {@link SystemctlStandIn.failStart}), 0 otherwise.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';

const ROOT = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '');

/** One logged call: `systemctl VERB UNIT` and how it exited. */
export interface SystemctlCall {
  readonly verb: string;
  readonly unit: string;
  readonly code: number;
}

/** The stand-in of one test. */
export interface SystemctlStandIn {
  /** The directory holding `systemctl`: put it first on PATH. */
  readonly binDir: string;
  /** Pid files (`run/UNIT.pid`), journals (`journal/UNIT.log`), the env file, the call log. */
  readonly stateDir: string;
  /** Every call so far, in order. */
  calls(): Promise<SystemctlCall[]>;
  /** From now on `systemctl start UNIT` fails (exit 1) and starts nothing. */
  failStart(unit: string): Promise<void>;
  /** The pid of the unit's running main, as the stand-in recorded it. */
  pid(unit: string): Promise<number | undefined>;
  /** Runs the stand-in as an operator would (`systemctl start UNIT`). */
  systemctl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** A unit's journal (its main's stdout and stderr). */
  journal(unit: string): Promise<string>;
}

/** The unit of a service, as infra/systemd names it. */
export const unitOf = (service: string) => `quantum-trader-${service}.service`;

const script = (state: string) => `#!/usr/bin/env bash
# systemctl stand-in for tests (test/support/systemctl-stand-in.ts): start and stop only.
set -u
UNITS=${JSON.stringify(join(ROOT, 'infra/systemd'))}
ROOT=${JSON.stringify(ROOT)}
STATE=${JSON.stringify(state)}
NODE=${JSON.stringify(process.execPath)}
verb="\${1:-}"
unit="\${2:-}"
trap 'echo "$verb $unit $?" >>"$STATE/calls.log"' EXIT
file="$UNITS/$unit"
case "$unit" in
  quantum-trader-*.service) ;;
  *) file=/nonexistent ;;
esac
key() { sed -n "s/^$1=//p" "$file" | head -n 1; }
paths() { sed -e "s#/opt/quantum-trader#$ROOT#g" -e "s#/var/log/quantum-trader#$STATE/log#g" -e "s#/etc/quantum-trader#$STATE/etc#g"; }
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat="\${stat##*) }"
  [ "\${stat%% *}" != Z ]
}
pidfile="$STATE/run/$unit.pid"
running() { [ -f "$pidfile" ] && alive "$(cat "$pidfile")"; }
case "$verb" in
  start|stop) ;;
  *) echo "Unknown command verb '$verb' (the stand-in does start and stop)." >&2; exit 1 ;;
esac
if [ -z "$unit" ] || [ ! -f "$file" ] || ! grep -q -- '--actors=' "$file"; then
  if [ "$verb" = start ]; then echo "Failed to start $unit: Unit $unit not found." >&2
  else echo "Failed to stop $unit: Unit $unit not loaded." >&2; fi
  exit 5
fi
if [ "$verb" = start ]; then
  running && exit 0
  if [ -e "$STATE/fail/$unit" ]; then
    echo "Job for $unit failed because the control process exited with error code." >&2
    echo "See \\"systemctl status $unit\\" and \\"journalctl -xeu $unit\\" for details." >&2
    exit 1
  fi
  read -r -a cmd <<<"$(key ExecStart | sed -e "s#^/usr/bin/node #$NODE --import=tsx #" -e 's#/dist/main.js #/src/main.ts #' | paths)"
  envs=("PATH=$PATH" "HOME=\${HOME:-/}")
  while IFS= read -r line; do envs+=("$line"); done < <(sed -n 's/^Environment=//p' "$file" | paths)
  envfile="$(key EnvironmentFile | paths)"
  while IFS= read -r line; do
    case "$line" in ''|'#'*) ;; *) envs+=("$line") ;; esac
  done <"\${envfile#-}"
  logs="$(key LogsDirectory)"
  [ -n "$logs" ] && mkdir -p "$STATE/log/\${logs#quantum-trader/}"
  mkdir -p "$STATE/run" "$STATE/journal"
  cd "$(key WorkingDirectory | paths)" || exit 1
  setsid env -i "\${envs[@]}" "\${cmd[@]}" </dev/null >>"$STATE/journal/$unit.log" 2>&1 &
  echo $! >"$pidfile"
  exit 0
fi
running || { rm -f "$pidfile"; exit 0; }
pid=$(cat "$pidfile")
signal="$(key KillSignal)"
timeout="$(key TimeoutStopSec)"
timeout="\${timeout%s}"
kill -s "\${signal:-SIGTERM}" -- "-$pid" 2>/dev/null || kill -s "\${signal:-SIGTERM}" "$pid" 2>/dev/null
for _ in $(seq $((\${timeout:-90} * 10))); do
  alive "$pid" || { rm -f "$pidfile"; exit 0; }
  sleep 0.1
done
kill -s KILL -- "-$pid" 2>/dev/null || kill -s KILL "$pid" 2>/dev/null
rm -f "$pidfile"
exit 0
`;

function exec(file: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Writes the stand-in and `env` as its EnvironmentFile
 * (`/etc/quantum-trader/quantum-trader.env` of the units). The teardown
 * SIGKILLs every process group it started and removes its directory.
 */
export async function systemctlStandIn(t: ExecutionContext, env: Record<string, string>): Promise<SystemctlStandIn> {
  const stateDir = await mkdtemp(join(tmpdir(), 'qt-systemctl-'));
  const binDir = join(stateDir, 'bin');
  await Promise.all(['bin', 'etc', 'run', 'fail', 'journal', 'log'].map((d) => mkdir(join(stateDir, d))));
  const bin = join(binDir, 'systemctl');
  await writeFile(bin, script(stateDir));
  await chmod(bin, 0o755);
  await writeFile(
    join(stateDir, 'etc', 'quantum-trader.env'),
    Object.entries(env)
      .map(([k, v]) => `${k}=${v}\n`)
      .join(''),
  );
  const pid = async (unit: string) => {
    const text = await readFile(join(stateDir, 'run', `${unit}.pid`), 'utf8').catch(() => '');
    return text.trim() === '' ? undefined : Number(text);
  };
  t.teardown(async () => {
    for (const file of await readdir(join(stateDir, 'run')).catch(() => [] as string[])) {
      const p = await pid(file.replace(/\.pid$/, ''));
      if (p === undefined) continue;
      for (const target of [-p, p])
        try {
          process.kill(target, 'SIGKILL');
        } catch {
          // already gone
        }
    }
    await rm(stateDir, { recursive: true, force: true });
  });
  return {
    binDir,
    stateDir,
    async calls() {
      const text = await readFile(join(stateDir, 'calls.log'), 'utf8').catch(() => '');
      return text
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => {
          const [verb = '', unit = '', code = ''] = l.split(' ');
          return { verb, unit, code: Number(code) };
        });
    },
    async failStart(unit) {
      await writeFile(join(stateDir, 'fail', unit), '');
    },
    pid,
    systemctl: (...args) => exec(bin, args),
    journal: (unit) => readFile(join(stateDir, 'journal', `${unit}.log`), 'utf8').catch(() => ''),
  };
}
