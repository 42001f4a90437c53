/**
 * Bounded capacity (docs/architecture.md §6.5): rows and bytes, `reject` fails at once,
 * `block` waits for remove() up to its timeout; nothing is ever dropped and
 * a refused append writes nothing.
 */
import test from 'ava';
import { DiskBuffer } from '../../src/buffer/disk-buffer.js';
import { isQtError } from '../../src/errors.js';
import { event, nOf, tempBufferPath } from './helpers.js';

const isFull = (err: unknown) => isQtError(err, 'QT_BUFFER_FULL');

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * 'pending' if `p` is still unsettled after a few turns of the event loop,
 * which is longer than an admitted append takes (its group commit runs on
 * the next setImmediate).
 */
async function state(p: Promise<unknown>): Promise<'resolved' | 'rejected' | 'pending'> {
  const pending = (async () => {
    for (let i = 0; i < 3; i++) await turn();
    return 'pending' as const;
  })();
  return Promise.race([
    p.then(
      () => 'resolved' as const,
      () => 'rejected' as const,
    ),
    pending,
  ]);
}

test('reject: a full buffer (rows) fails at once with QT_BUFFER_FULL and writes nothing', async (t) => {
  const buffer = DiskBuffer.open({ path: tempBufferPath(t), maxRows: 3, whenFull: 'reject' });
  await buffer.append([event('market', 1), event('market', 2)]);
  const err = await t.throwsAsync(buffer.append([event('market', 3), event('market', 4)]));
  t.true(isFull(err));
  t.regex(err!.message, /buffer\.db cannot take 2 rows: the buffer is full \(policy reject\)/);
  t.is(buffer.backlog('market'), 2);
  await buffer.append([event('market', 5)]);
  t.deepEqual(buffer.oldest('market', 10).map(nOf), [1, 2, 5]);
  await buffer.close();
});

test('reject: the byte limit applies too, counting accepted but uncommitted rows', async (t) => {
  const one = event('market', 1);
  const size = one.topic.length + one.type.length + one.body.length;
  const buffer = DiskBuffer.open({ path: tempBufferPath(t), maxBytes: size * 2, whenFull: 'reject' });
  const first = buffer.append([one]);
  const second = buffer.append([event('market', 2)]);
  t.true(isFull(await t.throwsAsync(buffer.append([event('market', 3)]))));
  await Promise.all([first, second]);
  t.is(buffer.stats().bytes, size * 2);
  await buffer.close();
});

test('an append larger than the whole buffer fails at once, even under block', async (t) => {
  const buffer = DiskBuffer.open({ path: tempBufferPath(t), maxRows: 2, whenFull: 'block', blockTimeoutMs: 60_000 });
  const err = await t.throwsAsync(buffer.append([event('m', 1), event('m', 2), event('m', 3)]));
  t.true(isFull(err));
  t.regex(err!.message, /larger than the whole buffer/);
  t.is(buffer.stats().rows, 0);
  await buffer.close();
});

test('block: a full buffer waits until remove() frees room, then commits in call order', async (t) => {
  const buffer = DiskBuffer.open({ path: tempBufferPath(t), maxRows: 2, whenFull: 'block', blockTimeoutMs: 60_000 });
  await buffer.append([event('market', 1), event('market', 2)]);
  const big = buffer.append([event('market', 3), event('market', 4)]);
  const small = buffer.append([event('market', 5)]);
  t.is(await state(big), 'pending');
  t.is(await state(small), 'pending', 'waits behind the earlier call');
  t.is(buffer.backlog('market'), 2, 'waiting calls are not in the backlog');

  const [first] = buffer.oldest('market', 1);
  buffer.remove([first!.id]);
  t.is(await state(big), 'pending', 'one free row is not enough for two');
  t.is(await state(small), 'pending', 'FIFO: does not overtake');

  const [second] = buffer.oldest('market', 1);
  buffer.remove([second!.id]);
  await big;
  t.is(await state(small), 'pending');
  buffer.remove(buffer.oldest('market', 1).map((r) => r.id));
  await small;
  t.deepEqual(buffer.oldest('market', 10).map(nOf), [4, 5]);
  await buffer.close();
});

test('block: with no room freed the append fails with QT_BUFFER_FULL after blockTimeoutMs; nothing written', async (t) => {
  const buffer = DiskBuffer.open({ path: tempBufferPath(t), maxRows: 1, whenFull: 'block', blockTimeoutMs: 50 });
  await buffer.append([event('market', 1)]);
  const blocked = buffer.append([event('market', 2)]);
  const behind = buffer.append([event('market', 3)]);
  const err = await t.throwsAsync(blocked);
  t.true(isFull(err));
  t.regex(err!.message, /no room freed within 50 ms \(policy block\)/);
  t.true(isFull(await t.throwsAsync(behind)));
  t.deepEqual(buffer.oldest('market', 10).map(nOf), [1]);
  t.is(buffer.stats().rows, 1);
  // Room again: appends work after timeouts.
  buffer.remove(buffer.oldest('market', 1).map((r) => r.id));
  await buffer.append([event('market', 4)]);
  t.deepEqual(buffer.oldest('market', 10).map(nOf), [4]);
  await buffer.close();
});

test('close fails blocked appends with QT_BUFFER_CLOSED', async (t) => {
  const buffer = DiskBuffer.open({ path: tempBufferPath(t), maxRows: 1, whenFull: 'block', blockTimeoutMs: 60_000 });
  await buffer.append([event('market', 1)]);
  const blocked = buffer.append([event('market', 2)]);
  await buffer.close();
  t.true(isQtError(await t.throwsAsync(blocked), 'QT_BUFFER_CLOSED'));
});

test('room is counted from the file at reopen', async (t) => {
  const path = tempBufferPath(t);
  const buffer = DiskBuffer.open({ path });
  await buffer.append([event('market', 1), event('market', 2)]);
  await buffer.close();
  const reopened = DiskBuffer.open({ path, maxRows: 2, whenFull: 'reject' });
  t.true(isFull(await t.throwsAsync(reopened.append([event('market', 3)]))));
  await reopened.close();
});
