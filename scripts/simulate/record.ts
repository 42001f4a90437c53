/**
 * What a scenario records: its checks (each with the measured figure) and
 * its timeline, sampled while it runs (price, equity, ESS state, consumer
 * lag, disk-buffer rows), for the report's chart.
 */

/** One check of a scenario: passed or not, with the figure it was decided on. */
export interface Check {
  readonly name: string;
  readonly passed: boolean;
  readonly value: number;
  readonly unit: string;
}

/** One point of a timeline: `series` at `t` ms after the scenario started. */
export interface Sample {
  readonly t: number;
  readonly series: string;
  readonly value: number;
}

/** A marked instant of the timeline (the injection, the recovery). */
export interface Mark {
  readonly t: number;
  readonly label: string;
}

/** The outcome of one scenario, as the report holds it. */
export interface ScenarioResult {
  readonly name: string;
  readonly passed: boolean;
  readonly short: boolean;
  readonly durationMs: number;
  readonly checks: readonly Check[];
  readonly timeline: readonly Sample[];
  readonly marks: readonly Mark[];
  /** Set when the scenario could not run to its end (the checks so far are kept). */
  readonly error?: string;
}

/** Collects checks and marks while a scenario runs. */
export class Recorder {
  readonly checks: Check[] = [];
  readonly marks: Mark[] = [];
  readonly startedAt = Date.now();

  /** Records a check: `passed` decided by the caller from `value`. */
  check(name: string, passed: boolean, value: number, unit: string): void {
    this.checks.push({ name, passed, value, unit });
  }

  /** Marks this instant on the timeline. */
  mark(label: string): void {
    this.marks.push({ t: Date.now() - this.startedAt, label });
  }

  /** Milliseconds since the scenario started. */
  elapsed(): number {
    return Date.now() - this.startedAt;
  }
}
