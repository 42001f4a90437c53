/**
 * The kill switch always answers (docs/architecture.md §9.6): a real `main`
 * (risk-safety and execution, paper venue) against a real Redis that stalls
 * (`CLIENT PAUSE ... ALL`: connected, answering nothing). `POST /ess/trip`
 * answers within 2 s with `202` and the request recorded in the disk
 * buffer; execution sends nothing while it cannot read the ESS state; when
 * Redis answers again the ESS is tripped, once, with the operator's reason,
 * and the order execution was about to send is cancelled naming the trip.
 * The reads answer `503` JSON meanwhile. With Redis healthy a trip answers
 * `200`, applied.
 */
import { join } from 'node:path';
import test from 'ava';
import Database from 'better-sqlite3';
import { PAPER_EXCHANGE_FILE } from '../../../src/exchange/open-venue.js';
import { decodeEntry } from '../../../src/streams/codec.js';
import { createKeys } from '../../../src/streams/keys.js';
import { RedisPublisher } from '../../../src/streams/publisher.js';
import { waitFor } from '../../support/bus.js';
import { type MainProcess, startMain } from '../../support/main-process.js';
import { redisRig } from '../../support/rig.js';

const TOKEN = 'a-stalled-redis-admin-token';
const PAUSE_MS = 6_000;

