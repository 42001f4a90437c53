/**
 * The simulation harness: runs the chosen scenarios one after another
 * against real processes, collects each one's checks and timeline, writes
 * the report (JSON and HTML) and says whether every check passed. Used by
 * `npm run simulate` and by the tests (with `short: true`).
 */
import { Recorder, type Sample, type ScenarioResult } from './record.js';
import { type SimulationReport, writeReport } from './report.js';
import type { Scenario } from './scenario.js';
import { binanceDown } from './scenarios/binance-down.js';
import { essTrigger } from './scenarios/ess-trigger.js';
import { flashCrash } from './scenarios/flash-crash.js';
import { processCrash } from './scenarios/process-crash.js';
import { redisDown } from './scenarios/redis-down.js';
import { sentinelFailover } from './scenarios/sentinel-failover.js';
import { signalFlood } from './scenarios/signal-flood.js';

/** Every built scenario, in the order a full run takes them. */
export const SCENARIOS: readonly Scenario[] = [
  flashCrash,
  redisDown,
  essTrigger,
  signalFlood,
  sentinelFailover,
  binanceDown,
  processCrash,
];

/** Scenarios of the design (issue 15) that are not built yet. */
export const NOT_BUILT: readonly string[] = [];

/** How to run the harness. */
export interface SimulationOptions {
  /** Scenario names; empty or absent: every built scenario. */
  readonly scenarios?: readonly string[];
  readonly short?: boolean;
  /** Where the report goes (default `simulations`). */
  readonly outDir?: string;
  readonly log?: (line: string) => void;
}

/** The run's report and where it was written. */
export interface SimulationRun {
  readonly report: SimulationReport;
  readonly files: { json: string; html: string };
}

/** The scenarios named, in the order given; an unknown name is an error naming the known ones. */
export function selectScenarios(names: readonly string[]): Scenario[] {
  if (names.length === 0) return [...SCENARIOS];
  return names.map((name) => {
    const found = SCENARIOS.find((s) => s.name === name);
    if (found) return found;
    const known = SCENARIOS.map((s) => s.name).join(', ');
    const why = NOT_BUILT.includes(name) ? 'is not built yet' : 'is not a scenario';
    throw new Error(`scenario ${name} ${why}; built: ${known}`);
  });
}

async function runOne(scenario: Scenario, short: boolean, log: (line: string) => void): Promise<ScenarioResult> {
  const recorder = new Recorder();
  let timeline: Sample[] = [];
  let error: string | undefined;
  try {
    timeline = await scenario.run({ short, recorder, log: (line) => log(`[${scenario.name}] ${line}`) });
  } catch (err) {
    error = (err as Error).message;
    log(`[${scenario.name}] stopped: ${error}`);
  }
  const passed = error === undefined && recorder.checks.length > 0 && recorder.checks.every((c) => c.passed);
  return {
    name: scenario.name,
    passed,
    short,
    durationMs: recorder.elapsed(),
    checks: recorder.checks,
    timeline,
    marks: recorder.marks,
    ...(error === undefined ? {} : { error }),
  };
}

/** Runs the scenarios, writes the report, returns it. */
export async function runSimulations(options: SimulationOptions = {}): Promise<SimulationRun> {
  const selected = selectScenarios(options.scenarios ?? []);
  const short = options.short ?? false;
  const log = options.log ?? (() => undefined);
  const startedAt = new Date().toISOString();
  const scenarios: ScenarioResult[] = [];
  for (const scenario of selected) {
    log(`[${scenario.name}] ${scenario.summary}${short ? ' (short)' : ''}`);
    const result = await runOne(scenario, short, log);
    for (const c of result.checks)
      log(`[${scenario.name}] ${c.passed ? 'PASS' : 'FAIL'} ${c.name}: ${c.value} ${c.unit}`);
    scenarios.push(result);
  }
  const report: SimulationReport = { startedAt, short, passed: scenarios.every((s) => s.passed), scenarios };
  const files = await writeReport(options.outDir ?? 'simulations', report);
  return { report, files };
}
