import test from 'ava';
import { judge, type SoakSample, type StreamAudit } from '../../bench/soak-audit.js';

/** Samples every 10 s for `n` samples, RSS from `rss(i)`, 1,000 market entries a second. */
function samples(n: number, rss: (i: number) => number, lag: (i: number) => number = () => 0): SoakSample[] {
  return Array.from({ length: n }, (_, i) => ({
    t: i * 10,
    rssMb: rss(i),
    ticksPublished: i * 10_000,
    marketEntries: i * 10_000,
    load1m: 0.5,
    groups: [{ topic: 'market', group: 'ess', lag: lag(i), pending: 3 }],
  }));
}

const market = (seqs: number[], recordedSeq = Math.max(...seqs)): StreamAudit => {
  const seen = new Set(seqs);
  return {
    topic: 'market',
    entries: seqs.length,
    types: { 'market.tick': seqs.length },
    producers: [
      {
        producer: 'soak',
        events: seqs.length,
        lastSeq: Math.max(...seqs),
        recordedSeq,
        lost: Math.max(...seqs) - seen.size,
        duplicated: seqs.length - seen.size,
        reordered: 0,
      },
    ],
  };
};

const clean = { code: 0, bufferRowsAtClose: 0, warnings: 0, errors: 0, problems: [] };
const seqs = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

test('a flat RSS after the warm-up, no lag and every tick in order pass', (t) => {
  const m = market(seqs(120_000));
  // Warm-up growth (the first minute) does not count.
  const v = judge({
    samples: samples(13, (i) => (i < 6 ? 100 + i * 20 : 200 + (i % 2))),
    warmupS: 60,
    askedPerSecond: 1_000,
    market: m,
    streams: [m],
    exit: clean,
  });
  t.true(v.pass);
  t.is(v.rss.afterWarmupMb, 200);
  t.true(v.rss.growthPct < 1);
  t.is(v.ticks.reachedPerSecond, 1_000);
  t.is(v.lag.maxPending, 3);
});

test('RSS growing 10 % or more after the warm-up fails, and so does lag past the bound', (t) => {
  const m = market(seqs(120_000));
  const growing = judge({
    samples: samples(13, (i) => 200 + Math.max(0, i - 6) * 10),
    warmupS: 60,
    askedPerSecond: 1_000,
    market: m,
    streams: [m],
    exit: clean,
  });
  t.false(growing.rss.pass);
  t.false(growing.pass);
  const lagging = judge({
    samples: samples(
      13,
      () => 200,
      (i) => i * 200,
    ),
    warmupS: 60,
    askedPerSecond: 1_000,
    market: m,
    streams: [m],
    exit: clean,
  });
  t.true(lagging.rss.pass);
  t.false(lagging.lag.pass);
  t.is(lagging.lag.max, 2_400);
  t.is(lagging.lag.maxGroup, 'market/ess');
});

test('a gap, a duplicate, fewer entries than published, a slow feed or a dirty exit fail', (t) => {
  const base = { samples: samples(13, () => 200), warmupS: 60, askedPerSecond: 1_000, exit: clean };
  const gap = market([...seqs(50), ...seqs(120_001).slice(51)]);
  t.is(judge({ ...base, market: gap, streams: [gap] }).market.lost, 1);
  const dup = market([...seqs(120_000), 7]);
  t.is(judge({ ...base, market: dup, streams: [dup] }).market.duplicated, 1);
  const short = market(seqs(119_990));
  const v = judge({ ...base, market: short, streams: [short] });
  t.is(v.market.lost, 10, 'ticks published but not in the stream are lost');
  t.false(v.pass);
  const stale = market(seqs(120_000), 119_000);
  t.is(judge({ ...base, market: stale, streams: [stale] }).market.seqRecordMismatches, 1);
  const ok = market(seqs(120_000));
  t.false(judge({ ...base, askedPerSecond: 2_000, market: ok, streams: [ok] }).ticks.pass);
  t.false(judge({ ...base, market: ok, streams: [ok], exit: { ...clean, bufferRowsAtClose: 4 } }).exit.pass);
  t.true(judge({ ...base, market: ok, streams: [ok] }).pass);
});
