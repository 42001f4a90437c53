/**
 * Flatten after a trip (docs/architecture.md §9.1, §9.6), through real
 * processes: `main` with risk-safety, execution (paper venue) and
 * portfolio-intelligence on a real Redis. Positions are opened by approvals
 * and filled on the paper venue; the ESS is tripped; orders that are not an
 * operator's emergency exit are refused; `POST /ess/flatten` closes every
 * position through pre-trade and execution, reporting each exit's outcome,
 * while the ESS stays tripped. The portfolio and the paper account end flat,
 * and the venue's own order table has nothing after the trip but the exits.
 */
import { join } from 'node:path';
import test from 'ava';
import Database from 'better-sqlite3';
import type { EventData } from '../../../src/events/catalog.js';
import type { Envelope } from '../../../src/events/envelope.js';
import { PAPER_EXCHANGE_FILE } from '../../../src/exchange/open-venue.js';
import { decodeEntry } from '../../../src/streams/codec.js';
import { RedisPublisher } from '../../../src/streams/publisher.js';
import { waitFor } from '../../support/bus.js';
import { startMain } from '../../support/main-process.js';
import { redisRig } from '../../support/rig.js';

const TOKEN = 'a-flatten-admin-token-for-tests';

interface FlattenAnswer {
  requestId: string;
  state: string;
  orders: { orderId: string; symbol: string; side: string; quantity: number; outcome: string; reason?: string }[];
}

