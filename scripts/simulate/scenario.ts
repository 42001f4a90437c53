/**
 * What a simulation scenario is: a name, what it injects, and a run that
 * starts its platform, injects its failure and records checks on the
 * {@link Recorder} it is given; the samples of its timeline are returned.
 */
import type { Recorder, Sample } from './record.js';

/** How a scenario is run. */
export interface ScenarioContext {
  /** The short version (for `npm test`): shorter outages and waits. */
  readonly short: boolean;
  readonly recorder: Recorder;
  /** Progress lines for the operator. */
  log(line: string): void;
}

/** One failure scenario. */
export interface Scenario {
  readonly name: string;
  readonly summary: string;
  /** Runs the scenario; checks go to `ctx.recorder`; returns the timeline. Always stops what it started. */
  run(ctx: ScenarioContext): Promise<Sample[]>;
}
