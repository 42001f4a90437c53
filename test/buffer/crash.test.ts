/**
 * Durability across a crash: a producer SIGKILLed while appending loses
 * nothing whose append() had resolved, and what survives is a prefix of the
 * call order (a group commit is all-or-nothing).
 */
import test from 'ava';
import { DiskBuffer } from '../../src/buffer/disk-buffer.js';
import { nOf, startChild, tempBufferPath, waitFor } from './helpers.js';

test('every append that resolved before SIGKILL is in the file, in call order', async (t) => {
  const path = tempBufferPath(t);
  const child = startChild(t, 'append', path);
  const acked = () => [...child.output().matchAll(/^ok (\d+)$/gm)].map((m) => Number(m[1]));
  await waitFor(() => acked().length >= 2_000, 'the child to have 2000 appends resolved');
  child.process.kill('SIGKILL');
  await child.exited;
  const resolved = acked();

  const buffer = DiskBuffer.open({ path });
  const rows = [...buffer.oldest('even', 1e9), ...buffer.oldest('odd', 1e9)].sort((a, b) => a.id - b.id);
  const stored = rows.map(nOf);
  t.deepEqual(
    stored,
    Array.from({ length: stored.length }, (_, i) => i),
    'a gap-free prefix of the calls, in id order',
  );
  t.true(stored.length > Math.max(...resolved), `stored ${stored.length}, highest resolved ${Math.max(...resolved)}`);
  t.is(buffer.backlog('even') + buffer.backlog('odd'), stored.length);
  await buffer.close();
});
