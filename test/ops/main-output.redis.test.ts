/**
 * What a real `main` prints (src/ops/event-lines.ts through the run summary,
 * src/log.ts): as JSON lines (not a TTY), one record per order placed,
 * filled or cancelled and per ESS transition, the event's fields as keys;
 * on a pseudo-terminal (util-linux `script`), one pretty line per record,
 * the summary and the event lines as their message alone, no field ever
 * printed below a line.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import type { Envelope } from '../../src/events/envelope.js';
import { LINE_EVENT_TYPES } from '../../src/ops/event-lines.js';
import { decodeEntry } from '../../src/streams/codec.js';
import type { Keys } from '../../src/streams/keys.js';
import { RedisPublisher } from '../../src/streams/publisher.js';
import { waitFor } from '../support/bus.js';
import { getFreePort } from '../support/free-port.js';
import { startMain } from '../support/main-process.js';
import type { RedisServer } from '../support/redis-fixture.js';
import { redisRig } from '../support/rig.js';

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
const TOKEN = 'an-admin-token-for-output-tests';
const LINE_TYPES: readonly string[] = LINE_EVENT_TYPES;

interface Rig {
  readonly server: RedisServer;
  readonly keys: Keys;
  readonly env: Record<string, string>;
  events(topic: string): Promise<{ ms: number; event: Envelope }[]>;
}

async function rig(t: ExecutionContext, label: string): Promise<Rig> {
  const { server, dataDir, prefix, keys } = await redisRig(t, label);
  const redis = server.client();
  t.teardown(() => redis.disconnect());
  return {
    server,
    keys,
    env: {
      REDIS_URL: server.url,
      QT_DATA_DIR: dataDir,
      QT_KEY_PREFIX: prefix,
      QT_ADMIN_TOKEN: TOKEN,
      QT_FEED_TICKS_PER_SECOND: '20',
      QT_SUMMARY_INTERVAL_MS: '1000',
    },
    events: async (topic) =>
      (await redis.xrange(keys.stream(topic), '-', '+')).map(([id, fields]) => ({
        ms: Number(id.split('-')[0]),
        event: decodeEntry(fields),
      })),
  };
}

async function tripEss(port: number, correlationId: string): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${port}/ess/trip`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${TOKEN}`,
      'content-type': 'application/json',
      'x-correlation-id': correlationId,
    },
    body: JSON.stringify({ operator: 'ops', reason: 'drill from the output test' }),
  });
  if (res.status === 200) return;
  // On a loaded machine the direct trip can miss its 1 s: the route then answers 202 with the durable record,
  // which the ESS applies as it consumes it. Either way the trip happens; wait until it has.
  const body = await res.text();
  if (res.status !== 202) throw new Error(`POST /ess/trip: ${res.status} ${body}`);
  await waitFor(
    async () =>
      ((await (await fetch(`http://127.0.0.1:${port}/ess`)).json()) as { state?: string }).state === 'tripped',
    `the recorded trip applied (${body})`,
    20_000,
    100,
  );
}

/** Approvals that reach execution after the trip: it refuses each one (order.cancelled). */
async function lateApprovals(r: Rig, prefix: string, n: number): Promise<void> {
  const redis = r.server.client();
  const late = new RedisPublisher({ redis, keys: r.keys, producer: `${prefix}-risk`, source: 'risk-safety' });
  for (let i = 0; i < n; i++) {
    await late.publish('order.approved', {
      orderId: `${prefix}-${i}`,
      symbol: 'ETHUSDT',
      side: 'buy',
      type: 'market',
      quantity: 0.01,
      reduceOnly: false,
      notional: 32,
    });
  }
  await late.close();
  redis.disconnect();
}

/** A record's identity: the event type, its data and its correlation id (what a line must carry). */
function identity(type: string, data: Record<string, unknown>, correlationId: unknown): string {
  const sorted = Object.fromEntries(Object.entries(data).sort(([a], [b]) => a.localeCompare(b)));
  return `${type} ${correlationId} ${JSON.stringify(sorted)}`;
}

