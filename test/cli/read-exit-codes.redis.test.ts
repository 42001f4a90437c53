/**
 * The exit codes of the read commands (src/cli/exit-codes.ts): bad usage
 * 2 with the usage, Redis unreachable 3 with one line, not found 5.
 */
import test from 'ava';
import { uniquePrefix } from '../support/bus.js';
import { runQt } from '../support/cli.js';
import { getFreePort } from '../support/free-port.js';
import { type RedisServer, startRedis } from '../support/redis-fixture.js';

let server: RedisServer;
test.before(async () => {
  server = await startRedis({ name: 'cli-read-exit' });
});
test.after.always(() => server?.stop());

const env = () => ({ REDIS_URL: server.url, QT_KEY_PREFIX: uniquePrefix('cli-read-exit') });

test('bad usage is exit 2 and prints the command usage', async (t) => {
  const cases: [string[], RegExp, RegExp][] = [
    [['tail', 'market', '--since', '10 minutes'], /"10 minutes" is not a duration/, /Usage: qt tail/],
    [['tail', 'market', '--count', '0'], /"0" is not a positive whole number/, /Usage: qt tail/],
    [['tail', 'market', '--where', 'symbol'], /"symbol" is not a filter/, /Usage: qt tail/],
    [['tail', 'market', '--type', 'order.filed'], /"order.filed" is not an event type/, /Usage: qt tail/],
    [['groups', '--stuck-after', 'forever'], /"forever" is not a duration/, /Usage: qt groups/],
    [['trace', 'abc', '--since', '1y'], /"1y" is not a duration/, /Usage: qt trace/],
    [['trace', 'abc', '--max-entries', 'lots'], /"lots" is not a positive whole number/, /Usage: qt trace/],
    [['pending', 'market'], /missing required argument 'group'/, /Usage: qt pending/],
    [['show', 'order'], /missing required argument 'id'/, /Usage: qt show/],
    [['trace'], /missing required argument 'correlation-id'/, /Usage: qt trace/],
  ];
  for (const [args, error, usage] of cases) {
    const res = await runQt(args, env());
    t.is(res.code, 2, args.join(' '));
    t.regex(res.stderr, error, args.join(' '));
    t.regex(res.stderr, usage, args.join(' '));
    t.is(res.stdout, '', args.join(' '));
  }
});

test('Redis unreachable is exit 3, one line naming where', async (t) => {
  const port = await getFreePort();
  const down = { REDIS_URL: `redis://127.0.0.1:${port}` };
  for (const args of [
    ['groups'],
    ['pending', 'market', 'execution'],
    ['tail', 'market'],
    ['tail', 'market', '--follow'],
    ['show', 'market', '1-0'],
    ['trace', 'abc'],
  ]) {
    const res = await runQt(args, down);
    t.is(res.code, 3, args.join(' '));
    t.is(res.stderr, `qt: cannot reach Redis at redis://127.0.0.1:${port}: Connection is closed.\n`, args.join(' '));
  }
});

test('what the command names does not exist: exit 5', async (t) => {
  const e = env();
  for (const args of [
    ['groups', 'market'],
    ['pending', 'market', 'execution'],
    ['tail', 'market'],
    ['show', 'market', '1-0'],
    ['trace', 'no-such-request'],
  ]) {
    const res = await runQt(args, e);
    t.is(res.code, 5, args.join(' '));
    t.regex(res.stderr, /^qt: [^\n]+\n$/, 'one line');
  }
});
