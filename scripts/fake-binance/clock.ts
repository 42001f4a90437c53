/**
 * A clock tests advance by hand, shared between Binance adapters and the
 * fake Binance so the fake's timestamp check agrees with them and waits take
 * no real time.
 */

/** A clock tests advance by hand: `sleep` records the wait and moves time on at once. */
export interface SimulatedClock {
  now(): number;
  sleep(ms: number): Promise<void>;
  /** Every wait passed to `sleep`, in order. */
  readonly sleeps: number[];
  advance(ms: number): void;
}

/**
 * A simulated clock starting at `start` (default: one second into a minute,
 * so budget windows are predictable). Share it between the adapters and the
 * fake so the fake's timestamp check agrees with them.
 */
export function simulatedClock(start = 1_750_000_020_000 + 1000): SimulatedClock {
  let t = start;
  const sleeps: number[] = [];
  return {
    now: () => t,
    sleep: async (ms) => {
      sleeps.push(ms);
      t += ms;
    },
    sleeps,
    advance: (ms) => {
      t += ms;
    },
  };
}
