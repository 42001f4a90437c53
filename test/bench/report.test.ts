import test from 'ava';
import { compare } from '../../bench/harness.js';
import { aggregateRounds, BenchReportSchema, median } from '../../bench/report.js';

const result = (value: number, baseline: number, peer?: number) =>
  compare(
    'e2e.throughput',
    'events/s',
    value,
    { name: 'raw', value: baseline },
    peer === undefined ? undefined : { name: 'bullmq', value: peer },
  );

test('median: the middle sample, the mean of the middle two for an even count, as precise as the samples', (t) => {
  t.is(median([3, 1, 2]), 2);
  t.is(median([5, 1, 100]), 5, 'one spike moves the median not at all');
  t.is(median([1, 2, 3, 10]), 3, 'integers stay integers (2.5 rounds up)');
  t.is(median([0.1234, 0.2, 0.3, 0.9]), 0.25);
  t.throws(() => median([]));
});

test('a figure is the median of its rounds with min and max; ratios are of the medians', (t) => {
  const [e2e] = aggregateRounds([[result(90, 150, 20)], [result(60, 100, 25)], [result(80, 140, 10)]]);
  t.like(e2e, {
    name: 'e2e.throughput',
    unit: 'events/s',
    value: 80,
    spread: { min: 60, max: 90 },
    runs: [90, 60, 80],
    baseline: { name: 'raw', value: 140, spread: { min: 100, max: 150 } },
    ratio: 0.57,
    peer: { name: 'bullmq', value: 20, spread: { min: 10, max: 25 } },
    peerRatio: 4,
  });
});

test('a figure without a peer reports peer and peerRatio as null', (t) => {
  const [only] = aggregateRounds([[result(1, 2)], [result(3, 4)]]);
  t.is(only?.peer, null);
  t.is(only?.peerRatio, null);
  t.is(only?.ratio, 0.67);
});

test('rounds that do not measure the same figures are refused', (t) => {
  t.throws(() => aggregateRounds([[result(1, 2)], []]), { message: /round 2 has no figure e2e.throughput/ });
  t.throws(() => aggregateRounds([[result(1, 2, 3)], [result(1, 2)]]), { message: /differs between rounds/ });
});

test('the report format keeps name, value, unit, baseline and ratio and adds spread, peer and meta', (t) => {
  const report = {
    results: aggregateRounds([[result(90, 150, 20)]]),
    meta: {
      node: 'v20.20.2',
      redis: '7.0.15',
      cpu: 'cpu',
      cores: 2,
      peers: { bullmq: '6.7.0' },
      date: '2026-12-01T00:00:00.000Z',
      rounds: 1,
      benchmarks: ['e2e-throughput'],
      load: [{ round: 1, start: [1, 1, 1], end: [2, 1, 1] }],
    },
  };
  t.true(BenchReportSchema.safeParse(JSON.parse(JSON.stringify(report))).success);
  t.false(BenchReportSchema.safeParse({ ...report, meta: { ...report.meta, load: undefined } }).success);
});
