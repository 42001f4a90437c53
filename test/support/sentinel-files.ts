/**
 * Starts the Sentinel set from the shipped files in infra/redis/ (master.conf, replica.conf,
 * sentinel.conf): each file is rendered by infra/redis/render.sh, as a deploy does (the password from a
 * file, the master's address), then the loader below rewrites only what must differ on this machine:
 * `port`, `bind`, `dir` and `logfile`, and the master's port in `replicaof` and `sentinel monitor`. Every
 * other line (quorum, timeouts, auth, persistence) runs as shipped. Each directive it rewrites must occur
 * exactly once, so a change to the files' shape fails here instead of being silently ignored.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { type LocalSpec, type SentinelGroup, startSentinelTopology } from './redis-fixture.js';

const run = promisify(execFile);
const LOOPBACK = '127.0.0.1';
/** The port the shipped files use; on this machine every node gets a free port instead. */
const SHIPPED_DATA_PORT = 6379;

/** infra/redis/ of this checkout. */
export const REDIS_INFRA_DIR = resolve(import.meta.dirname, '../../infra/redis');

/** The shipped Sentinel set as started here: the group, its password and the master name from sentinel.conf. */
export interface ShippedSentinelGroup extends SentinelGroup {
  /** The password rendered into the files (random per group). */
  readonly password: string;
}

/** Runs infra/redis/render.sh on `template` with `password` and the master on loopback; returns the text. */
export async function renderShipped(template: string, password: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'qt-render-'));
  try {
    const passwordFile = join(dir, 'password');
    const output = join(dir, 'out.conf');
    await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
    await run('sh', [join(REDIS_INFRA_DIR, 'render.sh'), join(REDIS_INFRA_DIR, template), output], {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        REDIS_PASSWORD_FILE: passwordFile,
        REDIS_MASTER_HOST: LOOPBACK,
      },
    });
    return await readFile(output, 'utf8');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `text` with the one line matching `pattern` replaced by `line`; throws unless exactly one line matches. */
function rewriteOne(text: string, file: string, pattern: RegExp, line: string): string {
  const lines = text.split('\n');
  const hits = lines.flatMap((l, i) => (pattern.test(l) ? [i] : []));
  if (hits.length !== 1) throw new Error(`${file}: expected one line matching ${pattern}, found ${hits.length}`);
  lines[hits[0] as number] = line;
  return lines.join('\n');
}

/** The rendered `text` of `file` with port, bind, dir and logfile made local, and the master at `masterPort`. */
export function localise(
  text: string,
  file: string,
  where: { port: number; dir: string; logfile: string; masterPort?: number },
): string {
  let out = text;
  out = rewriteOne(out, file, /^port /, `port ${where.port}`);
  out = rewriteOne(out, file, /^bind /, `bind ${LOOPBACK}`);
  out = rewriteOne(out, file, /^dir /, `dir ${where.dir}`);
  out = rewriteOne(out, file, /^logfile /, `logfile ${where.logfile}`);
  if (where.masterPort !== undefined) {
    const master = `${LOOPBACK} ${SHIPPED_DATA_PORT}`;
    const replicaof = new RegExp(`^replicaof ${master}$`);
    const monitor = new RegExp(`^(sentinel monitor \\S+) ${master}( \\d+)$`);
    if (out.split('\n').some((l) => replicaof.test(l))) {
      out = rewriteOne(out, file, replicaof, `replicaof ${LOOPBACK} ${where.masterPort}`);
    } else {
      const hit = out.split('\n').find((l) => monitor.test(l));
      if (!hit) throw new Error(`${file}: neither replicaof nor sentinel monitor names ${master}`);
      out = rewriteOne(out, file, monitor, hit.replace(monitor, `$1 ${LOOPBACK} ${where.masterPort}$2`));
    }
  }
  return out;
}

/** The master name of the shipped sentinel.conf (`sentinel monitor NAME ...`). */
export async function shippedMasterName(): Promise<string> {
  const text = await readFile(join(REDIS_INFRA_DIR, 'sentinel.conf'), 'utf8');
  const name = /^sentinel monitor (\S+) /m.exec(text)?.[1];
  if (!name) throw new Error('infra/redis/sentinel.conf: no sentinel monitor line');
  return name;
}

/** A local server spec that runs `template` rendered and localised (sentinels with `--sentinel`). */
function shippedSpec(
  name: string,
  template: string,
  password: string,
  opts: { masterPort?: number; sentinel?: boolean },
): LocalSpec {
  return {
    name,
    ...(opts.sentinel ? {} : { password }),
    argv: async (port, dir, logfile) => {
      const rendered = await renderShipped(template, password);
      const conf = join(dir, template);
      // Redis and Sentinel rewrite their file at a failover: it lives in the node's own writable dir.
      await writeFile(conf, localise(rendered, template, { port, dir, logfile, ...opts }), { mode: 0o600 });
      return opts.sentinel ? [conf, '--sentinel'] : [conf];
    },
  };
}

/**
 * Starts 1 master (master.conf), 2 replicas (replica.conf) and 3 sentinels (sentinel.conf) from the shipped
 * files with a fresh random password; resolves once the sentinels see the whole topology.
 */
export async function startShippedSentinelGroup(): Promise<ShippedSentinelGroup> {
  const password = randomBytes(24).toString('hex');
  const masterName = await shippedMasterName();
  const group = await startSentinelTopology({
    masterName,
    master: shippedSpec('master', 'master.conf', password, {}),
    replicas: [1, 2].map(
      (i) => (masterPort: number) => shippedSpec(`replica-${i}`, 'replica.conf', password, { masterPort }),
    ),
    sentinels: [1, 2, 3].map(
      (i) => (masterPort: number) =>
        shippedSpec(`sentinel-${i}`, 'sentinel.conf', password, { masterPort, sentinel: true }),
    ),
  });
  return Object.assign(group, { password });
}
