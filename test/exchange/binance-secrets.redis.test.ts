/**
 * The API key and secret of the Binance adapter never reach a log line, an
 * error message or error details, whatever errors a run hits.
 */
import { Writable } from 'node:stream';
import test, { type ExecutionContext } from 'ava';
import type { VenueError } from '../../src/exchange/adapter.js';
import { createLogger } from '../../src/log.js';
import { binanceRig } from '../support/binance-rig.js';
import { FAULTS } from '../support/fake-binance.js';
import { getFreePort } from '../support/free-port.js';
import { type RedisServer, startRedis } from '../support/redis-fixture.js';

let server: RedisServer;
test.before(async () => {
  server = await startRedis({ name: 'binance-secrets' });
});
test.after.always(() => server?.stop());

const setup = (t: ExecutionContext) => binanceRig(t, server);

test('the API key and secret never appear in log lines, error messages or error details', async (t) => {
  const { fake, clock, adapter } = await setup(t);
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  const log = createLogger({ destination, level: 'debug' });
  const binance = adapter({ log });
  const errors: unknown[] = [];
  const attempt = async (p: Promise<unknown>) => {
    try {
      await p;
    } catch (err) {
      errors.push(err);
      // As execution would: the whole error, cause chain included, goes through pino's serializer.
      log.error({ err }, 'venue call failed');
    }
  };
  const buy = (id: string) =>
    binance.placeOrder({ clientOrderId: id, symbol: 'BTCUSDT', side: 'buy', type: 'market', quantity: 1 });

  fake.fail(FAULTS.http429(1));
  await attempt(buy('ord-s1'));
  fake.fail(FAULTS.serverErrorAfterCreate(503));
  await attempt(buy('ord-s2'));
  fake.fail(FAULTS.tooManyRequests());
  fake.fail({ kind: 'error', status: 400, code: -2010, method: 'POST', msg: `echo ${fake.apiKey} ${fake.apiSecret}` });
  await attempt(buy('ord-s3'));
  fake.setClockSkew(20_000);
  await attempt(binance.balances());
  fake.fail(FAULTS.http418(5));
  await attempt(binance.balances());
  clock.advance(6000);
  await attempt(adapter({ log, apiSecret: 'wrong' }).balances());
  const port = await getFreePort();
  await attempt(adapter({ log, baseUrl: `http://127.0.0.1:${port}`, maxAttempts: 2 }).balances());

  t.true(errors.length >= 4, 'the run hit errors');
  t.true(lines.length >= 5, 'and logged about them');
  const everything = [
    ...lines,
    ...errors.map((e) => JSON.stringify({ m: (e as Error).message, d: (e as VenueError).details, s: String(e) })),
  ].join('\n');
  t.false(everything.includes(fake.apiSecret), 'secret absent');
  t.false(everything.includes(fake.apiKey), 'api key absent');
  t.regex(everything, /\[redacted\]/, 'a venue message echoing the credentials was scrubbed');
});
