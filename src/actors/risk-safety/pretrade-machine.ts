import { assign, setup } from 'xstate';
import type { EssState, EventData } from '../../events/catalog.js';
import type { Envelope } from '../../events/envelope.js';
import type { ActorOutput, Delivery } from '../host.js';
import { DEFAULT_SIZING_MODEL, type SizingModel, sizingModelOf } from '../rl-training/sizing.js';
import { DEFAULT_RISK_POLICY, type RiskPolicy } from './policy.js';
import { evaluateSignal, RATE_WINDOW_MS } from './pre-trade.js';
import { decideFlatten, FLATTENS_KEPT, type FlattenDecision } from './pretrade-flatten.js';

/**
 * The topics whose events set what a decision depends on, besides the
 * signal itself: the actor consumes these and `signal` (`ACTOR_TOPICS.pretrade`).
 */
export const PRETRADE_INPUT_TOPICS = ['portfolio', 'order', 'model', 'ess', 'risk'] as const;
/** One of {@link PRETRADE_INPUT_TOPICS}. */
export type PretradeInputTopic = (typeof PRETRADE_INPUT_TOPICS)[number];

/** Per input topic, the envelope id of the last event of it the actor applied. */
export type PretradeAsOf = Partial<Record<PretradeInputTopic, string>>;

/** A position as pre-trade knows it from `portfolio.updated`. */
export interface PretradePosition {
  quantity: number;
  /** The portfolio's mark price (a flatten's exit notional); absent in a snapshot from before it was kept. */
  markPrice?: number;
}