test('flatten after a trip closes every position with reduce-only exits, reports each, and lets nothing else through', async (t) => {
  const { server, dataDir, prefix, keys } = await redisRig(t, 'ess-flatten');
  const { run, port } = await startMain(t, ['--actors=risk-safety,execution,portfolio-intelligence'], {
    REDIS_URL: server.url,
    QT_DATA_DIR: dataDir,
    QT_KEY_PREFIX: prefix,
    QT_ADMIN_TOKEN: TOKEN,
    QT_SUMMARY_INTERVAL_MS: '0',
  });
  const risk = `http://127.0.0.1:${port(8003)}`;
  const exec = `http://127.0.0.1:${port(8002)}`;
  const post = (path: string, body: unknown) =>
    fetch(`${risk}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const redis = server.client();
  const stream = async (topic: string): Promise<Envelope[]> =>
    (await redis.xrange(keys.stream(topic), '-', '+')).map(([, f]) => decodeEntry(f));
  const venueOrders = () => {
    const db = new Database(join(dataDir, PAPER_EXCHANGE_FILE), { readonly: true, fileMustExist: true });
    try {
      return db
        .prepare('SELECT client_order_id AS id, symbol, side, quantity, status FROM orders ORDER BY venue_order_id')
        .all() as { id: string; symbol: string; side: string; quantity: number; status: string }[];
    } finally {
      db.close();
    }
  };
  const lastPortfolio = async () =>
    (await stream('portfolio')).findLast((e) => e.type === 'portfolio.updated')?.data as
      | EventData<'portfolio.updated'>
      | undefined;

  await waitFor(async () => (await fetch(`${risk}/ess`)).status === 200, 'the ESS running', 20_000, 100);
  // Armed: nothing to flatten, refused with the reason, nothing recorded.
  const early = await post('/ess/flatten', { operator: 'alice', reason: 'too early' });
  t.is(early.status, 409);
  t.like(await early.json(), { error: 'not_tripped', state: 'armed' });
  t.false(
    (await stream('ess')).some((e) => e.type === 'ess.flatten_requested'),
    'a refused flatten records nothing',
  );

  // Two positions, opened by approvals the paper venue fills.
  const desk = new RedisPublisher({ redis, keys, producer: 'flat-desk', source: 'test' });
  await desk.publish('market.tick', { symbol: 'BTCUSDT', price: 50_000, volume: 1 });
  await desk.publish('market.tick', { symbol: 'ETHUSDT', price: 3_000, volume: 1 });
  const approve = (orderId: string, symbol: string, side: 'buy' | 'sell', quantity: number, reduceOnly = false) =>
    desk.publish('order.approved', {
      orderId,
      symbol,
      side,
      type: 'market',
      quantity,
      reduceOnly,
      notional: quantity * (symbol === 'BTCUSDT' ? 50_000 : 3_000),
    });
  await approve('ord-open-btc', 'BTCUSDT', 'buy', 0.1);
  await approve('ord-open-eth', 'ETHUSDT', 'buy', 1.5);
  await waitFor(
    async () => {
      const positions = (await lastPortfolio())?.positions ?? [];
      return positions.length === 2;
    },
    'both positions in the portfolio',
    20_000,
    100,
  );
  const opened = Object.fromEntries(((await lastPortfolio())?.positions ?? []).map((p) => [p.symbol, p.quantity]));
  t.deepEqual(opened, { BTCUSDT: 0.1, ETHUSDT: 1.5 });

  const trip = await post('/ess/trip', { operator: 'alice', reason: 'flatten drill' });
  t.is(trip.status, 200);
  const venueBeforeFlatten = venueOrders().length;
  // After the trip: a new position, and a reduce-only order that is not an emergency exit. Neither may go out.
  await approve('ord-after-buy', 'BTCUSDT', 'buy', 0.05);
  await approve('ord-after-reduce', 'ETHUSDT', 'sell', 0.5, true);
  const refusals = async () =>
    (await stream('order')).filter(
      (e) => e.type === 'order.cancelled' && ['ord-after-buy', 'ord-after-reduce'].includes(e.data.orderId),
    );
  await waitFor(async () => (await refusals()).length === 2, 'both refused by execution', 20_000, 100);
  for (const refusal of await refusals()) {
    t.regex(
      String((refusal.data as { reason: string }).reason),
      /^ESS tripped: tripped by operator alice: flatten drill \(TRADING_HALTED\)$/,
    );
  }

  const started = performance.now();
  const flatten = await post('/ess/flatten', { operator: 'alice', reason: 'close everything' });
  const answer = (await flatten.json()) as FlattenAnswer;
  t.log(
    `flatten answered ${flatten.status} in ${Math.round(performance.now() - started)} ms: ${JSON.stringify(answer)}`,
  );
  t.is(flatten.status, 200);
  t.is(answer.state, 'tripped', 'the ESS stays tripped');
  t.deepEqual(answer.orders.map((o) => [o.symbol, o.side, o.quantity, o.outcome]).sort(), [
    ['BTCUSDT', 'sell', 0.1, 'filled'],
    ['ETHUSDT', 'sell', 1.5, 'filled'],
  ]);

  // Flat everywhere: the portfolio, the paper account.
  await waitFor(
    async () => ((await lastPortfolio())?.positions ?? [1]).length === 0,
    'the portfolio flat',
    20_000,
    100,
  );
  const balances = (await (await fetch(`${exec}/balances`)).json()) as Record<string, { free: number; locked: number }>;
  for (const asset of ['BTC', 'ETH']) {
    t.true(Math.abs(balances[asset]?.free ?? 0) < 1e-9, `${asset} ${JSON.stringify(balances[asset])}`);
    t.is(balances[asset]?.locked ?? 0, 0);
  }

  // The venue saw nothing after the trip but the exits: reduce-only sells of what was held.
  const sinceTrip = venueOrders().slice(venueBeforeFlatten);
  t.deepEqual(sinceTrip.map((o) => [o.id.startsWith('flat-'), o.symbol, o.side, o.quantity, o.status]).sort(), [
    [true, 'BTCUSDT', 'sell', 0.1, 'filled'],
    [true, 'ETHUSDT', 'sell', 1.5, 'filled'],
  ]);
  // The exits are pre-trade decisions: emergency exits, reduce-only, caused by the recorded request, with what they were decided on.
  const request = (await stream('ess')).find((e) => e.type === 'ess.flatten_requested');
  t.like(request?.data, { requestId: answer.requestId, operator: 'alice', reason: 'close everything' });
  const exits = (await stream('order')).filter(
    (e): e is Envelope<'order.approved'> => e.type === 'order.approved' && e.causationId === request?.id,
  );
  t.is(exits.length, 2);
  for (const exit of exits) {
    t.like(exit.data, { reduceOnly: true, emergencyExit: true, type: 'market' });
    t.truthy(exit.data.decidedAt);
    t.truthy(exit.data.asOf?.portfolio, 'decided on a portfolio update');
  }
  t.is(((await (await fetch(`${risk}/ess`)).json()) as { state: string }).state, 'tripped');

  // Again: nothing left to close.
  const again = await post('/ess/flatten', { operator: 'alice', reason: 'anything left?' });
  t.is(again.status, 200);
  t.deepEqual(((await again.json()) as FlattenAnswer).orders, []);

  run.child.kill('SIGTERM');
  t.is(await run.exit, 0);
});
