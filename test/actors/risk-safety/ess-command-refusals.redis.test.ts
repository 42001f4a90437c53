/**
 * The ESS command routes refuse bad bodies and change nothing: `POST
 * /ess/trip`, `/ess/reset` and `/ess/flatten` on the real ESS and pre-trade
 * services (real Redis), each with unknown fields, control characters,
 * bidirectional overrides and lone surrogates (sent as JSON escapes, as a
 * client would) in `operator` or `reason`. Every refusal is a 400 naming
 * what is wrong; afterwards the ESS is still armed and nothing was
 * published. A good trip then goes through, so the routes are live.
 */
import test from 'ava';
import Fastify from 'fastify';
import { EssService } from '../../../src/actors/risk-safety/ess-service.js';
import { PretradeService } from '../../../src/actors/risk-safety/pretrade-service.js';
import { loadConfig } from '../../../src/config/load.js';
import { adminGuard } from '../../../src/http/auth.js';
import { RedisPublisher } from '../../../src/streams/publisher.js';
import { testKeys, waitFor } from '../../support/bus.js';
import { startRedis } from '../../support/redis-fixture.js';

const TOKEN = 'a-refusals-admin-token';

/** Bodies as raw JSON text, so lone surrogates travel as `\ud800` escapes like from any JSON client. */
const BAD_BODIES: { what: string; json: string; field: string }[] = [
  { what: 'an unknown field', json: '{"operator":"ops","reason":"r","force":true}', field: 'force' },
  { what: 'a newline in operator', json: '{"operator":"ops\\n{\\"level\\":60}","reason":"r"}', field: 'operator' },
  { what: 'a C1 control in reason', json: '{"operator":"ops","reason":"r\\u0085"}', field: 'reason' },
  { what: 'ESC in reason', json: '{"operator":"ops","reason":"\\u001b[2J"}', field: 'reason' },
  { what: 'RIGHT-TO-LEFT OVERRIDE in reason', json: '{"operator":"ops","reason":"r\\u202e"}', field: 'reason' },
  { what: 'a bidi isolate in operator', json: '{"operator":"\\u2066ops","reason":"r"}', field: 'operator' },
  { what: 'a lone surrogate in operator', json: '{"operator":"ops\\ud800","reason":"r"}', field: 'operator' },
  { what: 'a lone surrogate in reason', json: '{"operator":"ops","reason":"\\udfff"}', field: 'reason' },
];

test('bad ESS command bodies are refused with 400 naming the field, and change nothing', async (t) => {
  const server = await startRedis({ name: 'ess-refusals' });
  t.teardown(() => server.stop());
  const redis = server.client();
  const keys = testKeys('ess-refusals');
  const config = loadConfig({ QT_KEY_PREFIX: keys.prefix });
  const publisher = new RedisPublisher({ redis, keys, producer: 'risk', source: 'risk-safety' });
  const ess = new EssService({ redis, keys, publisher, config, producer: 'risk', consumer: 'risk-1' });
  const pretrade = new PretradeService({ redis, keys, producer: 'risk', consumer: 'risk-1' });
  await ess.start();
  await pretrade.start();
  const app = Fastify();
  ess.registerRoutes(app, adminGuard(TOKEN), { pretrade });
  await app.ready();
  t.teardown(async () => {
    await app.close();
    await pretrade.close();
    await ess.close();
  });
  const send = (route: string, payload: string) =>
    app.inject({
      method: 'POST',
      url: route,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      payload,
    });

  for (const route of ['/ess/trip', '/ess/reset', '/ess/flatten']) {
    for (const { what, json, field } of BAD_BODIES) {
      const res = await send(route, json);
      t.is(res.statusCode, 400, `${route}, ${what}`);
      const body = res.json() as { error: string; message: string; unknownFields: string[] };
      t.is(body.error, 'invalid_body');
      t.true(body.message.includes(field), `${route}, ${what}: ${body.message}`);
      if (what === 'an unknown field') t.deepEqual(body.unknownFields, ['force']);
    }
  }
  t.is(ess.status().state, 'armed', 'nothing was applied');
  t.is(await redis.xlen(keys.stream('ess')), 0, 'nothing was published on ess');
  t.is(await redis.xlen(keys.stream('order')), 0, 'nothing was published on order');

  // The same routes with a good body are live: a trip is applied.
  const good = await send('/ess/trip', JSON.stringify({ operator: 'Zoë', reason: 'drill ☕' }));
  t.is(good.statusCode, 200, good.body);
  t.like(good.json(), { applied: true, state: 'tripped' });
  await waitFor(async () => (await redis.xlen(keys.stream('ess'))) > 0, 'the trip published');
});
