/**
 * The daily restart as a resumable XState machine (docs/operations.md, "The
 * daily restart"): one state per step of the plan, each invoking the step;
 * after each, the run record is saved in Redis and an `ops.restart_step`
 * published, so the next orchestrator resumes a run whose orchestrator died
 * from the step it was in. A step that fails sends the machine to
 * `aborting`: entries stay paused, the ESS is tripped with the reason (an
 * `ess.trip_requested` on the bus, applied by risk-safety whether or not it
 * is running now), and the report says what to do. One run at a time: the
 * lease (lease.ts) refuses a second orchestrator.
 */
import type { Redis } from 'ioredis';
import { v7 as uuidv7 } from 'uuid';
import { assign, createActor, fromPromise, setup, toPromise } from 'xstate';
import type { Keys } from '../../streams/keys.js';
import type { Publisher } from '../../streams/publisher-contract.js';
import { Lease, type LeaseHolder } from './lease.js';
import type { PlannedStep, RestartTimeouts } from './plan.js';
import { loadRunRecord, type RunRecord, type StepLine, saveRunRecord } from './run-record.js';
import type { ServiceControl, ServiceEndpoint } from './service-control.js';
import { runStep } from './steps.js';

/** What a run needs. */
export interface RestartOptions {
  readonly redis: Redis;
  readonly keys: Keys;
  readonly publisher: Publisher;
  readonly control: ServiceControl;
  readonly endpoints: Readonly<Record<string, ServiceEndpoint>>;
  readonly plan: readonly PlannedStep[];
  readonly timeouts: RestartTimeouts;
  readonly operator: string;
  readonly reason: string;
  readonly leaseMs: number;
  /** Told each line of the report as it happens. */
  readonly onLine?: (line: StepLine) => void;
}

/** How a run ended. */
export type RestartOutcome =
  | { readonly result: 'refused'; readonly holder: LeaseHolder }
  | {
      readonly result: 'done' | 'failed';
      readonly record: RunRecord;
      readonly resumed: boolean;
      readonly durationMs: number;
      /** For a failed run: what the operator should do. */
      readonly advice?: string;
    };

interface Context {
  record: RunRecord;
  error?: string;
}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Builds the machine of one run's steps (the record says where to begin). */
function restartMachine(options: RestartOptions, save: (r: RunRecord) => Promise<void>) {
  const line = async (record: RunRecord, entry: StepLine): Promise<RunRecord> => {
    options.onLine?.(entry);
    await options.publisher.publish('ops.restart_step', {
      runId: record.runId,
      step: entry.step,
      status: entry.status,
      detail: entry.detail.slice(0, 2_000),
    });
    return { ...record, lines: [...record.lines, entry] };
  };
  const step = fromPromise<RunRecord, { record: RunRecord; index: number }>(async ({ input }) => {
    const { record, index } = input;
    const name = record.steps[index] as string;
    const started = Date.now();
    await options.publisher.publish('ops.restart_step', {
      runId: record.runId,
      step: name,
      status: 'started',
      detail: '',
    });
    const result = await runStep(name, record, options);
    const next: RunRecord = { ...record, ...result.record, next: index + 1 };
    const done = await line(next, {
      step: name,
      status: 'done',
      at: new Date().toISOString(),
      durationMs: Date.now() - started,
      detail: result.detail,
    });
    await save(done);
    return done;
  });
  const abort = fromPromise<RunRecord, { record: RunRecord; error: string }>(async ({ input }) => {
    const { record, error } = input;
    const name = record.steps[record.next] ?? 'run';
    let failed: RunRecord = { ...record, status: 'failed', failure: { step: name, error } };
    try {
      failed = await line(failed, {
        step: name,
        status: 'failed',
        at: new Date().toISOString(),
        durationMs: 0,
        detail: error,
      });
      await options.publisher.publish('ess.trip_requested', {
        requestId: uuidv7(),
        operator: 'qt restart',
        reason: `restart ${record.runId} failed at ${name}: ${error}`.slice(0, 500),
        requestedAt: new Date().toISOString(),
      });
    } finally {
      await save(failed);
    }
    return failed;
  });

  const count = options.plan.length;
  const stepStates = Object.fromEntries(
    options.plan.map((_, i) => [
      `step${i}`,
      {
        invoke: {
          src: 'step' as const,
          input: ({ context }: { context: Context }) => ({ record: context.record, index: i }),
          onDone: {
            target: i + 1 < count ? `step${i + 1}` : 'done',
            actions: assign({ record: ({ event }: { event: { output: RunRecord } }) => event.output }),
          },
          onError: {
            target: 'aborting',
            actions: assign({ error: ({ event }: { event: { error: unknown } }) => errorText(event.error) }),
          },
        },
      },
    ]),
  );
  return setup({
    types: { context: {} as Context, input: {} as { record: RunRecord } },
    actors: { step, abort },
  }).createMachine({
    id: 'restart',
    context: ({ input }: { input: { record: RunRecord } }) => ({ record: input.record }),
    initial: 'resume',
    states: {
      // Straight to the step the record names: a resumed run goes on where the last one stopped.
      resume: {
        always: [
          ...options.plan.map((_, i) => ({
            guard: ({ context }: { context: Context }) => context.record.next === i,
            target: `step${i}`,
          })),
          { target: 'done' },
        ],
      },
      ...stepStates,
      aborting: {
        invoke: {
          src: 'abort',
          input: ({ context }: { context: Context }) => ({
            record: context.record,
            error: context.error ?? 'unknown error',
          }),
          onDone: {
            target: 'failed',
            actions: assign({ record: ({ event }: { event: { output: RunRecord } }) => event.output }),
          },
          onError: { target: 'failed' },
        },
      },
      done: { type: 'final' },
      failed: { type: 'final' },
    },
    output: ({ context }: { context: Context }) => context,
  } as never);
}

