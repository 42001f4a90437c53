/**
 * The daily restart's plan (docs/operations.md, "The daily restart"): the
 * steps in order, from the services to stop and start, and how long each may
 * take. Pure: `qt restart --dry-run` prints it; the orchestrator runs it.
 */

/** Stop order: consumers of a service's outputs first, risk-safety (the ESS) and monitoring last. */
export const DEFAULT_STOP_ORDER = [
  'ai-engine',
  'portfolio-intelligence',
  'execution',
  'risk-safety',
  'monitoring-health',
];
/** Start order: the ESS and pre-trade first, so nothing trades before they run. */
export const DEFAULT_START_ORDER = [
  'risk-safety',
  'execution',
  'ai-engine',
  'portfolio-intelligence',
  'monitoring-health',
];

/** How long each kind of step may take, ms. */
export interface RestartTimeouts {
  /** Waiting until no order is in flight. */
  readonly ordersMs: number;
  /** Waiting for consumer lag 0 and empty disk buffers. */
  readonly drainMs: number;
  /** One service's stop. */
  readonly stopMs: number;
  /** One service's start, until its `/health` is OK. */
  readonly startMs: number;
}

/** The default timeouts: 60 s to settle orders and to drain, 30 s a stop, 60 s a start. */
export const DEFAULT_RESTART_TIMEOUTS: RestartTimeouts = {
  ordersMs: 60_000,
  drainMs: 60_000,
  stopMs: 30_000,
  startMs: 60_000,
};

/** What a run restarts. */
export interface RestartPlanInput {
  readonly stopOrder: readonly string[];
  readonly startOrder: readonly string[];
}

/** One step: its name (`stop:execution`) and what it does, for people. */
export interface PlannedStep {
  readonly step: string;
  readonly does: string;
}

/**
 * The steps, in order. The state compared at the end is captured around
 * execution's stop: its balances just before (execution answers them), its
 * positions, open orders and the ESS state just after (from Redis, final).
 */
export function restartPlan(input: RestartPlanInput): PlannedStep[] {
  const steps: PlannedStep[] = [
    { step: 'pause-entries', does: 'publish risk.entries_paused: new entries stop, exits and cancels go on' },
    { step: 'wait-orders', does: 'wait until execution has no order pending, submitting or cancelling' },
    { step: 'drain', does: 'wait for every platform consumer group to catch up and every disk buffer to empty' },
  ];
  const capturesAtStop = input.stopOrder.includes('execution');
  if (!capturesAtStop) steps.push(...captureSteps());
  for (const service of input.stopOrder) {
    if (service === 'execution') steps.push(captureSteps()[0] as PlannedStep);
    steps.push({ step: `stop:${service}`, does: `stop ${service} and wait until its /health no longer answers` });
    if (service === 'execution') steps.push(captureSteps()[1] as PlannedStep);
  }
  steps.push({ step: 'check-infra', does: 'Redis answers PING and is the master' });
  for (const service of input.startOrder)
    steps.push({ step: `start:${service}`, does: `start ${service} and wait until its /health is OK` });
  steps.push(
    { step: 'verify', does: 'balances, positions, open orders and the ESS state are what they were' },
    { step: 'resume-entries', does: 'publish risk.entries_resumed' },
  );
  return steps;
}

function captureSteps(): PlannedStep[] {
  return [
    { step: 'capture-balances', does: "record the venue's balances (GET /balances on execution)" },
    { step: 'capture-state', does: "record execution's positions and open orders and the ESS state (from Redis)" },
  ];
}
