/**
 * The service server runs every request inside its correlation id (Fastify 5):
 * hooks after `onRequest`, body parsing and async route handlers see it
 * through `currentCorrelationId()`, and the service's log lines carry it.
 */
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { Registry } from 'prom-client';
import { currentCorrelationId } from '../../src/correlation.js';
import { CORRELATION_HEADER, createServiceServer } from '../../src/http/service-server.js';
import { createLogger } from '../../src/log.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

interface Seen {
  onRequest?: string | undefined;
  preValidation?: string | undefined;
  preHandler?: string | undefined;
  handler?: string | undefined;
  afterAwait?: string | undefined;
}

/** A service server with a route that records the id at every stage, logging into memory. */
function rig(t: { teardown: (fn: () => unknown) => void }) {
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
  const { app } = createServiceServer({
    service: 'test',
    version: '0.0.0',
    registry: new Registry(),
    dependencies: async () => ({}),
    adminToken: undefined,
    onShutdown: () => undefined,
    log,
  });
  const seen = (request: object): Seen => {
    const r = request as { seen?: Seen };
    r.seen ??= {};
    return r.seen;
  };
  // Hooks a service adds after the server's own: they run inside the id too.
  app.addHook('onRequest', async (req) => {
    seen(req).onRequest = currentCorrelationId();
  });
  app.addHook('preValidation', async (req) => {
    seen(req).preValidation = currentCorrelationId();
  });
  app.addHook('preHandler', (req, _reply, done) => {
    seen(req).preHandler = currentCorrelationId();
    done();
  });
  const handler = async (req: object) => {
    const s = seen(req);
    s.handler = currentCorrelationId();
    await sleep(5);
    await new Promise((resolve) => setImmediate(resolve));
    s.afterAwait = currentCorrelationId();
    log.info({ route: 'echo' }, 'handled');
    return s;
  };
  app.get('/echo', handler);
  // A changing route is an admin route by default; this one is declared public to test the id alone.
  app.post('/echo', { config: { admin: false } }, handler);
  t.teardown(() => app.close());
  const lines = () =>
    text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { app, lines };
}

const allStages = (id: string): Seen => ({
  onRequest: id,
  preValidation: id,
  preHandler: id,
  handler: id,
  afterAwait: id,
});

test('the given X-Correlation-ID reaches later hooks, the async handler after awaits, and its log lines', async (t) => {
  const { app, lines } = rig(t);
  const res = await app.inject({ method: 'GET', url: '/echo', headers: { 'X-Correlation-ID': 'corr-http-1' } });
  t.is(res.statusCode, 200);
  t.is(res.headers[CORRELATION_HEADER], 'corr-http-1');
  t.deepEqual(res.json(), allStages('corr-http-1'));
  t.like(
    lines().find((l) => l.msg === 'handled'),
    { correlationId: 'corr-http-1', route: 'echo' },
  );
  t.is(currentCorrelationId(), undefined, 'nothing leaks out of the request');
});

test('without a usable header an id is generated (UUIDv7), returned, and used throughout', async (t) => {
  const { app } = rig(t);
  for (const headers of [{}, { 'X-Correlation-ID': 'bad id with spaces' }, { 'X-Correlation-ID': 'x'.repeat(129) }]) {
    const res = await app.inject({ method: 'GET', url: '/echo', headers });
    const id = String(res.headers[CORRELATION_HEADER]);
    t.regex(id, UUID_V7, JSON.stringify(headers));
    t.deepEqual(res.json(), allStages(id));
  }
});

test('over a real socket: a POST whose body arrives in slow chunks, concurrently with others, keeps its own id', async (t) => {
  const { app, lines } = rig(t);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  // The body is parsed from socket events after onRequest returned: the id must survive that.
  const post = (id: string, pauseMs: number) =>
    new Promise<{ header: string | undefined; body: Seen }>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          path: '/echo',
          method: 'POST',
          headers: { [CORRELATION_HEADER]: id, 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
        },
        (res) => {
          let body = '';
          res.on('data', (d) => {
            body += String(d);
          });
          res.on('end', () =>
            resolve({ header: res.headers[CORRELATION_HEADER] as string | undefined, body: JSON.parse(body) as Seen }),
          );
        },
      );
      req.on('error', reject);
      req.write('{"part":');
      setTimeout(() => {
        req.write('"one",');
        setTimeout(() => req.end('"two":2}'), pauseMs);
      }, pauseMs);
    });
  const ids = ['corr-slow-a', 'corr-slow-b', 'corr-slow-c'];
  const answers = await Promise.all(ids.map((id, i) => post(id, 40 - i * 15)));
  answers.forEach((answer, i) => {
    t.is(answer.header, ids[i]);
    t.deepEqual(answer.body, allStages(ids[i] as string));
  });
  const logged = lines()
    .filter((l) => l.msg === 'handled')
    .map((l) => l.correlationId)
    .sort();
  t.deepEqual(logged, ids);
});
