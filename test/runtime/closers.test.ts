import test from 'ava';
import { silentLogger } from '../../src/log.js';
import { Closers } from '../../src/runtime/closers.js';

test('closers run last-in-first-out, every one even when one throws, once', async (t) => {
  const closers = new Closers(silentLogger);
  const ran: string[] = [];
  closers.push('redis', () => ran.push('redis'));
  closers.push('bus', async () => {
    ran.push('bus');
    throw new Error('bus would not close');
  });
  closers.push('http', async () => {
    await new Promise((r) => setTimeout(r, 5));
    ran.push('http');
  });
  const [first, second] = await Promise.all([closers.closeAll(), closers.closeAll()]);
  t.deepEqual(ran, ['http', 'bus', 'redis']);
  t.deepEqual(first.failed, ['bus']);
  t.is(first, second, 'the same report on repeat calls');
  t.true(closers.closing);
});

test('a closer pushed after shutdown began runs at once: nothing opened late is left behind', async (t) => {
  const closers = new Closers(silentLogger);
  const ran: string[] = [];
  closers.push('early', () => ran.push('early'));
  const closing = closers.closeAll();
  closers.push('late', () => ran.push('late'));
  await closing;
  await new Promise((r) => setTimeout(r, 5));
  t.deepEqual(ran, ['early', 'late']);
});