test('JSON lines: one record per order event and ESS transition, with the fields as keys', async (t) => {
  const r = await rig(t, 'out-json');
  const { run, port } = await startMain(t, ['--actors=all'], r.env, 120_000);
  const records = () =>
    run
      .out()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const lineRecords = () => records().filter((x) => LINE_TYPES.includes(String(x.event)));
  await waitFor(() => lineRecords().some((x) => x.event === 'order.filled'), 'a fill line', 120_000, 250);

  await tripEss(port(8003), 'corr-out-json-trip');
  await lateApprovals(r, 'ord-out-json', 2);
  await waitFor(
    () =>
      lineRecords().filter((x) => x.event === 'order.cancelled' && String(x.orderId).startsWith('ord-out-json'))
        .length === 2,
    'the cancellations of the late approvals',
    30_000,
    100,
  );

  // Every line-worthy event published after the summary surely started has its line (waited for with a bound).
  const started = Number(records().find((x) => x.msg === 'runtime started')?.time);
  t.true(Number.isFinite(started), 'pino time: epoch ms');
  const expected = async () =>
    [...(await r.events('order')), ...(await r.events('ess'))].filter(
      ({ ms, event }) => LINE_TYPES.includes(event.type) && ms > started,
    );
  const lineIds = () =>
    lineRecords().map((x) => {
      const { level: _l, time: _t, pid: _p, hostname: _h, name: _n, msg: _m, event, correlationId, ...data } = x;
      // A cancelled or failed order's quantity comes from its approval, not from the event.
      if (event === 'order.cancelled' || event === 'order.failed') delete data.quantity;
      return identity(String(event), data, correlationId);
    });
  let missing: string[] = [];
  await waitFor(
    async () => {
      const have = new Set(lineIds());
      missing = (await expected())
        .map(({ event }) => identity(event.type, event.data as Record<string, unknown>, event.correlationId))
        .filter((id) => !have.has(id));
      return missing.length === 0;
    },
    'a line for every order event and ESS transition',
    20_000,
    200,
  ).catch(() => t.fail(`no line for: ${missing.join('\n')}`));
  const covered = (await expected()).length;
  t.true(covered >= 6, `a placement, a fill, a trip, its transition and two cancellations at least: ${covered}`);
  t.log(`${covered} events after start, ${lineRecords().length} lines`);

  // The summary is still one record with its numbers.
  await waitFor(
    () => records().some((x) => x.event === 'run.summary' && x.essTrips === 1 && x.ess === 'tripped'),
    'a summary record after the trip',
    20_000,
    100,
  );
  run.child.kill('SIGTERM');
  t.is(await run.exit, 0, run.out().slice(-3_000));

  // No line without its event, none twice.
  const all = [...(await r.events('order')), ...(await r.events('ess'))].map(({ event }) =>
    identity(event.type, event.data as Record<string, unknown>, event.correlationId),
  );
  const ids = lineIds();
  t.deepEqual(
    ids.filter((id) => !all.includes(id)),
    [],
    'every line is an event of the streams, with its fields',
  );
  t.is(new Set(ids).size, ids.length, 'one line per event');

  const fill = lineRecords().find((x) => x.event === 'order.filled');
  t.like(fill, { level: 30, venue: 'paper' });
  t.regex(
    String(fill?.msg),
    /^filled (BUY|SELL) [\d.]+ [A-Z]+ @ \d+\.\d{2,} fee \d+\.\d{2,} [A-Z]+$/,
    'the message says what the fields say',
  );
  for (const key of ['orderId', 'symbol', 'side', 'quantity', 'price', 'fee', 'feeAsset', 'correlationId']) {
    t.true(fill !== undefined && key in fill, `order.filled has ${key}`);
  }
  t.true(lineRecords().some((x) => x.event === 'order.placed'));
  t.like(
    lineRecords().find((x) => x.event === 'ess.tripped'),
    { trigger: 'manual', operator: 'ops', correlationId: 'corr-out-json-trip' },
  );
  t.like(
    lineRecords().find((x) => x.event === 'ess.state_changed'),
    { from: 'armed', to: 'tripped', trigger: 'manual', correlationId: 'corr-out-json-trip' },
  );
  const cancelled = lineRecords().find((x) => x.orderId === 'ord-out-json-0');
  t.like(cancelled, { event: 'order.cancelled', symbol: 'ETHUSDT', side: 'buy', quantity: 0.01 });
  t.regex(String(cancelled?.msg), /^cancelled BUY 0\.01 ETHUSDT: .*TRADING_HALTED/);
  const summary = records().find((x) => x.event === 'run.summary' && x.essTrips === 1);
  t.like(summary, { level: 30, redis: 'up' });
  t.regex(String(summary?.msg), /^ticks \d+ .* · ESS tripped \(1 trip\)/);
});

/** `main` under a pseudo-terminal: util-linux `script` gives it a pty as stdout; its stdin is the keyboard. */
interface TtyMain {
  readonly child: ChildProcess;
  out(): string;
  readonly exit: Promise<number | null>;
}

