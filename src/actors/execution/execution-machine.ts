/**
 * The execution actor (docs/architecture.md §11.3) as a pure XState v5 machine over the book
 * in `execution-book.ts`. It consumes `order.approved` (APPROVED),
 * `market.tick` (TICK: last prices, TP/SL triggers) and the ESS's own events
 * (ESS). The venue's answers come back from the order runner as events too,
 * so the machine never does I/O and replaying its inputs rebuilds it exactly.
 */
import { assign, setup } from 'xstate';
import { QtError } from '../../errors.js';
import type { Envelope } from '../../events/envelope.js';
import type { ActorSpec } from '../host.js';
import { takeOutbox } from '../outbox.js';
import { ACTOR_TOPICS } from '../services.js';
import {
  type BracketConfig,
  type ExecutionContext,
  type ExecutionEvent,
  initialExecution,
  reduceExecution,
} from './execution-book.js';

/** Default take-profit distance from the entry price (3 %). */
export const DEFAULT_TAKE_PROFIT = 0.03;
/** Default stop-loss distance from the entry price (2 %). */
export const DEFAULT_STOP_LOSS = 0.02;

/** The execution machine for a TP/SL configuration; throws QT_CONFIG_INVALID on a bracket outside [0, 1). */
export function createExecutionMachine(brackets: Partial<BracketConfig> = {}) {
  const config: BracketConfig = {
    takeProfit: brackets.takeProfit ?? DEFAULT_TAKE_PROFIT,
    stopLoss: brackets.stopLoss ?? DEFAULT_STOP_LOSS,
  };
  for (const [name, v] of Object.entries(config)) {
    if (!(v >= 0 && v < 1)) throw new QtError('QT_CONFIG_INVALID', `execution: ${name} must be in [0, 1), got ${v}`);
  }
  return setup({ types: { context: {} as ExecutionContext, events: {} as ExecutionEvent } }).createMachine({
    id: 'execution',
    context: initialExecution(config),
    on: { '*': { actions: assign(({ context, event }) => reduceExecution(context, event)) } },
  });
}

export type ExecutionMachine = ReturnType<typeof createExecutionMachine>;

/** Machine events for a consumed envelope, at its envelope time. */
export function executionToEvents(envelope: Envelope): ExecutionEvent[] {
  const at = Date.parse(envelope.time);
  const trace = { correlationId: envelope.correlationId, causationId: envelope.id };
  switch (envelope.type) {
    case 'order.approved':
      return [{ type: 'APPROVED', order: envelope.data, at, ...trace }];
    case 'market.tick':
      return [{ type: 'TICK', symbol: envelope.data.symbol, price: envelope.data.price, at, ...trace }];
    // The cause comes with ess.tripped (which precedes its state change); re-armed or reducing clears it.
    case 'ess.state_changed': {
      const { to } = envelope.data;
      return [{ type: 'ESS', state: to, at, ...(to === 'armed' || to === 'reducing' ? { trip: null } : {}) }];
    }
    case 'ess.tripped': {
      const { trigger, reason, operator } = envelope.data;
      return [{ type: 'ESS', state: 'tripped', at, trip: { trigger, reason, ...(operator ? { operator } : {}) } }];
    }
    default:
      return [];
  }
}

/** The host spec of execution: consumes `order`, `ess` and `market`, publishes order outcomes. */
export function createExecutionSpec(brackets: Partial<BracketConfig> = {}): ActorSpec<ExecutionMachine> {
  return {
    name: 'execution',
    machine: createExecutionMachine(brackets),
    topics: ACTOR_TOPICS.execution,
    toEvents: executionToEvents,
    takeOutputs: takeOutbox,
  };
}
