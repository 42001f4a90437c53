/**
 * The logger's correlation id: every line written inside `withCorrelation`
 * carries `correlationId`, lines outside carry none, child loggers and the
 * pretty transport included; redaction is unchanged.
 */
import { spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { withCorrelation } from '../src/correlation.js';
import { createLogger, type Logger } from '../src/log.js';

/** A logger writing JSON lines into memory. */
function capture(): { log: Logger; lines: () => Record<string, unknown>[] } {
  let text = '';
  const destination = new Writable({
    write(chunk, _encoding, done) {
      text += String(chunk);
      done();
    },
  });
  const log = createLogger({ destination, level: 'debug' });
  const lines = () =>
    text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { log, lines };
}

test('a line written inside withCorrelation carries its id; a line outside carries none', async (t) => {
  const { log, lines } = capture();
  log.info('before');
  await withCorrelation('corr-log-1', async () => {
    log.info({ step: 1 }, 'inside');
    await sleep(5); // across an await and a timer: the id follows the async work
    log.debug('inside, later');
  });
  log.info('after');
  const [before, inside, later, after] = lines();
  t.false(before !== undefined && 'correlationId' in before, 'nothing is added outside a request or handler');
  t.like(inside, { msg: 'inside', step: 1, correlationId: 'corr-log-1' });
  t.like(later, { msg: 'inside, later', correlationId: 'corr-log-1' });
  t.false(after !== undefined && 'correlationId' in after);
  t.is(lines().length, 4);
});

test('child loggers carry the current id next to their bindings', (t) => {
  const { log, lines } = capture();
  const child = log.child({ component: 'runner' });
  const grandchild = child.child({ orderId: 'o-1' });
  withCorrelation('corr-child', () => {
    child.warn('child line');
    grandchild.info('grandchild line');
  });
  child.info('child outside');
  const [first, second, outside] = lines();
  t.like(first, { component: 'runner', correlationId: 'corr-child', msg: 'child line' });
  t.like(second, { component: 'runner', orderId: 'o-1', correlationId: 'corr-child' });
  t.false(outside !== undefined && 'correlationId' in outside);
});

test('nested and concurrent work each log their own id; a line naming its own correlationId keeps it', async (t) => {
  const { log, lines } = capture();
  await Promise.all(
    ['corr-a', 'corr-b', 'corr-c'].map((id, i) =>
      withCorrelation(id, async () => {
        await sleep(10 - i * 3); // finish in another order than started
        log.info({ worker: id }, 'concurrent');
      }),
    ),
  );
  withCorrelation('corr-outer', () => {
    withCorrelation('corr-inner', () => log.info('nested'));
    log.info({ correlationId: 'corr-explicit' }, 'explicit');
  });
  const concurrent = lines().filter((l) => l.msg === 'concurrent');
  t.is(concurrent.length, 3);
  for (const line of concurrent) t.is(line.correlationId, line.worker);
  t.like(
    lines().find((l) => l.msg === 'nested'),
    { correlationId: 'corr-inner' },
  );
  t.like(
    lines().find((l) => l.msg === 'explicit'),
    { correlationId: 'corr-explicit' },
  );
});

test('secrets are still redacted on a line that carries a correlation id', (t) => {
  const { log, lines } = capture();
  withCorrelation('corr-secret', () => {
    log.info({ token: 'abc-secret', config: { adminToken: 'xyz-secret', redis: { url: 'redis://u:p@h' } } }, 'cfg');
  });
  const [line] = lines();
  t.like(line, { correlationId: 'corr-secret', token: '[redacted]' });
  t.notRegex(JSON.stringify(line), /abc-secret|xyz-secret|u:p@/);
});

test('the pretty transport shows the correlation id too', (t) => {
  const log = fileURLToPath(new URL('../src/log.ts', import.meta.url));
  const correlation = fileURLToPath(new URL('../src/correlation.ts', import.meta.url));
  // The transport runs in a worker thread of its own process: run it in a child and read its stdout.
  const script = [
    `import { createLogger } from ${JSON.stringify(log)};`,
    `import { withCorrelation } from ${JSON.stringify(correlation)};`,
    `const log = createLogger({ pretty: true });`,
    `withCorrelation('corr-pretty', () => log.child({ component: 'c' }).info('pretty inside'));`,
    `log.info('pretty outside');`,
  ].join('\n');
  const run = spawnSync(process.execPath, ['--import=tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  t.is(run.status, 0, run.stderr);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: strips the ANSI colours pino-pretty adds
  const out = run.stdout.replace(/\u001b\[[0-9;]*m/g, '');
  const [inside, outside] = out.split(/\n(?=\[)/); // each pretty record starts with its "[time]"
  t.regex(inside ?? '', /pretty inside/);
  t.regex(inside ?? '', /correlationId: "corr-pretty"/);
  t.regex(inside ?? '', /component: "c"/);
  t.regex(outside ?? '', /pretty outside/);
  t.notRegex(outside ?? '', /correlationId/);
});

/** Runs `lines` (module code using `log`, a pretty logger) in a child and returns its stdout without colours. */
function prettyRun(lines: string[]): { status: number | null; stderr: string; out: string } {
  const log = fileURLToPath(new URL('../src/log.ts', import.meta.url));
  const correlation = fileURLToPath(new URL('../src/correlation.ts', import.meta.url));
  const script = [
    `import { createLogger } from ${JSON.stringify(log)};`,
    `import { withCorrelation } from ${JSON.stringify(correlation)};`,
    `const log = createLogger({ pretty: true, name: 'qt' });`,
    ...lines,
  ].join('\n');
  const run = spawnSync(process.execPath, ['--import=tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  // biome-ignore lint/suspicious/noControlCharactersInRegex: strips the ANSI colours pino-pretty adds
  return { status: run.status, stderr: run.stderr, out: run.stdout.replace(/\u001b\[[0-9;]*m/g, '') };
}

test('pretty output is one line per record: fields on the same line, an event line shows its message and correlationId only', (t) => {
  const run = prettyRun([
    `log.info({ service: 'execution', port: 8002, nested: { a: [1, 2] } }, 'http listening');`,
    `log.error({ err: new Error('boom\\nsecond line') }, 'start-up failed');`,
    `log.warn({ token: 'pretty-secret', config: { adminToken: 'pretty-admin-secret' } }, 'config');`,
    `withCorrelation('corr-ev', () => log.info({ event: 'order.filled', symbol: 'BTCUSDT', quantity: 0.5 }, 'filled BUY 0.5 BTCUSDT'));`,
    `log.info({ event: 'run.summary', ticks: 5, signals: 1 }, 'ticks 5 · signals 1');`,
    `log.info({ reason: 'a\\nb\\u001b[2J' }, 'multi\\nline message');`,
  ]);
  t.is(run.status, 0, run.stderr);
  const lines = run.out.split('\n').filter(Boolean);
  t.is(lines.length, 6, run.out);
  for (const line of lines)
    t.regex(line, /^\[\d\d:\d\d:\d\d\.\d{3}\] (INFO|WARN|ERROR) \(qt\): /, 'each line is a whole record');
  const [listening, failed, config, filled, summary, escaped] = lines;
  t.regex(listening ?? '', /http listening \{service: "execution", port: 8002, nested: \{"a":\[1,2\]\}\}$/);
  t.regex(failed ?? '', /start-up failed \{err: \{"type":"Error","message":"boom\\nsecond line",.*"at":/);
  t.notRegex(failed ?? '', /"stack"/, 'the stack stays in the JSON lines');
  t.regex(config ?? '', /token: "\[redacted\]"/);
  t.notRegex(run.out, /pretty-secret|pretty-admin-secret/);
  t.regex(filled ?? '', /\(qt\): filled BUY 0\.5 BTCUSDT \{correlationId: "corr-ev"\}$/);
  t.regex(summary ?? '', /\(qt\): ticks 5 · signals 1$/, 'the summary is its message alone');
  t.regex(escaped ?? '', /multi\\nline message \{reason: "a\\nb\\u001b\[2J"\}$/, 'control characters are escaped');
});
