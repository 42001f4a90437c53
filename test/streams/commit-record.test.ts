/**
 * The compact layout of a batch's (producer, seq) pairs for the seen-check
 * and commit scripts: runs of one producer's rising seqs, which expand back
 * to exactly the pairs given, in order.
 */
import test from 'ava';
import fc from 'fast-check';
import { commitRecordArgs, seqRuns } from '../../src/streams/commit-record.js';

/** The pairs a run list stands for, as the scripts' read loop expands it. */
function expand(flat: readonly (string | number)[]): { producer: string; seq: number }[] {
  const out: { producer: string; seq: number }[] = [];
  const runs = flat[0] as number;
  for (let r = 0; r < runs; r++) {
    const [producer, first, count] = flat.slice(1 + r * 3, 4 + r * 3) as [string, number, number];
    for (let j = 0; j < count; j++) out.push({ producer, seq: first + j });
  }
  return out;
}

test('a batch of one producer in order is one run', (t) => {
  const items = Array.from({ length: 512 }, (_, i) => ({ producer: 'p1', seq: 100 + i }));
  t.deepEqual(seqRuns(items), [1, 'p1', 100, 512]);
  t.deepEqual(
    commitRecordArgs('g', [
      { entryId: '1-0', producer: 'p1', seq: 7 },
      { entryId: '1-1', producer: 'p1', seq: 8 },
    ]),
    ['g', 2, '1-0,1-1', 1, 'p1', 7, 2],
  );
  t.deepEqual(seqRuns([]), [0]);
});

test('interleaved producers, gaps, repeats and ack-only entries expand back to the pairs in order', (t) => {
  let interleaved = 0;
  let broken = 0;
  fc.assert(
    fc.property(
      fc.array(fc.record({ producer: fc.constantFrom('a', 'b', ''), seq: fc.integer({ min: 0, max: 6 }) }), {
        maxLength: 40,
      }),
      (items) => {
        const runs = seqRuns(items);
        if (new Set(items.map((i) => i.producer)).size > 1) interleaved++;
        if ((runs[0] as number) > 1) broken++;
        return JSON.stringify(expand(runs)) === JSON.stringify(items);
      },
    ),
    { numRuns: 500 },
  );
  t.true(interleaved > 100 && broken > 100, `interleaved ${interleaved}, several runs ${broken}`);
});
