/**
 * infra/docker-compose.yml and infra/docker/Dockerfile. No Docker engine runs here, so this checks the
 * structure, parsed with `yaml` (merge keys on): the Sentinel set runs the infra/redis files through
 * render.sh with one port each and the sentinels the platform is pointed at; one container per service
 * with `--actors=NAME` from the Dockerfile's image; depends_on in the order of the systemd units' After=;
 * the gateway, Prometheus and Grafana mounting the shipped configs where their commands and the
 * dashboard provider look; every bind mount a file of this repository; secrets only as files outside it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import test from 'ava';
import { parse } from 'yaml';
import { SERVICE_NAMES } from '../../src/actors/services.js';

const ROOT = resolve(import.meta.dirname, '../..');
const INFRA = join(ROOT, 'infra');
const REDIS_NODES = [
  'redis-master',
  'redis-replica-1',
  'redis-replica-2',
  'redis-sentinel-1',
  'redis-sentinel-2',
  'redis-sentinel-3',
];
const SECRET_FILES = ['/etc/quantum-trader/grafana-admin-password', '/etc/quantum-trader/redis-password'];
const ENV_FILE = '/etc/quantum-trader/quantum-trader.env';

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string>;
  env_file?: string;
  volumes?: string[];
  depends_on?: string[];
  secrets?: string[];
  network_mode?: string;
}
interface Compose {
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
  secrets: Record<string, { file: string }>;
}

async function compose(): Promise<Compose> {
  return parse(await readFile(join(INFRA, 'docker-compose.yml'), 'utf8'), { merge: true }) as Compose;
}

/** `--port N` of a Redis node's command. */
function redisPort(service: ComposeService): number {
  return Number(/--port (\d+)/.exec(service.command?.join(' ') ?? '')?.[1]);
}

/** The services a systemd unit starts after (its After= quantum-trader-*.service). */
async function systemdAfter(service: string): Promise<string[]> {
  const unit = await readFile(join(INFRA, `systemd/quantum-trader-${service}.service`), 'utf8');
  const after = /^After=(.*)$/m.exec(unit)?.[1] ?? '';
  return after
    .split(/\s+/)
    .filter((u) => u.startsWith('quantum-trader-'))
    .map((u) => u.replace(/^quantum-trader-|\.service$/g, ''));
}

test('the services: the Sentinel set, one per platform service, gateway, Prometheus, Grafana', async (t) => {
  const c = await compose();
  t.deepEqual(
    Object.keys(c.services).sort(),
    [...REDIS_NODES, ...SERVICE_NAMES, 'gateway', 'prometheus', 'grafana'].sort(),
  );
  for (const [name, s] of Object.entries(c.services)) t.is(s.network_mode, 'host', name);
});

test('the Sentinel set runs the infra/redis files through render.sh, each node on its own port', async (t) => {
  const c = await compose();
  const sentinelConf = await readFile(join(INFRA, 'redis/sentinel.conf'), 'utf8');
  const monitor = /^sentinel monitor (\S+) (\S+) (\d+) (\d+)$/m.exec(sentinelConf);
  const ports = new Set<number>();
  for (const name of REDIS_NODES) {
    const s = c.services[name] as ComposeService;
    const script = s.command?.[2] ?? '';
    t.deepEqual(s.command?.slice(0, 2), ['sh', '-c'], name);
    t.is(spawnSync('sh', ['-n', '-c', script]).status, 0, `${name}: the command is valid sh`);
    const template = /\/etc\/qt-redis\/render\.sh \/etc\/qt-redis\/(\S+) \/data\/(\S+)/.exec(script);
    t.truthy(template, `${name} renders a shipped file`);
    t.true(existsSync(join(INFRA, 'redis', template?.[1] ?? 'missing')), `${name}: infra/redis/${template?.[1]}`);
    t.regex(script, new RegExp(`exec redis-server /data/${template?.[2]}`), name);
    t.is(name.includes('sentinel'), script.includes('--sentinel'), `${name}: sentinel mode`);
    t.true(s.volumes?.includes('./redis:/etc/qt-redis:ro'), `${name} mounts infra/redis`);
    t.like(s.environment, { REDIS_PASSWORD_FILE: '/run/secrets/redis_password', REDIS_MASTER_HOST: '127.0.0.1' });
    t.deepEqual(s.secrets, ['redis_password']);
    ports.add(redisPort(s));
  }
  t.is(ports.size, REDIS_NODES.length, 'no two nodes on one port');
  t.is(redisPort(c.services['redis-master'] as ComposeService), Number(monitor?.[3]), 'the sentinels watch the master');
  t.is(monitor?.[4], '2', 'quorum 2');
  const sentinels = REDIS_NODES.filter((n) => n.includes('sentinel')).map(
    (n) => `127.0.0.1:${redisPort(c.services[n] as ComposeService)}`,
  );
  for (const service of SERVICE_NAMES) {
    t.like(c.services[service]?.environment, { REDIS_SENTINELS: sentinels.join(','), REDIS_MASTER_NAME: monitor?.[1] });
  }
});