async function startTtyMain(
  t: ExecutionContext,
  env: Record<string, string>,
): Promise<{ run: TtyMain; offset: number }> {
  for (let attempt = 1; ; attempt++) {
    const offset = (await getFreePort()) - 8001;
    const { QT_LOG_PRETTY: _pretty, ...inherited } = process.env;
    const command = [process.execPath, '--import=tsx', MAIN, '--actors=all'].map((a) => `'${a}'`).join(' ');
    const child = spawn('script', ['-qfc', command, '/dev/null'], {
      env: { ...inherited, ...env, QT_HTTP_PORT_OFFSET: String(offset), TERM: 'xterm' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    t.teardown(() => child.kill('SIGKILL'));
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += String(d);
    });
    child.stderr?.on('data', (d: Buffer) => {
      out += String(d);
    });
    const exit = once(child, 'exit').then(([code]) => code as number | null);
    const run = { child, out: () => out, exit };
    await waitFor(() => out.includes('runtime started') || child.exitCode !== null, 'started', 120_000, 50);
    if (child.exitCode !== null && out.includes('cannot listen') && attempt < 4) continue;
    if (child.exitCode !== null) throw new Error(`main exited ${child.exitCode} at start:\n${out}`);
    return { run, offset };
  }
}

/** The pty output as lines: colours, carriage returns and the echoed ^C removed. */
function ttyLines(raw: string): string[] {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: strips the ANSI colours pino-pretty adds
  const plain = raw.replace(/\u001b\[[0-9;]*m/g, '').replace(/\r/g, '');
  return plain
    .split('\n')
    .map((l) => l.replace(/^\^C/, ''))
    .filter((l) => l.length > 0);
}

test('on a TTY: one line per record; the summary and the event lines show their message (and correlationId) alone', async (t) => {
  const r = await rig(t, 'out-tty');
  const { run, offset } = await startTtyMain(t, r.env);
  const summaryLine = /^\[[\d:.]+\] INFO \(qt\): ticks \d+ .* · ESS /;
  await waitFor(() => ttyLines(run.out()).some((l) => summaryLine.test(l)), 'a summary line', 30_000, 100);
  await tripEss(8003 + offset, 'corr-out-tty-trip');
  await lateApprovals(r, 'ord-out-tty', 1);
  await waitFor(
    () => ttyLines(run.out()).some((l) => l.includes('cancelled BUY 0.01 ETHUSDT')),
    'the cancellation line',
    30_000,
    100,
  );
  await waitFor(
    () => ttyLines(run.out()).some((l) => summaryLine.test(l) && l.includes('ESS tripped')),
    'a summary line after the trip',
    30_000,
    100,
  );
  run.child.stdin?.write('\u0003'); // Ctrl-C, as a person stops it
  t.is(await run.exit, 0, run.out().slice(-3_000));
  const lines = ttyLines(run.out());
  t.log(lines.slice(-12).join('\n'));

  t.true(lines.length > 10);
  for (const line of lines) {
    t.notRegex(line, /^\s/, `no line is an indented field: ${line}`);
    t.regex(line, /^\[\d\d:\d\d:\d\d\.\d{3}\] (DEBUG|INFO|WARN|ERROR|FATAL) \(qt\): \S/, `a whole record: ${line}`);
  }
  const summaries = lines.filter((l) => summaryLine.test(l));
  t.true(summaries.length >= 2);
  for (const line of summaries) {
    t.regex(line, / · ESS (armed|reducing|tripped|awaitingReset|unknown)( \(\d+ trips?\))?( · skipped \d+)?$/, line);
    t.notRegex(line, /[{}]/, 'the summary is its message alone');
  }
  const trip = lines.find((l) => l.includes('ESS trip (manual by ops)'));
  t.regex(
    trip ?? '',
    /\(qt\): ESS trip \(manual by ops\): drill from the output test; cooldown until \S+ \{correlationId: "corr-out-tty-trip"\}$/,
  );
  t.regex(
    lines.find((l) => l.includes('ESS armed → tripped')) ?? '',
    /\(qt\): ESS armed → tripped: manual drill from the output test; cooldown until \S+ \{correlationId: "corr-out-tty-trip"\}$/,
  );
  t.regex(
    lines.find((l) => l.includes('cancelled BUY 0.01 ETHUSDT')) ?? '',
    /\(qt\): cancelled BUY 0\.01 ETHUSDT: .*TRADING_HALTED.* \{correlationId: "[^"]+"\}$/,
  );
  // Lines that are not event lines keep their fields, on the same line.
  t.true(lines.some((l) => /\(qt\): http listening \{service: "[a-z-]+", port: \d+\}$/.test(l)));
  t.true(lines.some((l) => /\(qt\): stopped/.test(l)));
});
