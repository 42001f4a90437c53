/**
 * Free loopback ports for the simulator: one for a redis-server (never the
 * default 6379/26379) and one offset at which every service's port is free,
 * so all `main` processes of a run share a `QT_HTTP_PORT_OFFSET`. The
 * service ports are taken below the kernel's ephemeral range: an outgoing
 * connection (to Redis, to the fake venue) takes its local port from that
 * range, and could otherwise take a service's port between the check and
 * the process's listen.
 *
 * A free port is only free at the moment of the check, and processes that
 * pick offsets at the same time (test files run in parallel) could pick
 * overlapping ones. So an offset's ports are also claimed, each by a file
 * created exclusively in a directory under the OS temporary directory,
 * holding the claiming pid; a claim whose process is gone is taken over,
 * and a process's claims are removed when it exits.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SERVICES } from '../../src/actors/services.js';

const RESERVED = new Set([6379, 26379]);

/** A port the kernel hands out on 127.0.0.1 right now, never a reserved Redis port. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
        const address = server.address();
        const port = typeof address === 'object' && address !== null ? address.port : 0;
        server.close(() => resolve(port));
      });
    });
    if (!RESERVED.has(port)) return port;
  }
}

/** True when `port` can be bound on loopback now. */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** The lowest port of the kernel's ephemeral range (Linux's default when it cannot be read). */
async function ephemeralLow(): Promise<number> {
  try {
    const low = Number((await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')).trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 1024) return low;
  } catch {
    // Not Linux: the default range.
  }
  return 32_768;
}

/** The lowest port the simulator gives a service (clear of the well-known and registered databases' ports). */
const LOWEST_SERVICE_PORT = 10_000;

/** An offset at which every service's base port is free now, below the ephemeral range, and none of `avoid` is used. */
export async function freeServiceOffset(avoid: readonly number[] = []): Promise<number> {
  const bases = Object.values(SERVICES).map((s) => s.port);
  const from = LOWEST_SERVICE_PORT - Math.min(...bases);
  const to = (await ephemeralLow()) - 1 - Math.max(...bases);
  for (let attempt = 0; attempt < 50; attempt++) {
    const offset = to > from ? from + Math.floor(Math.random() * (to - from)) : (await freePort()) - Math.min(...bases);
    const ports = bases.map((b) => b + offset);
    if (ports.some((p) => avoid.includes(p) || RESERVED.has(p) || p > 65_535)) continue;
    if ((await Promise.all(ports.map(bindable))).every(Boolean) && claimPorts(ports)) return offset;
  }
  throw new Error('no port offset with every service port free');
}

/** Where the claims are: one file per port, holding the claiming pid. */
export const PORT_CLAIMS_DIR = join(tmpdir(), 'qt-port-claims');
const claimed = new Set<number>();

/**
 * Claims every port of `ports` for this process until it exits, or none of
 * them: false when a live process (this one included) holds one already.
 */
export function claimPorts(ports: readonly number[]): boolean {
  mkdirSync(PORT_CLAIMS_DIR, { recursive: true });
  const taken: number[] = [];
  for (const port of ports) {
    if (!claimOne(port)) {
      for (const p of taken) release(p);
      return false;
    }
    taken.push(port);
  }
  if (claimed.size === 0) process.once('exit', () => claimed.forEach(release));
  for (const p of taken) claimed.add(p);
  return true;
}

function claimOne(port: number): boolean {
  const file = join(PORT_CLAIMS_DIR, String(port));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let text: string;
    try {
      text = readFileSync(file, 'utf8').trim();
    } catch {
      continue; // released meanwhile: try again
    }
    // Empty: just created by a claimer that has not written its pid yet.
    const holder = Number(text);
    if (text === '' || holder === process.pid || isAlive(holder)) return false;
    rmSync(file, { force: true }); // its process is gone
  }
  return false;
}

function release(port: number): void {
  claimed.delete(port);
  rmSync(join(PORT_CLAIMS_DIR, String(port)), { force: true });
}

function isAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
