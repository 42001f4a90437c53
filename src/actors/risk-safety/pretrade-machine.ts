import { assign, setup } from 'xstate';
import type { EssState, EventData } from '../../events/catalog.js';
import type { Envelope } from '../../events/envelope.js';
import type { ActorOutput, Delivery } from '../host.js';
import { DEFAULT_SIZING_MODEL, type SizingModel, sizingModelOf } from '../rl-training/sizing.js';
import { DEFAULT_RISK_POLICY, type RiskPolicy } from './policy.js';
import { evaluateSignal, RATE_WINDOW_MS } from './pre-trade.js';

/**
 * The topics whose events set what a decision depends on, besides the
 * signal itself: the actor consumes these and `signal` (`ACTOR_TOPICS.pretrade`).
 */
export const PRETRADE_INPUT_TOPICS = ['portfolio', 'order', 'model', 'ess', 'risk'] as const;
/** One of {@link PRETRADE_INPUT_TOPICS}. */
export type PretradeInputTopic = (typeof PRETRADE_INPUT_TOPICS)[number];

/** Per input topic, the envelope id of the last event of it the actor applied. */
export type PretradeAsOf = Partial<Record<PretradeInputTopic, string>>;

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
  /**
   * The ESS state as of the last `ess` event applied. Absent in a snapshot
   * from before pre-trade consumed `ess`: `armed` (its new consumer group
   * reads the `ess` stream from the start, so the state catches up).
   */
  readonly essState?: EssState;
  /** The policy of the last `risk.policy_updated` applied; absent means {@link DEFAULT_RISK_POLICY}. */
  readonly policy?: RiskPolicy;
  /** What the next decision is decided on, recorded with it; absent means nothing applied yet. */
  readonly asOf?: PretradeAsOf;
}

/**
 * The pre-trade actor's inputs. Every one comes from a consumed event, and
 * each but SIGNAL names it (`eventId`), so a decision can record what it was
 * decided on. SIGNAL carries the decision time.
 */
export type PretradeEvent =
  | {
      type: 'SIGNAL';
      signal: EventData<'signal.generated'>;
      /** Epoch ms at which the signal was generated (its envelope time). */
      signalTime: number;
      /** Epoch ms (whole) of the decision: the host clock when the signal was applied. */
      decidedAt: number;
    }
  | { type: 'POSITIONS'; positions: Record<string, { quantity: number }>; eventId: string }
  | { type: 'ORDER_CLOSED'; eventId: string }
  | { type: 'MODEL_PROMOTED'; model: SizingModel; eventId: string }
  | { type: 'ESS'; state: EssState; eventId: string }
  | { type: 'POLICY'; policy: RiskPolicy; eventId: string }
  | { type: 'OUTBOX_TAKEN' };

/** The client order id of the order a signal leads to: stable, so a retry finds the same order. */
export function orderIdFor(signalId: string): string {
  return `ord-${signalId}`.slice(0, 64);
}

/**
 * The machine events of one consumed envelope (the actor's `toEvents`).
 * Pure: the decision time is the host's `delivery.receivedAt`, recorded with
 * the decision as `decidedAt` (whole ms, since it is recorded as an ISO time
 * and a replay must read back the same instant).
 */
export function toPretradeEvents(event: Envelope, delivery: Delivery): PretradeEvent[] {
  const eventId = event.id;
  switch (event.type) {
    case 'signal.generated':
      return [
        {
          type: 'SIGNAL',
          signal: event.data,
          signalTime: Date.parse(event.time),
          decidedAt: Math.floor(delivery.receivedAt),
        },
      ];
    case 'portfolio.updated':
      return [
        {
          type: 'POSITIONS',
          positions: Object.fromEntries(event.data.positions.map((p) => [p.symbol, { quantity: p.quantity }])),
          eventId,
        },
      ];
    case 'model.promoted':
      return [{ type: 'MODEL_PROMOTED', model: sizingModelOf(event.data), eventId }];
    case 'order.filled':
    case 'order.cancelled':
    case 'order.failed':
      return [{ type: 'ORDER_CLOSED', eventId }];
    // Each of the three says the state the ESS is in now: a trip always ends in
    // `tripped`, an accepted reset in `armed`, and every transition is a state_changed.
    case 'ess.tripped':
      return [{ type: 'ESS', state: 'tripped', eventId }];
    case 'ess.reset':
      return [{ type: 'ESS', state: 'armed', eventId }];
    case 'ess.state_changed':
      return [{ type: 'ESS', state: event.data.to, eventId }];
    case 'risk.policy_updated':
      return [{ type: 'POLICY', policy: event.data.policy, eventId }];
    default:
      return [];
  }
}

