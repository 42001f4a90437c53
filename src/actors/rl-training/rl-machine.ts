/**
 * The rl-training actor (docs/architecture.md §11.5): evaluates a candidate sizing policy in
 * shadow against the live one on the same signals and outcomes, publishes
 * `model.evaluated` every `evaluateEvery` outcomes, and `model.promoted`
 * when the candidate beats live over a full window. Pure: time is the
 * events' envelope time, the policy search is seeded, the context is plain
 * JSON (the host persists it as the snapshot). The rules live in
 * `rl-state.ts`; docs/rl-training.md explains them.
 */
import { type Actor, assign, setup } from 'xstate';
import type { Envelope } from '../../events/envelope.js';
import type { ActorSpec } from '../host.js';
import { takeOutbox } from '../outbox.js';
import { ACTOR_TOPICS } from '../services.js';
import { type RlConfig, resolveRlConfig } from './rl-config.js';
import {
  addSignal,
  applyTick,
  initialRlContext,
  type PendingSignal,
  type RlContext,
  type RlOutput,
} from './rl-state.js';

export type { RlConfig } from './rl-config.js';
export type { RlOutput } from './rl-state.js';

/** Machine events; `at` is event time in epoch ms. */
export type RlEvent =
  | ({ type: 'SIGNAL' } & PendingSignal)
  | { type: 'TICK'; symbol: string; price: number; at: number }
  | { type: 'OUTBOX_TAKEN' };

/** The actor name: its consumer group, snapshot key and producer suffix. */
export const RL_ACTOR_NAME = 'rl-training';

/** The rl-training machine for a config (defaults in `rl-config.ts`); throws QT_CONFIG_INVALID on a bad config. */
export function createRlMachine(config: Partial<RlConfig> = {}) {
  const cfg = resolveRlConfig(config);
  return setup({
    types: { context: {} as RlContext, events: {} as RlEvent },
  }).createMachine({
    id: RL_ACTOR_NAME,
    context: () => initialRlContext(cfg),
    on: {
      SIGNAL: {
        actions: assign(({ context, event }) => {
          const { type: _type, ...signal } = event;
          return addSignal(context, signal, cfg);
        }),
      },
      TICK: { actions: assign(({ context, event }) => applyTick(context, event, cfg)) },
      OUTBOX_TAKEN: { actions: assign({ outbox: () => [] }) },
    },
  });
}

export type RlMachine = ReturnType<typeof createRlMachine>;

/** Machine events for an envelope: `signal.generated` → SIGNAL, `market.tick` → TICK, both at envelope time. */
export function rlToEvents(envelope: Envelope): RlEvent[] {
  const at = Date.parse(envelope.time);
  if (!Number.isFinite(at)) return [];
  switch (envelope.type) {
    case 'signal.generated': {
      const { signalId, symbol, side, confidence, price } = envelope.data;
      return [{ type: 'SIGNAL', signalId, symbol, side, confidence, price, at }];
    }
    case 'market.tick':
      return [{ type: 'TICK', symbol: envelope.data.symbol, price: envelope.data.price, at }];
    default:
      return [];
  }
}

/** What the actor asked to publish since the last call, emptying its outbox. */
export function takeRlOutbox(actor: Actor<RlMachine>): readonly RlOutput[] {
  return takeOutbox(actor);
}

/** The host spec of rl-training: consumes `signal` and `market`, publishes on `model`. */
export function createRlSpec(config: Partial<RlConfig> = {}): ActorSpec<RlMachine> {
  return {
    name: RL_ACTOR_NAME,
    machine: createRlMachine(config),
    topics: ACTOR_TOPICS[RL_ACTOR_NAME],
    toEvents: rlToEvents,
    takeOutputs: takeRlOutbox,
  };
}

/** The host spec with the default settings (`DEFAULT_RL_CONFIG`). */
export const rlTrainingSpec: ActorSpec<RlMachine> = createRlSpec();
