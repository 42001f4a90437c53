/**
 * Counts the commits of every StreamConsumer in this process and wakes
 * whoever waits for the next one. The replay at max speed waits on it
 * (src/actors/marketdata/replay-pacer.ts): the pipeline can only have
 * finished an instant when one of its consumers just committed, so the
 * pacer looks at the consumer groups after a commit instead of every
 * millisecond.
 */

let commits = 0;
const waiters = new Set<() => void>();

/** Called by a consumer once a commit has landed. */
export function signalCommit(): void {
  commits++;
  for (const wake of waiters) wake();
  waiters.clear();
}

/** Commits landed in this process so far: take it before a look, then wait with {@link nextCommit}. */
export function commitCount(): number {
  return commits;
}

/** Resolves once the count has passed `seen`, or after `timeoutMs` at the latest. */
export function nextCommit(seen: number, timeoutMs: number): Promise<void> {
  if (commits > seen) return Promise.resolve();
  return new Promise((resolve) => {
    const wake = (): void => {
      clearTimeout(timer);
      waiters.delete(wake);
      resolve();
    };
    const timer = setTimeout(wake, timeoutMs);
    waiters.add(wake);
  });
}
