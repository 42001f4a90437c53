/**
 * classifyError (src/http/error-reply.ts): what the service server answers
 * for each kind of error, one case each. The Redis and Fastify errors are
 * the ones the libraries really raise, caught from them, so a changed
 * message or code upstream fails here.
 */
import { createServer } from 'node:net';
import test from 'ava';
import { BrokenCircuitError, ConsecutiveBreaker, circuitBreaker, handleAll } from 'cockatiel';
import Fastify, { type InjectOptions } from 'fastify';
import { Redis, type RedisOptions, ReplyError } from 'ioredis';
import { QtError } from '../../src/errors.js';
import { classifyError, isRedisUnreachable } from '../../src/http/error-reply.js';
import { getFreePort } from '../support/free-port.js';

/** The rejection of `fn`, which must reject. */
async function rejectionOf(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

/** A client for a port nothing listens on: every connection attempt is refused. */
async function unreachableRedis(options: RedisOptions): Promise<Redis> {
  const redis = new Redis({ host: '127.0.0.1', port: await getFreePort(), ...options });
  redis.on('error', () => undefined);
  return redis;
}

/** The error Fastify hands its error handler for `request`. */
async function fastifyError(request: InjectOptions): Promise<unknown> {
  const app = Fastify({ logger: false });
  let seen: unknown;
  app.setErrorHandler((err, _request, reply) => {
    seen = err;
    return reply.code(599).send();
  });
  app.post('/body', async (request) => request.body);
  app.post('/schema', { schema: { body: { type: 'object', required: ['name'] } } }, async () => 'ok');
  await app.inject(request);
  await app.close();
  return seen;
}

const json = { 'content-type': 'application/json' };

test('a body that is not JSON is 400 invalid_body with Fastify’s code', async (t) => {
  const reply = classifyError(await fastifyError({ method: 'POST', url: '/body', headers: json, payload: '{nope' }));
  t.is(reply.status, 400);
  t.like(reply.body, { error: 'invalid_body', code: 'FST_ERR_CTP_INVALID_JSON_BODY' });
  t.is(reply.level, 'info');
});

test('an empty JSON body is 400 invalid_body', async (t) => {
  const reply = classifyError(await fastifyError({ method: 'POST', url: '/body', headers: json, payload: '' }));
  t.is(reply.status, 400);
  t.like(reply.body, { error: 'invalid_body', code: 'FST_ERR_CTP_EMPTY_JSON_BODY' });
});

test('a content type no parser takes is 415 unsupported_media_type', async (t) => {
  const err = await fastifyError({
    method: 'POST',
    url: '/body',
    headers: { 'content-type': 'application/xml' },
    payload: '<a/>',
  });
  const reply = classifyError(err);
  t.is(reply.status, 415);
  t.like(reply.body, { error: 'unsupported_media_type', code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE' });
});

test('a body over the limit is 413 body_too_large', async (t) => {
  const payload = JSON.stringify({ pad: 'x'.repeat(2 * 1024 * 1024) });
  const reply = classifyError(await fastifyError({ method: 'POST', url: '/body', headers: json, payload }));
  t.is(reply.status, 413);
  t.like(reply.body, { error: 'body_too_large', code: 'FST_ERR_CTP_BODY_TOO_LARGE' });
});

test('a route schema failure is 400 invalid_request with the validation details', async (t) => {
  const reply = classifyError(await fastifyError({ method: 'POST', url: '/schema', headers: json, payload: '{}' }));
  t.is(reply.status, 400);
  t.like(reply.body, { error: 'invalid_request', code: 'FST_ERR_VALIDATION' });
  t.like((reply.body.details as { params: unknown }[])[0]?.params, { missingProperty: 'name' });
});

test('QT_ACTOR_NOT_STARTED is 503 starting with its message', (t) => {
  const reply = classifyError(new QtError('QT_ACTOR_NOT_STARTED', 'actor pre-trade is not started'));
  t.deepEqual(reply, {
    status: 503,
    body: { error: 'starting', message: 'actor pre-trade is not started' },
    level: 'warn',
  });
});

test('ioredis "Connection is closed." is 503 redis_unavailable', async (t) => {
  const redis = await unreachableRedis({ lazyConnect: true });
  redis.disconnect();
  const err = await rejectionOf(() => redis.get('k'));
  t.is((err as Error).message, 'Connection is closed.');
  const reply = classifyError(err);
  t.is(reply.status, 503);
  t.is(reply.body.error, 'redis_unavailable');
  t.regex(reply.body.message, /Connection is closed/);
});

test('ioredis without an offline queue ("Stream isn\'t writeable") is 503 redis_unavailable', async (t) => {
  const redis = await unreachableRedis({ lazyConnect: true, enableOfflineQueue: false, retryStrategy: () => null });
  t.teardown(() => redis.disconnect());
  const err = await rejectionOf(() => redis.get('k'));
  t.regex((err as Error).message, /Stream isn't writeable/);
  t.like(classifyError(err), { status: 503, body: { error: 'redis_unavailable' } });
});

test('ioredis MaxRetriesPerRequestError is 503 redis_unavailable', async (t) => {
  const redis = await unreachableRedis({ maxRetriesPerRequest: 0, retryStrategy: () => 10 });
  t.teardown(() => redis.disconnect());
  const err = await rejectionOf(() => redis.get('k'));
  t.is((err as Error).name, 'MaxRetriesPerRequestError');
  t.like(classifyError(err), { status: 503, body: { error: 'redis_unavailable' } });
});

test('ioredis "Command timed out" (a server that never answers) is 503 redis_unavailable', async (t) => {
  const silent = createServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => silent.close(() => resolve())));
  const { port } = silent.address() as { port: number };
  const redis = new Redis({ host: '127.0.0.1', port, commandTimeout: 50, maxRetriesPerRequest: 0 });
  redis.on('error', () => undefined);
  t.teardown(() => redis.disconnect());
  const err = await rejectionOf(() => redis.get('k'));
  t.is((err as Error).message, 'Command timed out');
  t.like(classifyError(err), { status: 503, body: { error: 'redis_unavailable' } });
});

test('the circuit breaker’s BrokenCircuitError is 503 redis_unavailable', async (t) => {
  const breaker = circuitBreaker(handleAll, { halfOpenAfter: 60_000, breaker: new ConsecutiveBreaker(1) });
  await rejectionOf(() => breaker.execute(() => Promise.reject(new Error('down'))));
  const err = await rejectionOf(() => breaker.execute(() => Promise.resolve('never runs')));
  t.true(err instanceof BrokenCircuitError);
  t.like(classifyError(err), { status: 503, body: { error: 'redis_unavailable' } });
});

test('QT_PUBLISH_FAILED is 503 redis_unavailable', (t) => {
  const err = new QtError('QT_PUBLISH_FAILED', 'redis did not acknowledge an append within 2000 ms');
  t.like(classifyError(err), { status: 503, body: { error: 'redis_unavailable' } });
});

test('QT_REDIS_UNAVAILABLE (a route’s Redis deadline passed) is 503 redis_unavailable', (t) => {
  const err = new QtError('QT_REDIS_UNAVAILABLE', 'the policy: Redis did not answer within 1000 ms');
  t.like(classifyError(err), { status: 503, body: { error: 'redis_unavailable' } });
});

test('an error caused by an unreachable Redis is 503 too; a Redis error reply is not unreachable', (t) => {
  const wrapped = new Error('could not load the policy', { cause: new Error('Connection is closed.') });
  t.true(isRedisUnreachable(wrapped));
  t.like(classifyError(wrapped), { status: 503, body: { error: 'redis_unavailable' } });
  const answered = new ReplyError('WRONGTYPE Operation against a key holding the wrong kind of value');
  t.false(isRedisUnreachable(answered));
  t.is(classifyError(answered).status, 500);
});

test('anything else is 500 internal at error level, naming no internals and no stack', (t) => {
  for (const err of [
    new TypeError("Cannot read properties of undefined (reading 'secretField')"),
    new QtError('QT_INVARIANT_BROKEN', 'the ESS did not answer the reset'),
    'a thrown string',
    undefined,
  ]) {
    const reply = classifyError(err);
    t.is(reply.status, 500);
    t.is(reply.level, 'error');
    t.is(reply.body.error, 'internal');
    const text = JSON.stringify(reply.body);
    t.notRegex(text, /secretField|ESS did not answer|thrown string/);
    t.notRegex(text, /\n\s+at /);
  }
});
