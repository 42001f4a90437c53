/**
 * Test support for monitoring-health against real processes: `main`
 * processes started on one shared port offset (so monitoring finds the
 * others where the service table says), JSON reads of its API, and a local
 * webhook receiver that records what it is sent.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ExecutionContext } from 'ava';
import { waitFor } from './bus.js';
import { type MainProcess, spawnMain } from './main-process.js';

/** Starts `main --actors=SERVICES` with `env` (which fixes QT_HTTP_PORT_OFFSET) and waits for "runtime started". */
export async function startMainAt(
  t: ExecutionContext,
  services: string,
  env: Record<string, string>,
): Promise<MainProcess> {
  const run = spawnMain([`--actors=${services}`], env);
  t.teardown(() => run.child.kill('SIGKILL'));
  try {
    await waitFor(
      () => run.out().includes('runtime started') || run.child.exitCode !== null,
      `${services} started`,
      90_000,
    );
  } catch (err) {
    t.log(run.out().slice(-3_000));
    throw err;
  }
  if (run.child.exitCode !== null) throw new Error(`main ${services} exited ${run.child.exitCode}:\n${run.out()}`);
  return run;
}

/** Stops a `main` with SIGTERM and waits for it to exit. */
export async function stopMain(run: MainProcess): Promise<number | null> {
  run.child.kill('SIGTERM');
  return run.exit;
}

/** GET a JSON answer; the status with the body. */
export async function getJson<T = Record<string, unknown>>(url: string): Promise<{ status: number; body: T }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  return { status: response.status, body: (await response.json()) as T };
}

/** The parts of `GET /health/system` the tests read. */
export interface SystemAnswer {
  readonly status: 'OK' | 'DEGRADED' | 'CRITICAL';
  readonly cycle: number;
  readonly findings: { level: string; source: string; message: string }[];
  readonly components: {
    services: Record<string, { status: string; error: string | null }>;
    infrastructure: Record<string, { status: string; error: string | null }>;
  };
  readonly probes: { component: string; condition: string; status: string; reason: string }[];
}

/** The parts of an alert the tests read. */
export interface AlertAnswer {
  readonly alert_id: string;
  readonly level: 'CRITICAL' | 'WARNING';
  readonly component: string;
  readonly message: string;
  readonly timestamp: string;
  readonly root_cause: string | null;
  readonly blast_radius: string[];
  readonly cleared_at: string | null;
  readonly cleared_by: string | null;
  readonly resolved_at: string | null;
}

/** Reads monitoring-health's API at `base` (`http://127.0.0.1:PORT`). */
export function monitoringApi(base: string) {
  return {
    system: async () => (await getJson<SystemAnswer>(`${base}/health/system`)).body,
    active: async () => (await getJson<{ alerts: AlertAnswer[]; count: number }>(`${base}/alerts/active`)).body,
    history: async (limit = 100) =>
      (await getJson<{ alerts: AlertAnswer[]; count: number }>(`${base}/alerts/history?limit=${limit}`)).body,
  };
}

/** What a webhook receiver was sent. */
export interface Received {
  readonly text: string;
  readonly event: string;
  readonly alert: AlertAnswer;
}

/** A local webhook receiver on a free port; closed on teardown. */
export async function webhookReceiver(t: ExecutionContext): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => {
      body += String(chunk);
    });
    request.on('end', () => {
      received.push(JSON.parse(body) as Received);
      response.writeHead(200).end('ok');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/hooks/T000/B000/a-secret-webhook-token`, received };
}
