/**
 * One process per buffer file (docs/architecture.md §6.2): a second opener, in another
 * process or this one, fails at once with QT_BUFFER_LOCKED naming the file;
 * the OS releases the lock when the holder dies, even by SIGKILL.
 */
import test from 'ava';
import { DiskBuffer } from '../../src/buffer/disk-buffer.js';
import { isQtError } from '../../src/errors.js';
import { event, nOf, startChild, tempBufferPath, waitFor } from './helpers.js';

test('a second process cannot open a held buffer; it can once the holder is SIGKILLed', async (t) => {
  const path = tempBufferPath(t);
  const holder = startChild(t, 'hold', path);
  await waitFor(() => holder.output().includes('ready'), 'holder ready');

  // busy_timeout is 0: this throws at once rather than waiting for the holder.
  const err = t.throws(() => DiskBuffer.open({ path }));
  t.true(isQtError(err, 'QT_BUFFER_LOCKED'), String(err));
  t.true(err!.message.includes(path), err!.message);

  const other = startChild(t, 'open', path);
  await other.exited;
  t.regex(other.output(), /^error QT_BUFFER_LOCKED .*buffer\.db is locked by another process/);

  holder.process.kill('SIGKILL');
  await holder.exited;
  const buffer = DiskBuffer.open({ path });
  await buffer.append([event('market', 1)]);
  t.deepEqual(buffer.oldest('market', 10).map(nOf), [1]);
  await buffer.close();
});

test('a child process cannot open a buffer this process holds, until it is closed', async (t) => {
  const path = tempBufferPath(t);
  const buffer = DiskBuffer.open({ path });
  const denied = startChild(t, 'open', path);
  await denied.exited;
  t.regex(denied.output(), /^error QT_BUFFER_LOCKED /);
  await buffer.close();
  const allowed = startChild(t, 'open', path);
  await allowed.exited;
  t.is(allowed.output(), 'opened\n');
});

test('a second open in the same process is refused too', async (t) => {
  const path = tempBufferPath(t);
  const buffer = DiskBuffer.open({ path });
  t.true(
    isQtError(
      t.throws(() => DiskBuffer.open({ path })),
      'QT_BUFFER_LOCKED',
    ),
  );
  await buffer.close();
  const again = DiskBuffer.open({ path });
  await again.close();
  t.pass();
});