test('one container per service: the Dockerfile image with --actors=NAME, depends_on as the systemd order', async (t) => {
  const c = await compose();
  for (const service of SERVICE_NAMES) {
    const s = c.services[service] as ComposeService;
    t.deepEqual(s.command, [`--actors=${service}`]);
    t.deepEqual(s.build, { context: '..', dockerfile: 'infra/docker/Dockerfile' });
    t.true(existsSync(resolve(INFRA, s.build?.context ?? '', s.build?.dockerfile ?? '')));
    t.is(s.env_file, ENV_FILE, 'the env file of the systemd deploy');
    t.deepEqual(s.volumes, ['qt-data:/var/lib/quantum-trader']);
    const platformDeps = (s.depends_on ?? []).filter((d) => !d.startsWith('redis-'));
    t.deepEqual(platformDeps.sort(), (await systemdAfter(service)).sort(), `${service}: same order as systemd`);
    t.deepEqual(
      (s.depends_on ?? []).filter((d) => d.startsWith('redis-')),
      ['redis-sentinel-1', 'redis-sentinel-2', 'redis-sentinel-3'],
      `${service} waits for the sentinels`,
    );
  }
  for (const infra of ['gateway', 'prometheus']) {
    t.deepEqual([...(c.services[infra]?.depends_on ?? [])].sort(), [...SERVICE_NAMES].sort(), infra);
  }
});

test('gateway, Prometheus and Grafana mount the shipped configs where they read them', async (t) => {
  const c = await compose();
  const mounts = (name: string) =>
    new Map((c.services[name]?.volumes ?? []).map((v) => v.split(':') as [string, string]).map(([a, b]) => [b, a]));
  const gateway = c.services.gateway as ComposeService;
  t.is(mounts('gateway').get('/etc/qt-nginx/nginx.conf'), './nginx/nginx.conf');
  t.regex(gateway.command?.join(' ') ?? '', /nginx -p \/var\/lib\/qt-gateway -c \/etc\/qt-nginx\/nginx\.conf/);
  t.is(mounts('prometheus').get('/etc/prometheus/prometheus.yml'), './prometheus/prometheus.yml');
  t.is(mounts('prometheus').get('/etc/prometheus/rules'), './prometheus/rules', 'rule_files: rules/*.yml');
  t.true(c.services.prometheus?.command?.includes('--config.file=/etc/prometheus/prometheus.yml'));
  t.is(mounts('grafana').get('/etc/grafana/provisioning'), './grafana/provisioning');
  const provider = parse(await readFile(join(INFRA, 'grafana/provisioning/dashboards/dashboards.yml'), 'utf8')) as {
    providers: { options: { path: string } }[];
  };
  const dashboardsAt = provider.providers[0]?.options.path ?? '';
  t.is(mounts('grafana').get(dashboardsAt), './grafana/dashboards', 'the dashboards where the provider reads them');
});

test('every bind mount is a file of this repository, every named volume is declared', async (t) => {
  const c = await compose();
  let binds = 0;
  for (const [name, s] of Object.entries(c.services)) {
    for (const volume of s.volumes ?? []) {
      const [source] = volume.split(':') as [string];
      if (source.startsWith('.') || source.startsWith('/')) {
        binds++;
        const path = resolve(INFRA, source);
        t.true(path.startsWith(`${ROOT}/`), `${name}: ${source} is inside the repository`);
        t.true(existsSync(path), `${name}: ${source} exists`);
      } else {
        t.true(source in c.volumes, `${name}: volume ${source} declared`);
      }
    }
  }
  t.true(binds >= 10, `${binds} bind mounts checked`);
});

test('no literal secret: passwords only as secret files outside the repository', async (t) => {
  const text = await readFile(join(INFRA, 'docker-compose.yml'), 'utf8');
  const c = await compose();
  t.deepEqual(
    Object.values(c.secrets)
      .map((s) => s.file)
      .sort(),
    SECRET_FILES,
  );
  for (const [name, s] of Object.entries(c.services)) {
    for (const [key, v] of Object.entries(s.environment ?? {})) {
      if (/PASSWORD|TOKEN|SECRET|API_KEY|WEBHOOK/.test(key)) t.regex(v, /^\/run\/secrets\/\w+$/, `${name}: ${key}`);
      t.notRegex(String(v), /rediss?:\/\/[^@\s]*:[^@\s]*@/, `${name}: ${key} holds no URL password`);
    }
  }
  t.notRegex(text, /requirepass|masterauth|auth-pass|QT_ADMIN_TOKEN|BINANCE_API/, 'secrets come from files');
});

test('the Dockerfile: node:20-slim, npm ci (which builds), the built main as entry point, not root', async (t) => {
  const dockerfile = await readFile(join(INFRA, 'docker/Dockerfile'), 'utf8');
  const from = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
  t.deepEqual(from, ['node:20-slim', 'node:20-slim']);
  t.regex(dockerfile, /^RUN npm ci && npm prune --omit=dev$/m);
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  t.is(pkg.scripts.prepare, 'npm run build', 'npm ci builds dist/ through prepare');
  t.regex(dockerfile, /^ENTRYPOINT \["node", "dist\/main\.js"\]$/m);
  t.regex(dockerfile, /^USER node$/m);
  // What the build copies is what the ignore file lets into the context, and exists.
  const ignore = await readFile(join(INFRA, 'docker/Dockerfile.dockerignore'), 'utf8');
  const allowed = ignore
    .split('\n')
    .filter((l) => l.startsWith('!'))
    .map((l) => l.slice(1).replace(/\/$/, ''));
  const copied = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => (m[1] as string).split(' '));
  t.true(copied.length >= 5);
  for (const source of copied) {
    t.true(allowed.includes(source.replace(/\/$/, '')), `${source} is in the build context`);
    t.true(existsSync(join(ROOT, source)), `${source} exists`);
  }
});
