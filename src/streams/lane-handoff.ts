/**
 * Where the publisher and the drainer meet: the only thing either knows of
 * the other. The publisher owns each topic's lane (direct to Redis, or
 * parked in the disk buffer); the drainer replays a parked topic and tells
 * the publisher how far it got, and the publisher decides what its lane does.
 *
 * A topic's life: direct → (Redis fails) parked → the drainer replays →
 * `catching-up` (little left: new events wait in memory instead of being
 * parked behind the backlog, so the drain converges under steady load) →
 * `drained` (the lane goes direct, numbering on from `nextSeq`); or
 * `stalled` (Redis failed again: what waited in memory is parked after all).
 */
export interface LaneHandoff {
  /** Calls `listener` with a topic whenever events of it were parked; returns the unsubscribe. */
  onParked(listener: (topic: string) => void): () => void;
  /**
   * The highest seq this process assigned on a topic (0 if none). Numbering
   * of parked rows continues after it, so seqs are never reused even when
   * Redis lost events it had acknowledged.
   */
  highestSeq(topic: string): number;
  /** The drainer's progress on a topic's backlog. */
  report(topic: string, progress: BacklogProgress): void;
}

/** See {@link LaneHandoff}. */
export type BacklogProgress =
  | { readonly kind: 'catching-up' }
  | { readonly kind: 'stalled' }
  /** `nextSeq` undefined: the drainer has no record, so the publisher reads it back from Redis. */
  | { readonly kind: 'drained'; readonly nextSeq: number | undefined };
