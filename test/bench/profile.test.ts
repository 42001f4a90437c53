/** bench/profile.ts: how a CPU profile's samples are attributed to areas and summed. */
import test from 'ava';
import { areaOf, selfTimes } from '../../bench/profile.js';

const frame = (functionName: string, url: string) => ({ functionName, url, lineNumber: 0 });

test('frames are attributed to a dependency, a project folder, node or V8', (t) => {
  t.is(areaOf(frame('Command', 'file:///w/node_modules/ioredis/built/Command.js')), 'ioredis');
  t.is(areaOf(frame('x', 'file:///w/node_modules/@scope/pkg/index.js')), '@scope/pkg');
  t.is(areaOf(frame('publish', 'file:///w/main/src/streams/publisher.ts')), 'src/streams');
  t.is(areaOf(frame('run', 'file:///w/main/bench/run.ts')), 'bench/run');
  t.is(areaOf(frame('nextTick', 'node:internal/process/task_queues')), 'node');
  t.is(areaOf(frame('(garbage collector)', '')), '(garbage collector)');
  t.is(areaOf(frame('writeUtf8String', '')), 'native');
});

test('self time is summed per key from the samples and their time deltas', (t) => {
  const profile = {
    nodes: [
      { id: 1, callFrame: frame('(idle)', '') },
      { id: 2, callFrame: frame('a', 'file:///w/main/src/streams/a.ts') },
      { id: 3, callFrame: frame('b', 'file:///w/main/src/streams/b.ts') },
    ],
    samples: [1, 2, 3, 2, 99],
    timeDeltas: [10, 20, 30, 40, 50],
  };
  const times = selfTimes(profile, areaOf);
  t.is(times.totalUs, 100, 'a sample of an unknown node is left out');
  t.deepEqual(Object.fromEntries(times.byKey), { '(idle)': 10, 'src/streams': 90 });
});