const asOf = (context: PretradeContext, topic: PretradeInputTopic, eventId: string): PretradeAsOf => ({
  ...context.asOf,
  [topic]: eventId,
});

/**
 * Risk-safety's pre-trade step as a pure machine: a signal becomes
 * `order.approved` or `order.rejected` (reason code), decided by
 * `evaluateSignal` against what the actor has consumed: positions, open
 * orders, the sizing model (rl-training's last `model.promoted`), the ESS
 * state and the risk policy. Each decision records its time (`decidedAt`) and
 * the last event of each input topic it was decided on (`asOf`), so a replay
 * of the streams reproduces it (docs/actors.md, pre-trade).
 */
export const pretradeMachine = setup({
  types: { context: {} as PretradeContext, events: {} as PretradeEvent },
}).createMachine({
  id: 'pretrade',
  context: {
    positions: {},
    openOrders: 0,
    recentOrderTimes: [],
    outbox: [],
    sizingModel: DEFAULT_SIZING_MODEL,
    essState: 'armed',
    policy: DEFAULT_RISK_POLICY,
    asOf: {},
  },
  on: {
    SIGNAL: {
      actions: assign(({ context, event }) => {
        const now = event.decidedAt;
        const verdict = evaluateSignal({
          signal: event.signal,
          signalTime: event.signalTime,
          now,
          policy: context.policy ?? DEFAULT_RISK_POLICY,
          essState: context.essState ?? 'armed',
          book: context,
          orderId: orderIdFor(event.signal.signalId),
          sizing: context.sizingModel ?? DEFAULT_SIZING_MODEL,
        });
        const decidedOn = { decidedAt: new Date(now).toISOString(), asOf: { ...context.asOf } };
        const recent = context.recentOrderTimes.filter((t) => t > now - RATE_WINDOW_MS);
        if ('approved' in verdict) {
          return {
            openOrders: context.openOrders + 1,
            recentOrderTimes: [...recent, now],
            outbox: [
              ...context.outbox,
              { type: 'order.approved' as const, data: { ...verdict.approved, ...decidedOn } },
            ],
          };
        }
        return {
          recentOrderTimes: recent,
          outbox: [...context.outbox, { type: 'order.rejected' as const, data: { ...verdict.rejected, ...decidedOn } }],
        };
      }),
    },
    POSITIONS: {
      actions: assign(({ context, event }) => ({
        positions: event.positions,
        asOf: asOf(context, 'portfolio', event.eventId),
      })),
    },
    MODEL_PROMOTED: {
      actions: assign(({ context, event }) => ({
        sizingModel: event.model,
        asOf: asOf(context, 'model', event.eventId),
      })),
    },
    ORDER_CLOSED: {
      actions: assign(({ context, event }) => ({
        openOrders: Math.max(0, context.openOrders - 1),
        asOf: asOf(context, 'order', event.eventId),
      })),
    },
    ESS: {
      actions: assign(({ context, event }) => ({ essState: event.state, asOf: asOf(context, 'ess', event.eventId) })),
    },
    POLICY: {
      actions: assign(({ context, event }) => ({ policy: event.policy, asOf: asOf(context, 'risk', event.eventId) })),
    },
    OUTBOX_TAKEN: { actions: assign({ outbox: () => [] }) },
  },
});

/** The machine's type, for hosts and tests. */
export type PretradeMachine = typeof pretradeMachine;
