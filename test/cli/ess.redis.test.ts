/**
 * `qt ess` against a real `main` (risk-safety, execution on the paper
 * venue, portfolio-intelligence) on a real Redis, the CLI as a child
 * process: status, trip, a reset refused in the cooldown with the time
 * left (exit 1), the flatten plan (changes nothing) and `--execute` (closes
 * both open positions), a reset accepted after the cooldown; each changing
 * command leaves its audit event. Then the failures every command shares:
 * no `--reason`, no token, a refused token (exit 2), nothing listening
 * (exit 4), never a stack trace.
 */
import test from 'ava';
import {
  EssFlattenOutputSchema,
  EssResetOutputSchema,
  EssStatusOutputSchema,
  EssTripOutputSchema,
} from '../../src/cli/ess.js';
import type { EventData } from '../../src/events/catalog.js';
import type { Envelope } from '../../src/events/envelope.js';
import { decodeEntry } from '../../src/streams/codec.js';
import { RedisPublisher } from '../../src/streams/publisher.js';
import { waitFor } from '../support/bus.js';
import { runQt } from '../support/cli.js';
import { getFreePort } from '../support/free-port.js';
import { startMain } from '../support/main-process.js';
import { redisRig } from '../support/rig.js';

const TOKEN = 'a-cli-ess-admin-token-for-tests';
const COOLDOWN_MS = 20_000;

