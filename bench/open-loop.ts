import { setTimeout as sleep, setImmediate as yieldToIo } from 'node:timers/promises';
import { now, withDeadline } from './harness.js';

/** Settings of {@link runOpenLoop}. */
export interface OpenLoopOptions {
  /** Operations per second; operation i is due at `t0 + i / rate`. */
  readonly ratePerSecond: number;
  /** Leading time whose operations are sent but not measured (JIT, connection, first-call work). */
  readonly warmupMs: number;
  /** Measured time after the warm-up. */
  readonly durationMs: number;
  /** Starts operation `i`; its latency ends when the returned promise resolves. */
  readonly send: (i: number) => Promise<unknown>;
  /** How long to wait for the last operations to resolve; default 10 s. */
  readonly drainTimeoutMs?: number;
}

/** Latencies of an open-loop run, sorted ascending, in ms. */
export interface OpenLoopResult {
  /** Per measured operation: time from when it was due to when it resolved. */
  readonly latencies: Float64Array;
  /** Per measured operation: time from when it was due to when it was actually sent (the driver's own lag). */
  readonly sendLag: Float64Array;
}

/**
 * Drives `send` at a fixed rate, open loop: operation i is due at `t0 + i/rate`
 * whether or not earlier ones have resolved, and its latency is measured from
 * when it was due, not when it was sent. A stall in the system under test (or
 * in this process) therefore shows up in the latency of every operation it
 * delayed instead of being hidden by sending less (coordinated omission).
 *
 * Between operations less than ~2 ms apart the driver yields with
 * `setImmediate` rather than a timer: Node timers fire about 1 ms late, which
 * would otherwise dominate sub-millisecond latencies. `sendLag` reports how
 * late the driver itself was, so a noisy figure can be told apart from a slow
 * system under test.
 */
export async function runOpenLoop(options: OpenLoopOptions): Promise<OpenLoopResult> {
  const intervalMs = 1000 / options.ratePerSecond;
  const warmup = Math.round(options.warmupMs / intervalMs);
  const total = warmup + Math.round(options.durationMs / intervalMs);
  const latencies = new Float64Array(total - warmup);
  const sendLag = new Float64Array(total - warmup);
  const inFlight: Promise<void>[] = [];
  // Rejections are caught at once (an unhandled one would kill the process) and rethrown after the loop.
  let failure: { error: unknown } | undefined;
  const t0 = now() + intervalMs;

  let next = 0;
  while (next < total && !failure) {
    const current = now();
    for (; next < total && t0 + next * intervalMs <= current; next++) {
      const i = next;
      const due = t0 + i * intervalMs;
      if (i >= warmup) sendLag[i - warmup] = current - due;
      inFlight.push(
        options.send(i).then(
          () => {
            if (i >= warmup) latencies[i - warmup] = now() - due;
          },
          (error: unknown) => {
            failure ??= { error };
          },
        ),
      );
    }
    const wait = t0 + next * intervalMs - now();
    if (wait > 2) await sleep(wait - 1);
    else await yieldToIo();
  }
  await withDeadline(Promise.all(inFlight), options.drainTimeoutMs ?? 10_000, 'open-loop operations to resolve');
  if (failure) throw failure.error;
  return { latencies: latencies.sort(), sendLag: sendLag.sort() };
}