/** What the pre-trade actor remembers between signals. */
export interface PretradeContext {
  readonly positions: Record<string, PretradePosition>;
  /**
   * Orders open at the venue as pre-trade counts them for `maxOpenOrders`:
   * the ones it approved that have not closed. Equal to `openOrderIds.length`
   * except after a snapshot from before the ids were kept, whose untracked
   * approvals count until an `ord-` order it does not know closes.
   */
  readonly openOrders: number;
  /**
   * The ids of the orders pre-trade approved (signals' and flattens') that
   * have not closed. Only their outcomes lower the count, so execution's own
   * take-profit / stop-loss exits cannot make it drift. Absent in an older snapshot.
   */
  readonly openOrderIds?: readonly string[];
  /** The last {@link FLATTENS_KEPT} flatten decisions, oldest first (the flatten route reads its answer here). */
  readonly flattens?: readonly FlattenDecision[];
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
  /** New entries paused (`risk.entries_paused`, until `risk.entries_resumed`); absent means not paused. */
  readonly entriesPaused?: boolean;
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
  | {
      type: 'FLATTEN';
      requestId: string;
      /** Epoch ms (whole) of the decision: the host clock when the request was applied. */
      decidedAt: number;
    }
  | { type: 'POSITIONS'; positions: Record<string, PretradePosition>; eventId: string }
  | { type: 'ORDER_CLOSED'; orderId: string; eventId: string }
  | { type: 'MODEL_PROMOTED'; model: SizingModel; eventId: string }
  | { type: 'ESS'; state: EssState; eventId: string }
  | { type: 'POLICY'; policy: RiskPolicy; eventId: string }
  | { type: 'ENTRIES'; paused: boolean; eventId: string }
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
          positions: Object.fromEntries(
            event.data.positions.map((p) => [p.symbol, { quantity: p.quantity, markPrice: p.markPrice }]),
          ),
          eventId,
        },
      ];
    // A decision like a signal's (it does not move `asOf`): its orders record what they were decided on.
    case 'ess.flatten_requested':
      return [{ type: 'FLATTEN', requestId: event.data.requestId, decidedAt: Math.floor(delivery.receivedAt) }];
    case 'model.promoted':
      return [{ type: 'MODEL_PROMOTED', model: sizingModelOf(event.data), eventId }];
    case 'order.filled':
    case 'order.cancelled':
    case 'order.failed':
      return [{ type: 'ORDER_CLOSED', orderId: event.data.orderId, eventId }];
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
    case 'risk.entries_paused':
      return [{ type: 'ENTRIES', paused: true, eventId }];
    case 'risk.entries_resumed':
      return [{ type: 'ENTRIES', paused: false, eventId }];
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
 * of the streams reproduces it (docs/actors.md, pre-trade). An operator's
 * `ess.flatten_requested` is decided the same way, into one emergency exit
 * per open position (`pretrade-flatten.ts`).
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
    openOrderIds: [],
    flattens: [],
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
          entriesPaused: context.entriesPaused ?? false,
          book: context,
          orderId: orderIdFor(event.signal.signalId),
          sizing: context.sizingModel ?? DEFAULT_SIZING_MODEL,
        });
        const decidedOn = { decidedAt: new Date(now).toISOString(), asOf: { ...context.asOf } };
        const recent = context.recentOrderTimes.filter((t) => t > now - RATE_WINDOW_MS);
        if ('approved' in verdict) {
          return {
            openOrders: context.openOrders + 1,
            openOrderIds: [...(context.openOrderIds ?? []), verdict.approved.orderId],
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
        ...closeOrder(context, event.orderId),
        asOf: asOf(context, 'order', event.eventId),
      })),
    },
    FLATTEN: {
      actions: assign(({ context, event }) => {
        const flattens = context.flattens ?? [];
        // A request decided before (redelivered after a failed commit): decided once.
        if (flattens.some((f) => f.requestId === event.requestId)) return {};
        const { decision, approvals } = decideFlatten({
          requestId: event.requestId,
          decidedAt: event.decidedAt,
          essState: context.essState ?? 'armed',
          positions: context.positions,
          openOrderIds: context.openOrderIds ?? [],
          flattens,
        });
        const decidedOn = { decidedAt: new Date(event.decidedAt).toISOString(), asOf: { ...context.asOf } };
        // Exits count as open orders (they are at the venue) but not in the rate window: they are not new risk.
        return {
          openOrders: context.openOrders + approvals.length,
          openOrderIds: [...(context.openOrderIds ?? []), ...approvals.map((a) => a.orderId)],
          flattens: [...flattens, decision].slice(-FLATTENS_KEPT),
          outbox: [
            ...context.outbox,
            ...approvals.map((a) => ({ type: 'order.approved' as const, data: { ...a, ...decidedOn } })),
          ],
        };
      }),
    },
    ESS: {
      actions: assign(({ context, event }) => ({ essState: event.state, asOf: asOf(context, 'ess', event.eventId) })),
    },
    POLICY: {
      actions: assign(({ context, event }) => ({ policy: event.policy, asOf: asOf(context, 'risk', event.eventId) })),
    },
    ENTRIES: {
      actions: assign(({ context, event }) => ({
        entriesPaused: event.paused,
        asOf: asOf(context, 'risk', event.eventId),
      })),
    },
    OUTBOX_TAKEN: { actions: assign({ outbox: () => [] }) },
  },
});

/** The machine's type, for hosts and tests. */
export type PretradeMachine = typeof pretradeMachine;

/**
 * An order closed (filled, cancelled, failed): it stops counting if pre-trade
 * approved it. An `ord-` order it has no id of was approved before the ids
 * were kept (an older snapshot) and still counts once; anything else (an
 * execution TP/SL exit, a repeat) changes nothing.
 */
function closeOrder(context: PretradeContext, orderId: string): Pick<PretradeContext, 'openOrders' | 'openOrderIds'> {
  const ids = context.openOrderIds ?? [];
  if (ids.includes(orderId)) {
    return { openOrders: Math.max(0, context.openOrders - 1), openOrderIds: ids.filter((id) => id !== orderId) };
  }
  const untracked = context.openOrders - ids.length;
  if (orderId.startsWith('ord-') && untracked > 0) return { openOrders: context.openOrders - 1, openOrderIds: ids };
  return { openOrders: context.openOrders, openOrderIds: ids };
}
