/**
 * The soak's end (bench/soak.ts): the audit of a topic stream (every
 * producer's seqs in stream order: none skipped, none twice, none out of
 * order, the last one the seq the bus recorded) and the verdict over the
 * samples: `main`'s RSS growth after the warm-up, the largest consumer lag,
 * the tick rate reached, and lost or duplicated events.
 */
import type { Redis } from 'ioredis';
import { auditSeqs } from '../scripts/simulate/audit.js';
import { DEFAULT_PROBE_THRESHOLDS } from '../src/config/health.js';
import { decodeEntry } from '../src/streams/codec.js';
import type { Keys } from '../src/streams/keys.js';
import type { GroupSample } from './soak-probes.js';

/** Entries read per XRANGE while auditing. */
const AUDIT_PAGE = 10_000;
/** Growth of main's RSS after the warm-up that fails the soak (issue 16: "RSS flat, growth < 10 %"). */
export const RSS_GROWTH_LIMIT_PCT = 10;
/** A group further behind than this fails the soak: monitoring-health's own DEGRADED threshold. */
export const LAG_LIMIT = DEFAULT_PROBE_THRESHOLDS.lagEntries.degraded;
/** Share of the asked tick rate the feed must reach. */
export const RATE_TOLERANCE = 0.95;

/** One sample of the soak. */
export interface SoakSample {
  /** Seconds since `main` reported "runtime started". */
  readonly t: number;
  readonly rssMb: number;
  /** Ticks the marketdata service had published (GET /feed); null when it did not answer. */
  readonly ticksPublished: number | null;
  readonly marketEntries: number;
  readonly load1m: number;
  readonly groups: readonly GroupSample[];
}

/** One producer's events on one topic. */
export interface ProducerAudit {
  readonly producer: string;
  readonly events: number;
  readonly lastSeq: number;
  /** The producer's last seq as the bus recorded it (`qt:seq:{topic}`); null when none. */
  readonly recordedSeq: number | null;
  readonly lost: number;
  readonly duplicated: number;
  readonly reordered: number;
}

/** A topic stream's audit. */
export interface StreamAudit {
  readonly topic: string;
  readonly entries: number;
  /** Entries per event type. */
  readonly types: Readonly<Record<string, number>>;
  readonly producers: readonly ProducerAudit[];
}

/** Reads every entry of `topic`'s stream and audits each producer's seqs. */
export async function auditStream(redis: Redis, keys: Keys, topic: string): Promise<StreamAudit> {
  const key = keys.stream(topic);
  const seqs = new Map<string, number[]>();
  const types: Record<string, number> = {};
  let entries = 0;
  for (let from = '-'; ; ) {
    const page = await redis.xrange(key, from, '+', 'COUNT', AUDIT_PAGE);
    for (const [, fields] of page) {
      const envelope = decodeEntry(fields);
      entries++;
      types[envelope.type] = (types[envelope.type] ?? 0) + 1;
      const list = seqs.get(envelope.producer) ?? [];
      list.push(envelope.seq);
      seqs.set(envelope.producer, list);
    }
    const last = page.at(-1);
    if (page.length < AUDIT_PAGE || last === undefined) break;
    from = `(${last[0]}`;
  }
  const recorded = await redis.hgetall(keys.producerSeqs(topic));
  const producers = [...seqs].map(([producer, list]) => {
    const recordedSeq = recorded[producer];
    return {
      producer,
      events: list.length,
      // Not Math.max(...list): a 10-minute soak puts 600,000 seqs on the market stream, past the call stack.
      lastSeq: list.reduce((max, seq) => (seq > max ? seq : max), 0),
      recordedSeq: recordedSeq === undefined ? null : Number(recordedSeq),
      ...auditSeqs(list),
    };
  });
  return { topic, entries, types, producers };
}

/** How `main` ended. */
export interface SoakExit {
  readonly code: number | null;
  /** Disk-buffer rows left at close ("disk buffer closed" log line); null when not logged. */
  readonly bufferRowsAtClose: number | null;
  /** Log lines at warn and at error level or above. */
  readonly warnings: number;
  readonly errors: number;
  /** The first warn and error lines, as logged (JSON). */
  readonly problems: readonly string[];
}

/** The soak's figures and whether each meets its bound. */
export interface SoakVerdict {
  readonly pass: boolean;
  readonly rss: {
    readonly warmupS: number;
    readonly afterWarmupMb: number;
    readonly finalMb: number;
    readonly maxMb: number;
    readonly growthPct: number;
    readonly limitPct: number;
    readonly pass: boolean;
  };
  readonly lag: {
    readonly max: number;
    readonly maxGroup: string | null;
    readonly final: number;
    readonly maxPending: number;
    readonly limit: number;
    readonly pass: boolean;
  };
  readonly ticks: {
    readonly askedPerSecond: number;
    readonly reachedPerSecond: number;
    readonly publishedAtLastRead: number | null;
    readonly entries: number;
    readonly pass: boolean;
  };
  readonly market: {
    readonly lost: number;
    readonly duplicated: number;
    readonly reordered: number;
    readonly seqRecordMismatches: number;
    readonly pass: boolean;
  };
  readonly allStreams: {
    readonly events: number;
    readonly lost: number;
    readonly duplicated: number;
    readonly reordered: number;
  };
  readonly exit: SoakExit & { readonly pass: boolean };
}

