/**
 * Redis with an ACL user and with TLS, as docs/architecture.md §7.4 describes (`rediss://`, ACL
 * user/password in the URL), against real redis-server processes.
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import test from 'ava';
import { loadConfig } from '../../src/config/load.js';
import { createLogger, redactUrl } from '../../src/log.js';
import { createRedis } from '../../src/streams/connection.js';
import { openEventBus } from '../../src/streams/event-bus.js';
import { uniquePrefix, waitFor } from '../support/bus.js';
import { getFreePort } from '../support/free-port.js';
import { startRedis } from '../support/redis-fixture.js';

const PASSWORD = 'Tr4der-secret-pass';

test('an ACL user from the URL: publishes work, a wrong password is refused, the password never reaches a log', async (t) => {
  const server = await startRedis({ name: 'acl' });
  const dataDir = await mkdtemp(join(tmpdir(), 'qt-acl-'));
  t.teardown(async () => {
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
  });
  await server.client().acl('SETUSER', 'trader', 'on', `>${PASSWORD}`, '~*', '&*', '+@all');
  const url = `redis://trader:${PASSWORD}@127.0.0.1:${server.port}`;
  const config = loadConfig({ REDIS_URL: url, QT_DATA_DIR: dataDir, QT_KEY_PREFIX: uniquePrefix('acl') });

  let logged = '';
  const log = createLogger({
    level: 'debug',
    destination: new Writable({
      write(chunk, _enc, done) {
        logged += String(chunk);
        done();
      },
    }),
  });
  const bus = await openEventBus(config, { producer: 'acl-producer', source: 'test', log });
  t.is(await bus.redis.call('ACL', 'WHOAMI'), 'trader');
  const published = await bus.publisher.publish('market.tick', { symbol: 'BTCUSDT', price: 1, volume: 1 });
  t.is(published.via, 'redis');
  log.info({ config }, 'configuration');
  log.info({ url: redactUrl(url) }, 'connected');
  await bus.close();
  t.true(logged.includes('"configuration"'));
  t.false(logged.includes(PASSWORD), 'no password in the log');
  t.regex(logged, /trader:redacted@/);

  const wrong = createRedis(loadConfig({ REDIS_URL: `redis://trader:not-${PASSWORD}@127.0.0.1:${server.port}` }), {
    retryStrategy: () => null,
  });
  let authError = '';
  wrong.on('error', (e) => {
    authError ||= e.message;
  });
  await t.throwsAsync(wrong.connect());
  t.regex(authError, /WRONGPASS/);
  t.false(authError.includes(PASSWORD));
  wrong.disconnect();
});

test('rediss:// with a private CA: verified TLS works, and an unverifiable certificate is refused', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'qt-tls-'));
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '2',
    '-subj',
    '/CN=qt-test-ca',
  );
  openssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    '/CN=127.0.0.1',
  );
  await writeFile(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  openssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.crt',
    '-days',
    '2',
    '-extfile',
    'ext.cnf',
  );

  const port = await getFreePort();
  const child = spawn(
    'redis-server',
    [
      '--port',
      '0',
      '--tls-port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--tls-cert-file',
      'server.crt',
      '--tls-key-file',
      'server.key',
      '--tls-ca-cert-file',
      'ca.crt',
      '--tls-auth-clients',
      'no',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
    ],
    { cwd: dir, stdio: 'ignore' },
  );
  t.teardown(async () => {
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    await rm(dir, { recursive: true, force: true });
  });

  const base = { REDIS_URL: `rediss://127.0.0.1:${port}`, QT_KEY_PREFIX: uniquePrefix('tls') };
  const trusted = createRedis(loadConfig({ ...base, REDIS_TLS_CA_FILE: join(dir, 'ca.crt') }), {
    retryStrategy: () => 100,
  });
  trusted.on('error', () => undefined);
  await waitFor(
    async () =>
      (await trusted
        .connect()
        .then(() => true)
        .catch(() => false)) || trusted.status === 'ready',
    'TLS connection',
    10_000,
    100,
  );
  t.is(await trusted.ping(), 'PONG');
  const id = await trusted.xadd(`${base.QT_KEY_PREFIX}:probe`, '*', 'k', 'v');
  t.regex(String(id), /^\d+-\d+$/);
  trusted.disconnect();

  const untrusted = createRedis(loadConfig(base), { retryStrategy: () => null });
  let tlsError = '';
  untrusted.on('error', (e) => {
    tlsError ||= e.message;
  });
  await t.throwsAsync(untrusted.connect());
  t.regex(tlsError, /self[- ]signed|unable to verify|certificate/i, 'the server certificate is verified');
  untrusted.disconnect();
});