/** The JSON log lines a `main` printed so far. */
function logLines(run: MainProcess): Record<string, unknown>[] {
  return run
    .out()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('a trip against a paused Redis answers 202 within 2 s, nothing is sent meanwhile, and it trips the ESS once Redis answers', async (t) => {
  const { server, dataDir, prefix, keys } = await redisRig(t, 'ess-stalled');
  const { run, port } = await startMain(t, ['--actors=risk-safety,execution'], {
    REDIS_URL: server.url,
    QT_DATA_DIR: dataDir,
    QT_KEY_PREFIX: prefix,
    QT_ADMIN_TOKEN: TOKEN,
    QT_ESS_COOLDOWN_MS: '1000',
    QT_SUMMARY_INTERVAL_MS: '0',
  });
  const risk = `http://127.0.0.1:${port(8003)}`;
  const exec = `http://127.0.0.1:${port(8002)}`;
  const admin = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  const post = (path: string, body: unknown) =>
    fetch(`${risk}${path}`, { method: 'POST', headers: admin, body: JSON.stringify(body) });
  const timed = async <T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> => {
    const started = performance.now();
    const value = await work();
    return { value, ms: Math.round(performance.now() - started) };
  };
  const redis = server.client();
  const essEvents = async () => (await redis.xrange(keys.stream('ess'), '-', '+')).map(([, f]) => decodeEntry(f));
  const venueOrders = () => {
    const db = new Database(join(dataDir, PAPER_EXCHANGE_FILE), { readonly: true, fileMustExist: true });
    try {
      return db.prepare('SELECT client_order_id AS id, symbol, side FROM orders').all() as {
        id: string;
        symbol: string;
        side: string;
      }[];
    } finally {
      db.close();
    }
  };

  // Healthy Redis: a trip is applied before the answer.
  const healthy = await timed(() => post('/ess/trip', { operator: 'alice', reason: 'drill, Redis healthy' }));
  t.is(healthy.value.status, 200);
  t.like(await healthy.value.json(), { applied: true, state: 'tripped' });
  t.log(`healthy Redis: trip answered 200 (applied) in ${healthy.ms} ms`);
  await waitFor(
    async () => ((await (await fetch(`${risk}/ess`)).json()) as { state: string }).state === 'awaitingReset',
    'cooldown over',
    10_000,
    100,
  );
  const reset = await post('/ess/reset', { operator: 'alice', reason: 'drill over' });
  t.is(reset.status, 200, await reset.clone().text());
  const eventsBefore = (await essEvents()).length;

  // An order execution will try to send during the stall: no price yet, so the venue has it
  // retry with a growing backoff; the price comes just before the stall, the next attempt falls inside it.
  const feed = new RedisPublisher({ redis, keys, producer: 'stall-test', source: 'test' });
  await feed.publish('order.approved', {
    orderId: 'ord-stalled-1',
    symbol: 'XRPUSDT',
    side: 'buy',
    type: 'market',
    quantity: 100,
    reduceOnly: false,
    notional: 50,
  });
  let retryAt = 0;
  await waitFor(
    () => {
      const retry = logLines(run).findLast(
        (l) => l.msg === 'venue call failed; will retry' && l.orderId === 'ord-stalled-1',
      );
      retryAt = Number(retry?.retryAt ?? 0);
      return retryAt - Date.now() > 1_500;
    },
    'the order retried with a backoff of a few seconds',
    20_000,
    20,
  );
  await feed.publish('market.tick', { symbol: 'XRPUSDT', price: 0.5, volume: 1 });
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.true(retryAt - Date.now() > 500, 'the next attempt is still ahead');
  const ordersBefore = venueOrders().length;

  await server.client().call('CLIENT', 'PAUSE', String(PAUSE_MS), 'ALL');
  const pausedAt = Date.now();
  const trip = await timed(() => post('/ess/trip', { operator: 'bob', reason: 'Redis stalled, halting' }));
  const tripBody = (await trip.value.json()) as Record<string, unknown>;
  t.log(`paused Redis: trip answered ${trip.value.status} in ${trip.ms} ms: ${JSON.stringify(tripBody)}`);
  t.true(trip.ms < 2_000, `answered in ${trip.ms} ms`);
  t.is(trip.value.status, 202);
  t.like(tripBody, { applied: false, recordedIn: 'disk-buffer' });
  t.regex(String(tripBody.message), /execution sends no order while it cannot read the ESS state/);

  // The reads answer 503 JSON, within about their deadline, not a bare 500 after the command timeout.
  for (const [method, path, body] of [
    ['GET', '/ess', undefined],
    ['GET', '/policy', undefined],
    ['PUT', '/policy', { operator: 'bob', policy: { maxOpenOrders: 3 } }],
  ] as const) {
    const answer = await timed(() =>
      fetch(`${risk}${path}`, {
        method,
        ...(body ? { headers: admin, body: JSON.stringify(body) } : {}),
      }),
    );
    t.is(answer.value.status, 503, `${method} ${path}`);
    t.like(
      await answer.value.json(),
      { error: 'redis_unavailable', code: 'QT_REDIS_UNAVAILABLE' },
      `${method} ${path}`,
    );
    t.true(answer.ms < 2_000, `${method} ${path} answered in ${answer.ms} ms`);
    t.log(`paused Redis: ${method} ${path} answered 503 in ${answer.ms} ms`);
  }

  // Nothing reaches the venue while Redis is paused, though the order is due.
  while (Date.now() < pausedAt + PAUSE_MS - 300) {
    t.is(venueOrders().length, ordersBefore, 'no order reached the venue during the pause');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  t.true(Date.now() > retryAt, 'the order was due during the pause');

  // Redis answers again: the trip takes effect, once.
  await waitFor(
    async () => {
      const res = await fetch(`${risk}/ess`);
      return res.status === 200 && ((await res.json()) as { state: string }).state === 'tripped';
    },
    'the ESS tripped after the pause',
    20_000,
    100,
  );
  t.log(`tripped ${Date.now() - (pausedAt + PAUSE_MS)} ms after the pause ended (GET /ess polled every 100 ms)`);
  const projection = JSON.parse((await redis.get(keys.projection('ess'))) ?? '{}');
  t.like(projection, {
    state: 'tripped',
    trip: { trigger: 'manual', operator: 'bob', reason: 'Redis stalled, halting' },
  });
  await waitFor(
    async () => (await essEvents()).slice(eventsBefore).some((e) => e.type === 'ess.trip_requested'),
    'the recorded request replayed from the disk buffer',
    20_000,
    100,
  );
  const after = (await essEvents()).slice(eventsBefore);
  t.like(
    after.filter((e) => e.type === 'ess.tripped').map((e) => e.data),
    [{ trigger: 'manual', operator: 'bob', reason: 'Redis stalled, halting' }],
    'one ess.tripped, with the operator and reason: the direct send and the recorded request applied once',
  );
  t.is(after.filter((e) => e.type === 'ess.trip_requested').length, 1, 'recorded once');

  // The order execution held is cancelled, naming the trip; it never reached the venue.
  let cancelled: Record<string, unknown> | undefined;
  await waitFor(
    async () => {
      const orders = (await redis.xrange(keys.stream('order'), '-', '+')).map(([, f]) => decodeEntry(f));
      cancelled = orders.find((e) => e.type === 'order.cancelled' && e.data.orderId === 'ord-stalled-1')?.data;
      return cancelled !== undefined;
    },
    'the held order cancelled',
    20_000,
    100,
  );
  t.regex(String(cancelled?.reason), /^ESS tripped: tripped by operator bob: Redis stalled, halting/);
  t.deepEqual(venueOrders().length, ordersBefore, 'the held order never reached the venue');
  t.false(
    ((await (await fetch(`${exec}/orders`)).json()) as { clientOrderId: string }[]).some(
      (o) => o.clientOrderId === 'ord-stalled-1',
    ),
  );
  const policy = (await (await fetch(`${risk}/policy`)).json()) as { maxOpenOrders: number };
  t.not(policy.maxOpenOrders, 3, 'the PUT refused during the pause wrote nothing');

  run.child.kill('SIGTERM');
  t.is(await run.exit, 0);
});

test('the first trip of a fresh process against a paused Redis also answers within 2 s and takes effect after', async (t) => {
  const { server, dataDir, prefix } = await redisRig(t, 'ess-stalled-fresh');
  const { run, port } = await startMain(t, ['--actors=risk-safety'], {
    REDIS_URL: server.url,
    QT_DATA_DIR: dataDir,
    QT_KEY_PREFIX: prefix,
    QT_ADMIN_TOKEN: TOKEN,
    QT_SUMMARY_INTERVAL_MS: '0',
  });
  const risk = `http://127.0.0.1:${port(8003)}`;
  await waitFor(async () => (await fetch(`${risk}/ess`)).status === 200, 'the ESS running', 20_000, 100);

  // Nothing was ever published on `ess` by this process: its publish lane has not read its seq from Redis yet.
  // That read is bounded by the publish's deadline too (src/streams/publisher.ts), so the record is durable in time.
  await server.client().call('CLIENT', 'PAUSE', String(PAUSE_MS), 'ALL');
  const started = performance.now();
  const trip = await fetch(`${risk}/ess/trip`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ operator: 'carol', reason: 'first thing after start' }),
  });
  const ms = Math.round(performance.now() - started);
  const body = (await trip.json()) as { recordedIn?: string };
  t.log(`fresh process, paused Redis: trip answered ${trip.status} in ${ms} ms: ${JSON.stringify(body)}`);
  t.true(ms < 2_000, `answered in ${ms} ms`);
  t.is(trip.status, 202);
  t.is(body.recordedIn, 'disk-buffer');

  await waitFor(
    async () => {
      const res = await fetch(`${risk}/ess`);
      return res.status === 200 && ((await res.json()) as { state: string }).state === 'tripped';
    },
    'the ESS tripped after the pause',
    20_000,
    100,
  );
  const ess = (await server.client().xrange(createKeys(prefix).stream('ess'), '-', '+')).map(([, f]) => decodeEntry(f));
  t.like(
    ess.filter((e) => e.type === 'ess.tripped').map((e) => e.data),
    [{ operator: 'carol', reason: 'first thing after start' }],
  );
  run.child.kill('SIGTERM');
  t.is(await run.exit, 0);
});
