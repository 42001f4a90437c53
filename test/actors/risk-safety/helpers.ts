/**
 * Helpers for the ESS tests: a driver that sends events and records, per
 * event, the states passed through (every microstep) and the outbox entries
 * written, flushing them the way a host does.
 */
import { type Actor, createActor, type Snapshot } from 'xstate';
import type { EssConfigInput, EssInputEvent } from '../../../src/actors/risk-safety/ess-events.js';
import { createEssMachine, type EssContext, type EssMachine } from '../../../src/actors/risk-safety/ess-machine.js';
import { type EssOutboxEntry, type EssPublication, takeEssOutbox } from '../../../src/actors/risk-safety/ess-outbox.js';
import type { EssState, EventData } from '../../../src/events/catalog.js';

/** Small thresholds so tests read in round numbers. */
export const TEST_CONFIG = {
  cooldownMs: 10_000,
  healthCriticalMs: 5_000,
  dailyLossLimit: 1_000,
} as const satisfies EssConfigInput;

/** What one event did. */
export interface Step {
  readonly event: EssInputEvent;
  readonly before: { readonly state: EssState; readonly context: EssContext };
  readonly after: { readonly state: EssState; readonly context: EssContext };
  /** State after each microstep of the event, starting with the state before it. */
  readonly path: readonly EssState[];
  /** Outbox entries the event wrote. */
  readonly entries: readonly EssOutboxEntry[];
}

/** An ESS actor with a recorder of microsteps. */
export class EssDriver {
  readonly machine: EssMachine;
  readonly actor: Actor<EssMachine>;
  readonly steps: Step[] = [];
  #microsteps: EssState[] = [];

  constructor(config: EssConfigInput = TEST_CONFIG, snapshot?: Snapshot<unknown>) {
    this.machine = createEssMachine(config);
    this.actor = createActor(this.machine, {
      ...(snapshot ? { snapshot } : {}),
      inspect: (ev) => {
        if (ev.type === '@xstate.microstep')
          this.#microsteps.push((ev.snapshot as unknown as { value: EssState }).value);
      },
    });
    this.actor.start();
  }

  get state(): EssState {
    return this.actor.getSnapshot().value;
  }

  get context(): EssContext {
    return this.actor.getSnapshot().context;
  }

  /** Sends events one by one, flushing the outbox after each; returns the steps. */
  send(...events: EssInputEvent[]): Step[] {
    const steps = events.map((event) => {
      const before = { state: this.state, context: this.context };
      this.#microsteps = [];
      this.actor.send(event);
      const after = { state: this.state, context: this.context };
      const entries = after.context.outbox.filter((e) => e.seq > before.context.outboxSeq);
      takeEssOutbox(this.actor);
      const step: Step = { event, before, after, path: [before.state, ...this.#microsteps], entries };
      this.steps.push(step);
      return step;
    });
    return steps;
  }

  /** Sends one event and returns its step. */
  step(event: EssInputEvent): Step {
    return this.send(event)[0]!;
  }

  /** The persisted snapshot after a JSON round trip, as stored in Redis. */
  persisted(): Snapshot<unknown> {
    return JSON.parse(JSON.stringify(this.actor.getPersistedSnapshot())) as Snapshot<unknown>;
  }
}

/** The data of the published events of some entries, of one type. */
export function published<T extends EssPublication['type']>(
  entries: readonly EssOutboxEntry[],
  type: T,
): EventData<T>[] {
  const out: EventData<T>[] = [];
  for (const e of entries) {
    if (e.kind === 'publish' && e.type === type) out.push(e.data as EventData<T>);
  }
  return out;
}

/** State changes along a path of microstep states: consecutive distinct pairs. */
export function changes(path: readonly EssState[]): [EssState, EssState][] {
  const out: [EssState, EssState][] = [];
  for (let i = 1; i < path.length; i++) {
    const from = path[i - 1]!;
    const to = path[i]!;
    if (from !== to) out.push([from, to]);
  }
  return out;
}

export const tick = (at: number, price: number, symbol = 'BTCUSDT'): EssInputEvent => ({
  type: 'market.tick',
  at,
  symbol,
  price,
});

export const portfolio = (at: number, equity: number, dailyRealizedPnl = 0, peakEquity = 100_000): EssInputEvent => ({
  type: 'portfolio.updated',
  at,
  equity,
  peakEquity,
  dailyRealizedPnl,
});

export const health = (at: number, status: 'OK' | 'DEGRADED' | 'CRITICAL'): EssInputEvent => ({
  type: 'health.snapshot_updated',
  at,
  status,
});

export const clock = (at: number): EssInputEvent => ({ type: 'CLOCK', at });

export const trip = (at: number, operator = 'alice', reason = 'manual stop'): EssInputEvent => ({
  type: 'TRIP',
  at,
  operator,
  reason,
});

export const reset = (
  at: number,
  operator = 'alice',
  reason = 'checked, resuming',
  requestId?: string,
): EssInputEvent => ({
  type: 'RESET',
  at,
  operator,
  reason,
  ...(requestId === undefined ? {} : { requestId }),
});
