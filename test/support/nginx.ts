/**
 * A real nginx running the shipped gateway config for one test: rendered by
 * scripts/gateway/render.ts from infra/nginx/gateway.json with only the
 * listen address (127.0.0.1 and a free port, never 80 or 8088), the upstream
 * host and the port offset changed, in a temp prefix dir, started as
 * `nginx -p DIR -c nginx.conf -e stderr` and stopped by pid on teardown.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { findNginx, preparePrefix, servingPid } from '../../scripts/gateway/nginx.js';
import { renderNginxConf } from '../../scripts/gateway/render.js';
import { loadGatewaySettings } from '../../scripts/gateway/settings.js';
import { getFreePort, RESERVED_PORTS } from './free-port.js';

/** The nginx program, or undefined when it is not installed (the gateway tests are then skipped). */
export const NGINX = findNginx();

/** Ports a test gateway never listens on: the shipped one and HTTP's. */
const GATEWAY_RESERVED = new Set([...RESERVED_PORTS, 80, 8088]);

/** A gateway nginx started by {@link startGateway}. */
export interface Gateway {
  readonly url: string;
  readonly prefix: string;
  readonly pid: number;
  /** Everything nginx wrote to stderr so far. */
  out(): string;
  /** The access log's records (one JSON object a line). */
  accessLog(): Promise<Record<string, unknown>[]>;
}

/**
 * Starts nginx with the shipped config in front of services at `portOffset`
 * (as `main`'s QT_HTTP_PORT_OFFSET) on 127.0.0.1. Retries on a new port when
 * the chosen one was taken meanwhile. Stopped (SIGTERM by pid, then awaited)
 * and its prefix removed on teardown.
 */
export async function startGateway(t: ExecutionContext, portOffset: number): Promise<Gateway> {
  if (NGINX === undefined) throw new Error('nginx is not installed');
  const prefix = await mkdtemp(join(tmpdir(), 'qt-gateway-'));
  t.teardown(() => rm(prefix, { recursive: true, force: true }));
  for (let attempt = 1; ; attempt++) {
    const port = await getFreePort('127.0.0.1', GATEWAY_RESERVED);
    const conf = renderNginxConf(loadGatewaySettings(), {
      listenHost: '127.0.0.1',
      listenPort: port,
      upstreamHost: '127.0.0.1',
      portOffset,
    });
    const child = spawn(NGINX, await preparePrefix(prefix, conf), { stdio: ['ignore', 'ignore', 'pipe'] });
    let out = '';
    child.stderr?.on('data', (d: Buffer) => {
      out += String(d);
    });
    const pid = await servingPid(prefix, child, 15_000);
    if (pid === undefined) {
      await stop(child);
      if (out.includes('Address already in use') && attempt < 4) continue;
      throw new Error(`nginx did not start:\n${out}`);
    }
    t.teardown(() => stop(child));
    return {
      url: `http://127.0.0.1:${port}`,
      prefix,
      pid,
      out: () => out,
      accessLog: async () =>
        (await readFile(join(prefix, 'logs', 'access.log'), 'utf8'))
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line) as Record<string, unknown>),
    };
  }
}

/** SIGTERM (nginx's fast shutdown) to the master by pid; waits for it to exit. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}
