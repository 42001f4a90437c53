import test from 'ava';
import { BrokenCircuitError } from 'cockatiel';
import { Registry } from 'prom-client';
import { reconnectDelayMs } from '../../src/streams/connection.js';
import { RedisLink } from '../../src/streams/redis-link.js';
import { waitFor } from '../support/bus.js';
import { startRedis } from '../support/redis-fixture.js';

test('reconnect delays double from 1 s to a 30 s cap, with ±20 % jitter', (t) => {
  const mid = (attempt: number) => reconnectDelayMs(attempt, () => 0.5);
  t.deepEqual([1, 2, 3, 4, 5, 6, 7, 12].map(mid), [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
  t.is(
    reconnectDelayMs(1, () => 0),
    800,
  );
  t.is(
    reconnectDelayMs(1, () => 1),
    1_200,
  );
});

test('healthCheck reports latency, version, uptime, clients, memory, role and breaker state', async (t) => {
  const server = await startRedis({ name: 'health' });
  t.teardown(() => server.stop());
  const link = new RedisLink(server.client());
  const h = await link.healthCheck();
  // OK unless the answer took over 100 ms (a loaded machine): then DEGRADED, as the rule says.
  t.is(h.status, (h.latencyMs ?? 0) > 100 ? 'DEGRADED' : 'OK', `latency ${h.latencyMs} ms`);
  t.regex(h.version ?? '', /^\d+\.\d+\.\d+$/);
  t.true((h.latencyMs ?? -1) >= 0);
  t.true((h.uptimeSeconds ?? -1) >= 0);
  t.true((h.connectedClients ?? 0) >= 1);
  t.true((h.usedMemoryBytes ?? 0) > 0);
  t.is(h.role, 'master');
  t.is(h.breaker, 'closed');
});

test('a stalled Redis opens the circuit after 3 timeouts; it fails fast, half-opens by itself and closes', async (t) => {
  const server = await startRedis({ name: 'breaker' });
  t.teardown(() => server.stop());
  const registry = new Registry();
  const redis = server.client({ enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 100 });
  const admin = server.client();
  const link = new RedisLink(redis, { halfOpenAfterMs: 300, registry });
  let available = 0;
  link.onAvailable(() => available++);
  await waitFor(() => redis.status === 'ready', 'connected');
  await link.execute(() => redis.ping());

  // Connected, but not answering: every command times out.
  await admin.call('CLIENT', 'PAUSE', '1500', 'ALL');
  for (let i = 0; i < 3; i++)
    await t.throwsAsync(
      link.execute(() => redis.ping()),
      { message: /timed out/ },
    );
  t.true(link.circuitOpen, 'open after three failures');
  const heard = available;
  let called = false;
  await t.throwsAsync(
    link.execute(async () => {
      called = true;
      return 'x';
    }),
    { instanceOf: BrokenCircuitError },
  );
  t.false(called, 'an open circuit does not even try');
  const down = await link.healthCheck();
  t.is(down.status, 'DOWN');
  t.is(down.breaker, 'open');

  await admin.call('CLIENT', 'UNPAUSE');
  // Nobody calls execute() while the circuit is open; the link itself must
  // say when a trial is due, or callers that skip Redis would wait for ever.
  await waitFor(() => !link.circuitOpen, 'trial due after halfOpenAfter', 2_000);
  await waitFor(() => available > heard, 'listeners woken for the trial', 2_000);
  t.is(await link.execute(() => redis.ping()), 'PONG', 'the trial call goes through');
  t.is(link.breakerState, 'closed');
  const state = await registry.getSingleMetric('redis_circuit_breaker_state')?.get();
  t.is(state?.values[0]?.value, 0);
});

test('a dead Redis is not a breaker failure: commands fail at once, the link is not ready, reconnects are counted', async (t) => {
  const server = await startRedis({ name: 'dead' });
  t.teardown(() => server.stop());
  const registry = new Registry();
  const redis = server.client({ enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => 50 });
  const link = new RedisLink(redis, { registry });
  await waitFor(() => link.ready, 'connected');
  await server.kill();
  await waitFor(() => !link.ready, 'link sees the connection gone');
  for (let i = 0; i < 5; i++) await t.throwsAsync(link.execute(() => redis.ping()));
  t.is(link.breakerState, 'closed', 'connection state, not the breaker, says Redis is unreachable');
  await server.restart();
  t.true(await link.waitUntilReady(5_000));
  const reconnects = await registry.getSingleMetric('redis_reconnects_total')?.get();
  t.true((reconnects?.values[0]?.value ?? 0) > 0);
});
