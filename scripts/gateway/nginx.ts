/**
 * Finding the nginx program and laying out a prefix directory for it: the
 * shared part of `npm run gateway` and the gateway tests. nginx runs as
 * `nginx -p PREFIX -c nginx.conf -e stderr`; the rendered config keeps every
 * path relative to PREFIX (logs/, temp/, nginx.pid), so the same file runs
 * anywhere.
 */
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

/** Where nginx is looked for besides PATH (Debian installs it in /usr/sbin, often not on a user's PATH). */
const NGINX_DIRS = ['/usr/sbin', '/usr/local/sbin', '/usr/local/nginx/sbin'];

/** True when `path` is a file this process may execute. */
export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The nginx executable on `path` (PATH's form) or in `dirs`, or undefined when it is not installed. */
export function findNginx(path = process.env.PATH ?? '', dirs: readonly string[] = NGINX_DIRS): string | undefined {
  return [...path.split(delimiter).filter(Boolean), ...dirs].map((dir) => join(dir, 'nginx')).find(isExecutable);
}

/** What to tell someone whose machine has no nginx. */
export const NGINX_MISSING = `nginx is not installed (looked in PATH and ${NGINX_DIRS.join(', ')}): install it, e.g. apt-get install nginx`;

/** The pid file, relative to the prefix, as the rendered config names it. */
const PID_FILE = 'nginx.pid';

/** Writes `conf` as PREFIX/nginx.conf and makes logs/ and temp/; returns nginx's arguments for that prefix. */
export async function preparePrefix(prefix: string, conf: string): Promise<string[]> {
  await mkdir(join(prefix, 'logs'), { recursive: true });
  await mkdir(join(prefix, 'temp'), { recursive: true });
  await writeFile(join(prefix, 'nginx.conf'), conf);
  await rm(join(prefix, PID_FILE), { force: true });
  return ['-p', prefix, '-c', 'nginx.conf', '-e', 'stderr'];
}

/**
 * Resolves with nginx's master pid once it is serving: nginx writes its pid
 * file only after it has bound its listening sockets. Undefined when the
 * process exits first (a bad config, a port in use) or after `ms`.
 */
export async function servingPid(prefix: string, child: ChildProcess, ms: number): Promise<number | undefined> {
  const until = Date.now() + ms;
  while (Date.now() < until && child.exitCode === null && child.signalCode === null) {
    const pid = Number.parseInt(await readFile(join(prefix, PID_FILE), 'utf8').catch(() => ''), 10);
    if (pid === child.pid) return pid;
    await new Promise((r) => setTimeout(r, 50));
  }
  return undefined;
}
