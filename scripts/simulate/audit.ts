/**
 * The per-producer sequence audit of every stream: on each topic, each
 * producer's events must carry seq 1, 2, 3, ... in stream order. A seq that
 * is skipped counts as lost, one seen twice as duplicated, one below the
 * highest seen so far (and not a repeat) as reordered.
 */
import type { Cluster } from './cluster.js';
import { eventsOf, TOPICS } from './probes.js';

/** The audit's totals over every topic and producer. */
export interface SeqAudit {
  readonly events: number;
  readonly producers: number;
  readonly lost: number;
  readonly duplicated: number;
  readonly reordered: number;
}

/** Audits the seqs of one producer's events on one topic, in stream order. */
export function auditSeqs(seqs: readonly number[]): { lost: number; duplicated: number; reordered: number } {
  const seen = new Set<number>();
  let duplicated = 0;
  let reordered = 0;
  let highest = 0;
  for (const seq of seqs) {
    if (seen.has(seq)) duplicated++;
    else if (seq < highest) reordered++;
    seen.add(seq);
    highest = Math.max(highest, seq);
  }
  return { lost: highest - seen.size, duplicated, reordered };
}

/** Reads every topic stream and audits each producer's seqs. */
export async function auditStreams(cluster: Cluster): Promise<SeqAudit> {
  const totals = { events: 0, producers: 0, lost: 0, duplicated: 0, reordered: 0 };
  for (const topic of TOPICS) {
    const byProducer = new Map<string, number[]>();
    for (const e of await eventsOf(cluster, topic)) {
      const list = byProducer.get(e.producer) ?? [];
      list.push(e.seq);
      byProducer.set(e.producer, list);
      totals.events++;
    }
    for (const seqs of byProducer.values()) {
      const one = auditSeqs(seqs);
      totals.producers++;
      totals.lost += one.lost;
      totals.duplicated += one.duplicated;
      totals.reordered += one.reordered;
    }
  }
  return totals;
}
