/**
 * The service server's edges (docs/architecture.md §14.2): one error handler
 * answers JSON and logs with the correlation id; a known path with the wrong
 * method is 405 with `Allow`; admin routes check the token before the body
 * is read, whichever service registered them.
 */
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import test from 'ava';
import { Registry } from 'prom-client';
import { QtError } from '../../src/errors.js';
import { CORRELATION_HEADER, createServiceServer } from '../../src/http/service-server.js';
import { createLogger } from '../../src/log.js';

const TOKEN = 'an-edges-admin-token';
const BIG = JSON.stringify({ pad: 'x'.repeat(2 * 1024 * 1024) });
const json = { 'content-type': 'application/json' };
const auth = (token: string) => ({ authorization: `Bearer ${token}` });

/**
 * A service server as main builds it, logging into memory, with routes a
 * service would add after it: a guarded command (`POST /svc/command`, its
 * handler also calling the in-handler guard, as the services do), a read
 * with a changing twin (`GET`/`PUT /svc/setting`), a public POST, a route
 * with a parameter, and routes that throw.
 */
function rig(t: { teardown: (fn: () => unknown) => void }, adminEnabled = true) {
  let text = '';
  const log = createLogger({
    level: 'info',
    destination: new Writable({
      write(chunk, _encoding, done) {
        text += String(chunk);
        done();
      },
    }),
  });
  const { app, guardAdmin } = createServiceServer({
    service: 'edges',
    version: '0.0.0',
    registry: new Registry(),
    dependencies: async () => ({}),
    adminToken: adminEnabled ? TOKEN : undefined,
    onShutdown: () => undefined,
    log,
  });
  const seen = { parsed: 0, handled: 0 };
  // Counts every body Fastify starts to read, on every route.
  app.addHook('preParsing', async (_request, _reply, payload) => {
    seen.parsed++;
    return payload;
  });
  app.post('/svc/command', async (request, reply) => {
    if (!guardAdmin(request, reply)) return reply;
    seen.handled++;
    return { got: request.body };
  });
  app.get('/svc/setting', async () => ({ setting: 1 }));
  app.put('/svc/setting', async () => ({ setting: 2 }));
  app.post('/svc/public', { config: { admin: false } }, async (request) => ({ got: request.body }));
  app.get('/svc/items/:id', async (request) => request.params);
  app.get('/svc/broken', async () => {
    throw new TypeError("Cannot read properties of undefined (reading 'secretField')");
  });
  app.get('/svc/starting', async () => {
    throw new QtError('QT_ACTOR_NOT_STARTED', 'actor pre-trade is not started');
  });
  app.get('/svc/offline', async () => {
    throw new QtError('QT_PUBLISH_FAILED', 'publish to "risk" failed: Connection is closed.');
  });
  t.teardown(() => app.close());
  const lines = () =>
    text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { app, lines, seen };
}

test('an unexpected error is a JSON 500 with the correlation id, logged once at error level with it and the stack', async (t) => {
  const { app, lines } = rig(t);
  const res = await app.inject({ method: 'GET', url: '/svc/broken', headers: { [CORRELATION_HEADER]: 'corr-500' } });
  t.is(res.statusCode, 500);
  t.deepEqual(res.json(), {
    error: 'internal',
    message: 'internal error; the service log has it under this correlationId',
    correlationId: 'corr-500',
  });
  t.notRegex(res.body, /secretField|\n\s+at /, 'no internals and no stack in the body');
  const logged = lines().filter((l) => l.status === 500);
  t.is(logged.length, 1, 'logged exactly once');
  t.like(logged[0], { level: 50, correlationId: 'corr-500', method: 'GET', url: '/svc/broken' });
  const err = logged[0]?.err as { message: string; stack: string } | undefined;
  t.regex(err?.message ?? '', /secretField/);
  t.regex(err?.stack ?? '', /\n\s+at /, 'the stack is in the log');
});

test('an actor not started yet is 503 starting; an unreachable Redis is 503 redis_unavailable; both with Retry-After', async (t) => {
  const { app, lines } = rig(t);
  const starting = await app.inject({ method: 'GET', url: '/svc/starting' });
  t.is(starting.statusCode, 503);
  t.deepEqual(starting.json(), { error: 'starting', message: 'actor pre-trade is not started' });
  t.is(starting.headers['retry-after'], '1');
  const offline = await app.inject({
    method: 'GET',
    url: '/svc/offline',
    headers: { [CORRELATION_HEADER]: 'corr-503' },
  });
  t.is(offline.statusCode, 503);
  t.is(offline.json().error, 'redis_unavailable');
  t.is(offline.headers['retry-after'], '1');
  t.like(
    lines().find((l) => l.correlationId === 'corr-503'),
    { level: 40, status: 503 },
  );
});

