/**
 * `npm run gateway`: the real nginx in the foreground with the shipped
 * gateway config (infra/nginx/gateway.json rendered by render.ts) in front of
 * the local services. Its prefix directory is var/gateway/ (QT_GATEWAY_DIR):
 * nginx.conf, logs/access.log (JSON), logs/error.log, temp/, nginx.pid. It
 * listens on QT_GATEWAY_PORT (default 8088) and finds the services where
 * `main` listens: QT_HTTP_HOST (else gateway.json's upstreamHost) and each
 * service's port plus QT_HTTP_PORT_OFFSET. SIGINT or SIGTERM stop nginx
 * gracefully and exit 0. Bad settings or no nginx: exit 2; port in use: 3.
 */
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { QtError } from '../../src/errors.js';
import { findNginx, isExecutable, NGINX_MISSING, preparePrefix, servingPid } from './nginx.js';
import { renderNginxConf } from './render.js';
import { HostSchema, loadGatewaySettings } from './settings.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
/** How long a graceful stop may take before nginx is told to stop at once. */
const STOP_GRACE_MS = 10_000;

const unset = (v: unknown) => (v === '' ? undefined : v);
const EnvSchema = z.object({
  QT_GATEWAY_PORT: z.preprocess(unset, z.coerce.number().int().min(1).max(65_535).default(8088)),
  QT_GATEWAY_DIR: z.preprocess(unset, z.string().default(join(REPO, 'var', 'gateway'))),
  QT_NGINX: z.preprocess(unset, z.string().optional()),
  QT_HTTP_HOST: z.preprocess(unset, HostSchema.optional()),
  QT_HTTP_PORT_OFFSET: z.preprocess(unset, z.coerce.number().int().min(-8000).max(50_000).default(0)),
});

function fail(code: number, message: string): never {
  process.stderr.write(`gateway: ${message}\n`);
  process.exit(code);
}

function settingsFromEnv(): z.infer<typeof EnvSchema> {
  const env = EnvSchema.safeParse(process.env);
  if (env.success) return env.data;
  fail(2, `invalid settings: ${env.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
}

async function main(): Promise<void> {
  const env = settingsFromEnv();
  if (env.QT_NGINX !== undefined && !isExecutable(env.QT_NGINX))
    fail(2, `QT_NGINX=${env.QT_NGINX}: not an executable file`);
  const nginx = env.QT_NGINX ?? findNginx();
  if (nginx === undefined) fail(2, NGINX_MISSING);
  let conf: string;
  let listenHost: string;
  let upstreamHost: string;
  try {
    const settings = loadGatewaySettings();
    listenHost = settings.listen.host;
    upstreamHost = env.QT_HTTP_HOST ?? settings.upstreamHost;
    conf = renderNginxConf(settings, {
      listenPort: env.QT_GATEWAY_PORT,
      portOffset: env.QT_HTTP_PORT_OFFSET,
      upstreamHost,
    });
  } catch (err) {
    if (err instanceof QtError) fail(2, err.message);
    throw err;
  }
  const prefix = resolve(env.QT_GATEWAY_DIR);
  const args = await preparePrefix(prefix, conf);
  const child = spawn(nginx, args, { stdio: ['ignore', 'inherit', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += String(d);
    process.stderr.write(d);
  });
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    // SIGQUIT: nginx finishes the requests in flight, then exits.
    child.kill('SIGQUIT');
    setTimeout(() => child.kill('SIGTERM'), STOP_GRACE_MS).unref();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  child.once('error', (err) => fail(2, `cannot run ${nginx}: ${err.message}`));
  child.once('exit', (code, signal) => {
    if (stopping) {
      process.stdout.write('gateway stopped\n');
      process.exit(0);
    }
    if (stderr.includes('Address already in use')) fail(3, `port ${env.QT_GATEWAY_PORT} is already in use`);
    fail(1, `nginx exited (${signal ?? code}) on its own; its messages are above and in ${prefix}/logs/error.log`);
  });
  if ((await servingPid(prefix, child, 10_000)) !== undefined) {
    const offset = env.QT_HTTP_PORT_OFFSET;
    process.stdout.write(
      `gateway listening on ${listenHost}:${env.QT_GATEWAY_PORT}, services on ${upstreamHost} (port offset ${offset}); logs in ${prefix}/logs\n`,
    );
  }
}

await main();