test('trip, a reset refused in the cooldown, the flatten plan and --execute, a reset after the cooldown; audited', async (t) => {
  const { server, dataDir, prefix, keys } = await redisRig(t, 'cli-ess');
  const { port } = await startMain(t, ['--actors=risk-safety,execution,portfolio-intelligence'], {
    REDIS_URL: server.url,
    QT_DATA_DIR: dataDir,
    QT_KEY_PREFIX: prefix,
    QT_ADMIN_TOKEN: TOKEN,
    QT_ESS_COOLDOWN_MS: String(COOLDOWN_MS),
    QT_SUMMARY_INTERVAL_MS: '0',
  });
  const env = {
    REDIS_URL: server.url,
    QT_KEY_PREFIX: prefix,
    QT_ADMIN_TOKEN: TOKEN,
    QT_HTTP_PORT_OFFSET: String(port(0)),
  };
  const qt = (...args: string[]) => runQt(args, env);
  const redis = server.client();
  const stream = async (topic: string): Promise<Envelope[]> =>
    (await redis.xrange(keys.stream(topic), '-', '+')).map(([, f]) => decodeEntry(f));
  const status = async () => {
    const res = await qt('--json', 'ess', 'status');
    t.is(res.code, 0, res.stderr);
    return EssStatusOutputSchema.parse(JSON.parse(res.stdout));
  };
  await waitFor(async () => (await qt('ess', 'status')).code === 0, 'the ESS answering', 30_000, 200);

  const armed = await qt('ess', 'status');
  t.is(armed.code, 0, armed.stderr);
  t.regex(armed.stdout, /^ESS\s+armed$/m);
  t.like(await status(), { state: 'armed', trip: null, lastReset: null });

  // Armed: the plan says flatten would be refused, exit 1, and nothing is recorded.
  const early = await qt('ess', 'flatten', '--reason', 'too early');
  t.is(early.code, 1, early.stderr);
  t.regex(early.stderr, /^qt: would be refused: the ESS is armed/m);

  // Two positions, opened by approvals the paper venue fills (as the ESS flatten test does).
  const desk = new RedisPublisher({ redis, keys, producer: 'cli-desk', source: 'test' });
  t.teardown(() => desk.close());
  await desk.publish('market.tick', { symbol: 'BTCUSDT', price: 50_000, volume: 1 });
  await desk.publish('market.tick', { symbol: 'ETHUSDT', price: 3_000, volume: 1 });
  for (const [orderId, symbol, quantity, price] of [
    ['ord-cli-btc', 'BTCUSDT', 0.1, 50_000],
    ['ord-cli-eth', 'ETHUSDT', 1.5, 3_000],
  ] as const) {
    await desk.publish('order.approved', {
      orderId,
      symbol,
      side: 'buy',
      type: 'market',
      quantity,
      reduceOnly: false,
      notional: quantity * price,
    });
  }
  const lastPortfolio = async () =>
    (await stream('portfolio')).findLast((e) => e.type === 'portfolio.updated')?.data as
      | EventData<'portfolio.updated'>
      | undefined;
  await waitFor(async () => (await lastPortfolio())?.positions.length === 2, 'both positions', 20_000, 100);

  const trip = await qt('--json', 'ess', 'trip', '--operator', 'alice', '--reason', 'cli drill');
  t.is(trip.code, 0, trip.stderr);
  t.like(EssTripOutputSchema.parse(JSON.parse(trip.stdout)), { applied: true, state: 'tripped', recordedIn: null });
  const wrongToken = await runQt(['ess', 'reset', '--operator', 'alice', '--reason', 'wrong token'], {
    ...env,
    QT_ADMIN_TOKEN: 'not-the-admin-token-at-all',
  });
  t.is(wrongToken.code, 2);
  t.regex(
    wrongToken.stderr,
    /^qt: the admin token was refused by risk-safety at http:\/\/127\.0\.0\.1:\d+ \(QT_ADMIN_TOKEN \/ --token-file\)$/m,
  );
  const tripped = await qt('ess', 'status');
  t.log(`qt ess status (tripped):\n${tripped.stdout}`);
  t.regex(tripped.stdout, /^ESS\s+tripped$/m);
  t.regex(tripped.stdout, /^cooldown\s+until \S+, \d+s left$/m);
  t.regex(tripped.stdout, /^tripped by\s+operator alice: cli drill \(manual\)$/m);

  // Reset in the cooldown: refused with the time left, exit 1; the JSON says the same.
  const refused = await qt('ess', 'reset', '--operator', 'alice', '--reason', 'too soon');
  t.is(refused.code, 1, refused.stderr);
  t.regex(refused.stderr, /^qt: refused: COOLDOWN_ACTIVE, \d+(s|ms) left \(cooldown runs until \S+\)$/m);
  t.log(`qt ess reset (in the cooldown): ${refused.stderr.trim()}`);
  const refusedJson = await qt('--json', 'ess', 'reset', '--operator', 'alice', '--reason', 'too soon');
  t.is(refusedJson.code, 1);
  const refusal = EssResetOutputSchema.parse(JSON.parse(refusedJson.stdout));
  t.like(refusal, { accepted: false, code: 'COOLDOWN_ACTIVE', state: 'tripped' });
  t.true((refusal.remainingMs ?? 0) > 0 && (refusal.remainingMs ?? 0) <= COOLDOWN_MS);
  t.like(await status(), { state: 'tripped', lastReset: { accepted: false, code: 'COOLDOWN_ACTIVE' } });

  // The flatten plan: both exits, and nothing changes.
  const plan = await qt('ess', 'flatten', '--operator', 'alice', '--reason', 'close all');
  t.is(plan.code, 0, plan.stderr);
  t.log(`qt ess flatten (plan):\n${plan.stdout}`);
  t.regex(plan.stdout, /^BTCUSDT\s+sell\s+0\.1\s+50000\s+5000\.00/m);
  t.regex(plan.stdout, /^ETHUSDT\s+sell\s+1\.5\s+3000\s+4500\.00/m);
  t.regex(plan.stdout, /nothing sent: add --execute/);
  const planJson = EssFlattenOutputSchema.parse(
    JSON.parse((await qt('--json', 'ess', 'flatten', '--reason', 'close all')).stdout),
  );
  t.like(planJson, { executed: false, requestId: null });
  // Still halted; on a loaded machine the 20 s cooldown may have run out by now (awaitingReset): flatten applies to both.
  t.true(['tripped', 'awaitingReset'].includes(planJson.essState as string), String(planJson.essState));
  t.deepEqual(planJson.orders.map((o) => [o.symbol, o.side, o.quantity]).sort(), [
    ['BTCUSDT', 'sell', 0.1],
    ['ETHUSDT', 'sell', 1.5],
  ]);
  t.false(
    (await stream('ess')).some((e) => e.type === 'ess.flatten_requested'),
    'a plan records no flatten request',
  );
  t.is((await lastPortfolio())?.positions.length, 2, 'a plan closes nothing');

  // --execute: both exits filled, the ESS stays tripped.
  const executed = await qt('--json', 'ess', 'flatten', '--operator', 'alice', '--reason', 'close all', '--execute');
  t.is(executed.code, 0, executed.stderr);
  const result = EssFlattenOutputSchema.parse(JSON.parse(executed.stdout));
  t.like(result, { executed: true, refused: null });
  t.true(['tripped', 'awaitingReset'].includes(result.essState as string), String(result.essState));
  t.deepEqual(result.orders.map((o) => [o.symbol, o.side, o.quantity, o.outcome]).sort(), [
    ['BTCUSDT', 'sell', 0.1, 'filled'],
    ['ETHUSDT', 'sell', 1.5, 'filled'],
  ]);
  await waitFor(async () => (await lastPortfolio())?.positions.length === 0, 'the portfolio flat', 20_000, 100);
  const nothingLeft = await qt('ess', 'flatten', '--reason', 'anything left?', '--execute');
  t.is(nothingLeft.code, 0, nothingLeft.stderr);
  t.log(`qt ess flatten --execute (again):\n${nothingLeft.stdout}`);
  t.regex(nothingLeft.stdout, /^flatten: nothing to close \(request \S+; the ESS stays (tripped|awaitingReset)\)/m);

  // After the cooldown: the reset is accepted.
  await waitFor(async () => (await status()).state === 'awaitingReset', 'the cooldown over', 20_000, 200);
  const reset = await qt('ess', 'reset', '--operator', 'alice', '--reason', 'drill over');
  t.is(reset.code, 0, reset.stderr);
  t.is(reset.stdout.trim(), 'reset: the ESS is armed (was awaitingReset)');
  t.like(await status(), { state: 'armed', lastReset: { accepted: true, operator: 'alice' } });

  // One audit event per changing command run, plans excepted, with who, why and how it ended.
  const audit = (await stream('audit')).map((e) => e.data as EventData<'audit.command_executed'>);
  t.deepEqual(
    audit.map((a) => [a.command, a.operator, a.reason, a.result]),
    [
      ['ess trip', 'alice', 'cli drill', 'ok'],
      ['ess reset', 'alice', 'wrong token', 'failed'],
      ['ess reset', 'alice', 'too soon', 'refused'],
      ['ess reset', 'alice', 'too soon', 'refused'],
      ['ess flatten', 'alice', 'close all', 'ok'],
      ['ess flatten', audit[5]?.operator ?? '?', 'anything left?', 'ok'],
      ['ess reset', 'alice', 'drill over', 'ok'],
    ],
  );
  t.regex(String(audit[5]?.operator), /^.+@.+$/, 'the default operator is user@host');
  // The service's own record of the trip carries the correlation id the command sent, as does its audit event.
  const auditEnvelopes = (await stream('audit')).filter((e) => e.type === 'audit.command_executed');
  const tripRequest = (await stream('ess')).find((e) => e.type === 'ess.trip_requested');
  t.is(tripRequest?.correlationId, auditEnvelopes[0]?.correlationId);
});

