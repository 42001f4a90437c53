/**
 * The one backoff of the project: exponential steps with a ceiling and a
 * choice of jitter. Every retry loop (consumer, drainer, order runner, Redis
 * reconnects, the Binance client) takes its delays from here, so "how long
 * do we wait after the n-th failure" has one answer and one test.
 */

/** How a delay is spread so that many processes do not retry in step. */
export type Jitter =
  /** Exactly the exponential step. */
  | 'none'
  /** Half fixed, half random: waits still grow, processes spread out. */
  | 'equal'
  /** The step scaled by a factor in [1 - spread, 1 + spread). */
  | { readonly spread: number };

/** A backoff policy: `baseMs · 2^(attempt-1)`, capped at `maxMs`, then jittered. */
export interface Backoff {
  readonly baseMs: number;
  readonly maxMs: number;
  readonly jitter?: Jitter;
}

/**
 * The delay before retry number `attempt` (1 = after the first failure).
 * `random` is a uniform [0, 1) source, injectable so tests are exact.
 */
export function backoffDelay(policy: Backoff, attempt: number, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(0, Math.floor(attempt) - 1), 52);
  const step = Math.min(policy.maxMs, policy.baseMs * 2 ** exponent);
  const jitter = policy.jitter ?? 'none';
  if (jitter === 'none') return step;
  if (jitter === 'equal') return Math.round(step / 2 + (step / 2) * random());
  return Math.round(step * (1 - jitter.spread + 2 * jitter.spread * random()));
}
