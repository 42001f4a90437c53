import { assign, setup } from 'xstate';
import type { EssState, EventData } from '../../events/catalog.js';
import type { ActorOutput } from '../host.js';
import { DEFAULT_SIZING_MODEL, type SizingModel } from '../rl-training/sizing.js';
import type { RiskPolicy } from './policy.js';
import { evaluateSignal, RATE_WINDOW_MS } from './pre-trade.js';

/** What the pre-trade actor remembers between signals. */
export interface PretradeContext {
  readonly positions: Record<string, { quantity: number }>;
  readonly openOrders: number;
  readonly recentOrderTimes: number[];
  readonly outbox: ActorOutput[];
  /**
   * The live sizing policy, from the last `model.promoted`. Absent in a
   * snapshot taken before sizing existed, which means the default `fixed-1`.
   */
  readonly sizingModel?: SizingModel;
}

/**
 * The pre-trade actor's inputs. A SIGNAL carries everything its decision
 * depends on, ESS state, policy and the time of the decision included, so
 * the machine stays pure and a decision can be explained from the event.
 */
export type PretradeEvent =
  | {
      type: 'SIGNAL';
      signal: EventData<'signal.generated'>;
      signalTime: number;
      now: number;
      essState: EssState;
      policy: RiskPolicy;
    }
  | { type: 'POSITIONS'; positions: Record<string, { quantity: number }> }
  | { type: 'ORDER_CLOSED' }
  | { type: 'MODEL_PROMOTED'; model: SizingModel }
  | { type: 'OUTBOX_TAKEN' };

/** The client order id of the order a signal leads to: stable, so a retry finds the same order. */
export function orderIdFor(signalId: string): string {
  return `ord-${signalId}`.slice(0, 64);
}

/**
 * Risk-safety's pre-trade step as a pure machine: a signal becomes
 * `order.approved` or `order.rejected` (reason code), decided by
 * `evaluateSignal` against the positions and open orders it tracks, sized
 * by the live sizing model (rl-training's last `model.promoted`).
 */
export const pretradeMachine = setup({
  types: { context: {} as PretradeContext, events: {} as PretradeEvent },
}).createMachine({
  id: 'pretrade',
  context: { positions: {}, openOrders: 0, recentOrderTimes: [], outbox: [], sizingModel: DEFAULT_SIZING_MODEL },
  on: {
    SIGNAL: {
      actions: assign(({ context, event }) => {
        const verdict = evaluateSignal({
          signal: event.signal,
          signalTime: event.signalTime,
          now: event.now,
          policy: event.policy,
          essState: event.essState,
          book: context,
          orderId: orderIdFor(event.signal.signalId),
          sizing: context.sizingModel ?? DEFAULT_SIZING_MODEL,
        });
        const recent = context.recentOrderTimes.filter((t) => t > event.now - RATE_WINDOW_MS);
        if ('approved' in verdict) {
          return {
            openOrders: context.openOrders + 1,
            recentOrderTimes: [...recent, event.now],
            outbox: [...context.outbox, { type: 'order.approved' as const, data: verdict.approved }],
          };
        }
        return {
          recentOrderTimes: recent,
          outbox: [...context.outbox, { type: 'order.rejected' as const, data: verdict.rejected }],
        };
      }),
    },
    POSITIONS: { actions: assign({ positions: ({ event }) => event.positions }) },
    MODEL_PROMOTED: { actions: assign({ sizingModel: ({ event }) => event.model }) },
    ORDER_CLOSED: { actions: assign({ openOrders: ({ context }) => Math.max(0, context.openOrders - 1) }) },
    OUTBOX_TAKEN: { actions: assign({ outbox: () => [] }) },
  },
});

/** The machine's type, for hosts and tests. */
export type PretradeMachine = typeof pretradeMachine;