test('no --reason, no token, a refused token: exit 2; nothing listening: exit 4; never a stack trace', async (t) => {
  const free = await getFreePort();
  const env = { QT_ADMIN_TOKEN: TOKEN, REDIS_URL: 'redis://127.0.0.1:1' };
  const noReason = await runQt(['ess', 'trip'], env);
  t.is(noReason.code, 2);
  t.regex(noReason.stderr, /required option '--reason <text>' not specified/);

  const noToken = await runQt(['ess', 'reset', '--reason', 'x', '--url', `http://127.0.0.1:${free}`], {});
  t.is(noToken.code, 2);
  t.regex(noToken.stderr, /^qt: this command needs the admin token/m);

  const unreachable = await runQt(['ess', 'trip', '--reason', 'x', '--url', `http://127.0.0.1:${free}`], env);
  t.is(unreachable.code, 4);
  const lines = unreachable.stderr.trim().split('\n');
  t.is(
    lines.at(-1),
    `qt: cannot reach risk-safety at http://127.0.0.1:${free}: connect ECONNREFUSED 127.0.0.1:${free}`,
  );
  // It ran and failed: its audit event is attempted too, and Redis is not there either.
  t.regex(lines[0] ?? '', /^qt: qt ess trip ran \(failed\) but its audit event was not recorded: /);
  const statusUnreachable = await runQt(['ess', 'status', '--url', `http://127.0.0.1:${free}/`], env);
  t.is(statusUnreachable.code, 4);
  t.regex(statusUnreachable.stderr, /^qt: cannot reach risk-safety at http:\/\/127\.0\.0\.1:\d+: connect ECONNREFUSED/);

  const badUrl = await runQt(['ess', 'status', '--url', 'not a url'], env);
  t.is(badUrl.code, 2);
  for (const res of [noReason, noToken, unreachable, statusUnreachable, badUrl]) {
    t.notRegex(res.stderr, /^\s+at /m, 'no stack trace');
  }
});