/** What to do after a failed run, in a few sentences. */
export function adviceFor(record: RunRecord): string {
  const stopped = record.stopped.length > 0 ? ` Stopped and not started again: ${record.stopped.join(', ')}.` : '';
  return (
    `The restart stopped at ${record.failure?.step}: ${record.failure?.error}. New entries stay paused and the ESS ` +
    `is tripped with that reason.${stopped} Fix the cause, start what is stopped (run qt restart --execute again, ` +
    'or start the units), check qt check, then resume entries (qt entries resume --reason …) and reset the ESS ' +
    'after its cooldown (qt ess reset --reason …).'
  );
}

/**
 * Runs the restart: takes the lease (or reports who holds it), resumes the
 * record of a run still `running` (its orchestrator died) or starts a new
 * run, and drives the machine to `done` or `failed`.
 */
export async function runRestart(options: RestartOptions): Promise<RestartOutcome> {
  const { redis, keys } = options;
  const previous = await loadRunRecord(redis, keys);
  const resumed = previous?.status === 'running';
  const record: RunRecord = resumed
    ? { ...previous, resumes: previous.resumes + 1 }
    : {
        runId: uuidv7(),
        operator: options.operator,
        reason: options.reason,
        status: 'running',
        startedAt: new Date().toISOString(),
        steps: options.plan.map((s) => s.step),
        next: 0,
        captured: {},
        lines: [],
        stopped: [],
        resumes: 0,
      };
  const lease = new Lease(redis, keys.lock('restart'), `${record.runId}:${process.pid}`, options.leaseMs);
  const taken = await lease.acquire();
  if (!taken.ok) return { result: 'refused', holder: taken.holder };
  const started = Date.now();
  try {
    const plan = resumed ? record.steps.map((step) => ({ step, does: '' })) : options.plan;
    const save = async (r: RunRecord) => {
      if (lease.lost) throw new Error('the restart lock was lost (another orchestrator took over)');
      await saveRunRecord(redis, keys, r);
    };
    await save(record);
    const actor = createActor(restartMachine({ ...options, plan }, save), { input: { record } });
    actor.start();
    const end = (await toPromise(actor)) as Context;
    const durationMs = Date.now() - started;
    if (actor.getSnapshot().value === 'failed') {
      // Even when recording the failure failed, the run failed.
      const failed: RunRecord =
        end.record.status === 'failed'
          ? end.record
          : {
              ...end.record,
              status: 'failed',
              failure: { step: end.record.steps[end.record.next] ?? 'run', error: end.error ?? 'unknown error' },
            };
      return { result: 'failed', record: failed, resumed, durationMs, advice: adviceFor(failed) };
    }
    const done: RunRecord = { ...end.record, status: 'done' };
    await saveRunRecord(redis, keys, done);
    return { result: 'done', record: done, resumed, durationMs };
  } finally {
    await lease.release().catch(() => lease.stop());
  }
}