const r1 = (x: number) => Math.round(x * 10) / 10;

/**
 * Judges a soak. RSS growth compares the median of the last quarter of the
 * samples after the warm-up with that of the first quarter (at least 3
 * samples each: between two collections RSS swings by a fifth, so single
 * samples say little); lag is the largest lag any group had after the warm-up; the tick
 * rate is market entries over the samples after the warm-up; nothing may be
 * lost, duplicated or reordered on any stream, the last seq of each market
 * producer must be the one the bus recorded, and `main` must exit 0 with an
 * empty disk buffer.
 */
export function judge(input: {
  readonly samples: readonly SoakSample[];
  readonly warmupS: number;
  readonly askedPerSecond: number;
  readonly market: StreamAudit;
  readonly streams: readonly StreamAudit[];
  readonly exit: SoakExit;
}): SoakVerdict {
  const { samples, warmupS } = input;
  const after = samples.filter((s) => s.t >= warmupS);
  if (after.length < 2) throw new Error(`soak: fewer than 2 samples after the ${warmupS} s warm-up`);
  const first = after[0] as SoakSample;
  const last = after.at(-1) as SoakSample;
  // RSS is a sawtooth (the heap fills up to the next major collection, about
  // a minute at 1,000 ticks/s, between 165 and 255 MB): what a leak raises is
  // its troughs, the RSS right after a collection. So the lowest sample of
  // the first third after the warm-up is compared with the lowest of the
  // last third; a median would move with the phase of the sawtooth.
  const k = Math.max(3, Math.floor(after.length / 3));
  const afterWarmupMb = Math.min(...after.slice(0, k).map((s) => s.rssMb));
  const finalMb = Math.min(...after.slice(-k).map((s) => s.rssMb));
  const growthPct = r1(((finalMb - afterWarmupMb) / afterWarmupMb) * 100);

  let max = 0;
  let maxGroup: string | null = null;
  let maxPending = 0;
  for (const s of after) {
    for (const g of s.groups) {
      if (g.lag > max) [max, maxGroup] = [g.lag, `${g.topic}/${g.group}`];
      maxPending = Math.max(maxPending, g.pending);
    }
  }
  const final = Math.max(0, ...last.groups.map((g) => g.lag));

  const reachedPerSecond = r1((last.marketEntries - first.marketEntries) / (last.t - first.t));
  const publishedAtLastRead = [...samples].reverse().find((s) => s.ticksPublished !== null)?.ticksPublished ?? null;
  const tickEntries = input.market.types['market.tick'] ?? 0;
  const sum = (k: 'lost' | 'duplicated' | 'reordered', audits: readonly StreamAudit[]) =>
    audits.reduce((n, a) => n + a.producers.reduce((m, p) => m + p[k], 0), 0);
  // A tick counted as published is acknowledged by Redis: fewer entries than that is a loss too.
  const tailLost = Math.max(0, (publishedAtLastRead ?? 0) - tickEntries);
  const market = {
    lost: sum('lost', [input.market]) + tailLost,
    duplicated: sum('duplicated', [input.market]),
    reordered: sum('reordered', [input.market]),
    seqRecordMismatches: input.market.producers.filter((p) => p.recordedSeq !== p.lastSeq).length,
  };
  const allStreams = {
    events: input.streams.reduce((n, a) => n + a.entries, 0),
    lost: sum('lost', input.streams),
    duplicated: sum('duplicated', input.streams),
    reordered: sum('reordered', input.streams),
  };
  const rss = { warmupS, afterWarmupMb, finalMb, maxMb: Math.max(...samples.map((s) => s.rssMb)), growthPct };
  const verdict = {
    rss: { ...rss, limitPct: RSS_GROWTH_LIMIT_PCT, pass: growthPct < RSS_GROWTH_LIMIT_PCT },
    lag: { max, maxGroup, final, maxPending, limit: LAG_LIMIT, pass: max <= LAG_LIMIT },
    ticks: {
      askedPerSecond: input.askedPerSecond,
      reachedPerSecond,
      publishedAtLastRead,
      entries: tickEntries,
      pass: reachedPerSecond >= input.askedPerSecond * RATE_TOLERANCE,
    },
    market: {
      ...market,
      pass: market.lost + market.duplicated + market.reordered + market.seqRecordMismatches === 0,
    },
    allStreams,
    exit: { ...input.exit, pass: input.exit.code === 0 && input.exit.bufferRowsAtClose === 0 },
  };
  const pass =
    verdict.rss.pass &&
    verdict.lag.pass &&
    verdict.ticks.pass &&
    verdict.market.pass &&
    verdict.exit.pass &&
    allStreams.lost + allStreams.duplicated + allStreams.reordered === 0;
  return { pass, ...verdict };
}