test('bad bodies are 4xx JSON with details: not JSON, empty, wrong content type, too large', async (t) => {
  const { app } = rig(t);
  const post = (headers: Record<string, string>, payload: string) =>
    app.inject({ method: 'POST', url: '/svc/public', headers, payload });
  const cases: [string, Record<string, string>, string, number, string][] = [
    ['not JSON', json, '{nope', 400, 'invalid_body'],
    ['empty', json, '', 400, 'invalid_body'],
    ['wrong content type', { 'content-type': 'application/xml' }, '<a/>', 415, 'unsupported_media_type'],
    ['too large', json, BIG, 413, 'body_too_large'],
  ];
  for (const [what, headers, payload, status, error] of cases) {
    const res = await post(headers, payload);
    t.is(res.statusCode, status, what);
    t.is(res.headers['content-type'], 'application/json; charset=utf-8', what);
    t.like(res.json(), { error }, what);
    t.regex(res.json().code, /^FST_ERR_/, what);
  }
  t.deepEqual((await post(json, '{"a":1}')).json(), { got: { a: 1 } }, 'a good body still works');
});

test('a known path with another method is 405 with Allow; an unknown path stays 404', async (t) => {
  const { app } = rig(t);
  const cases: [string, string, string][] = [
    ['POST', '/health', 'GET, HEAD'],
    ['GET', '/admin/shutdown', 'POST'],
    ['DELETE', '/svc/setting?x=1', 'GET, HEAD, PUT'],
    ['POST', '/svc/items/42', 'GET, HEAD'],
  ];
  for (const [method, url, allow] of cases) {
    const res = await app.inject({ method: method as 'GET', url });
    t.is(res.statusCode, 405, `${method} ${url}`);
    t.is(res.headers.allow, allow, `${method} ${url}`);
    t.like(res.json(), { error: 'method_not_allowed', allow: allow.split(', ') });
  }
  const unknown = await app.inject({ method: 'GET', url: '/svc/items/42/more' });
  t.is(unknown.statusCode, 404);
  t.deepEqual(unknown.json(), { error: 'not_found', message: 'no route GET /svc/items/42/more' });
  t.is((await app.inject({ method: 'POST', url: '/nowhere' })).statusCode, 404);
});

test('a wrong method with a 2 MB body is 405 without reading the body', async (t) => {
  const { app, seen } = rig(t);
  const res = await app.inject({ method: 'PATCH', url: '/svc/setting', headers: json, payload: BIG });
  t.is(res.statusCode, 405);
  t.is(seen.parsed, 0);
});

test('admin routes check the token before the body: a 2 MB body without or with a wrong token is 401, never read', async (t) => {
  const { app, seen } = rig(t);
  for (const headers of [json, { ...json, ...auth('not-the-admin-token') }, { ...json, authorization: TOKEN }]) {
    for (const [method, url] of [
      ['POST', '/svc/command'],
      ['PUT', '/svc/setting'],
      ['POST', '/admin/shutdown'],
    ] as const) {
      const res = await app.inject({ method, url, headers, payload: BIG });
      t.is(res.statusCode, 401, `${method} ${url}`);
      t.like(res.json(), { error: 'unauthorized' });
    }
  }
  t.is(seen.parsed, 0, 'no body was read');
  t.is(seen.handled, 0);
  // With the token the body is read: the same 2 MB is then over the limit, and a small one is served.
  t.is(
    (await app.inject({ method: 'POST', url: '/svc/command', headers: { ...json, ...auth(TOKEN) }, payload: BIG }))
      .statusCode,
    413,
  );
  const ok = await app.inject({
    method: 'POST',
    url: '/svc/command',
    headers: { ...json, ...auth(TOKEN) },
    payload: '{"a":1}',
  });
  t.is(ok.statusCode, 200);
  t.deepEqual(ok.json(), { got: { a: 1 } });
  t.is(seen.handled, 1);
  t.is(seen.parsed, 2);
  // A route declared public takes a body without a token.
  t.is((await app.inject({ method: 'POST', url: '/svc/public', headers: json, payload: '{}' })).statusCode, 200);
});

test('over a real socket: an unauthenticated 2 MB body is answered 401 and the connection stays usable', async (t) => {
  const { app, seen } = rig(t);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  const res = await fetch(`http://127.0.0.1:${port}/svc/command`, { method: 'POST', headers: json, body: BIG });
  t.is(res.status, 401);
  t.is(((await res.json()) as { error: string }).error, 'unauthorized');
  t.is(seen.parsed, 0);
  t.is((await fetch(`http://127.0.0.1:${port}/health`)).status, 200);
});

test('without an admin token the admin routes are disabled (404) before the body, and are not offered in Allow', async (t) => {
  const { app, seen } = rig(t, false);
  const res = await app.inject({
    method: 'POST',
    url: '/svc/command',
    headers: { ...json, ...auth(TOKEN) },
    payload: BIG,
  });
  t.is(res.statusCode, 404);
  t.is(res.json().error, 'disabled');
  t.is((await app.inject({ method: 'POST', url: '/admin/shutdown', headers: auth(TOKEN) })).json().error, 'disabled');
  t.is(seen.parsed, 0);
  const wrong = await app.inject({ method: 'GET', url: '/admin/shutdown' });
  t.is(wrong.statusCode, 404, 'a path served only by disabled admin routes is unknown');
  t.is(wrong.json().error, 'not_found');
  const setting = await app.inject({ method: 'POST', url: '/svc/setting' });
  t.is(setting.statusCode, 405);
  t.is(setting.headers.allow, 'GET, HEAD', 'the disabled PUT is not offered');
  t.is((await app.inject({ method: 'POST', url: '/svc/public', headers: json, payload: '{}' })).statusCode, 200);
});
