import { assign, setup } from 'xstate';
import type { EssState } from '../../events/catalog.js';
import { type EssConfig, type EssConfigInput, EssConfigSchema, type EssEvent } from './ess-events.js';
import {
  blockingConditions,
  type EssMonitor,
  initialMonitor,
  observe,
  rebaseDrawdown,
  type TripCause,
} from './ess-monitor.js';
import {
  cancelOpenOrders,
  type EssOutboxDraft,
  type EssOutboxEntry,
  type EssResetResult,
  isoTime,
  type ResetRefusalCode,
  stateChanged,
  tripDrafts,
} from './ess-outbox.js';

/**
 * The Emergency Stop System as a pure XState machine (docs/architecture.md §9):
 *
 *   armed ──soft drawdown──▶ reducing ──RESET──▶ armed
 *   armed | reducing | awaitingReset ──trip──▶ tripped ──cooldown over──▶ awaitingReset ──RESET──▶ armed
 *
 * Time is data. Every input event carries `at` (epoch ms) and the host sends
 * `CLOCK { at }` now and then; the cooldown is `cooldownUntil` in context and
 * ends when an event with `at >= cooldownUntil` arrives. There are no XState
 * delayed transitions (`after`): XState keeps those in the system scheduler,
 * outside the machine's persisted snapshot, and re-schedules any it is handed
 * back with their full delay from the restart (xstate 5.33 also stamps them
 * with `Date.now()`), so a cooldown would be lost or start over. Here the
 * persisted snapshot alone says where the ESS is and when its cooldown ends:
 * restored after a restart it is in the same state with the same remaining
 * cooldown, and a test drives time just by the `at` it sends. The cost is that
 * the cooldown ends at the first event at or after `cooldownUntil`, hence the
 * host's periodic CLOCK.
 *
 * How an event is processed: a root handler feeds it to the pure trigger
 * monitor, which leaves what it found in `pending`; the current state's
 * eventless (`always`) transitions then act on `pending`, in priority order
 * (trip, cooldown expiry, RESET, soft limit), and end with it empty. Because
 * the cooldown expiry is one of them, a RESET that arrives after
 * `cooldownUntil` without a CLOCK in between first moves the ESS to
 * `awaitingReset`, then is accepted there.
 */

/** What the current event found, consumed by the state's eventless transitions. */
export interface EssPending {
  readonly trips: readonly TripCause[];
  readonly soft: string | null;
  readonly reset: {
    readonly at: number;
    readonly operator: string;
    readonly reason: string;
    readonly requestId?: string;
  } | null;
}

/** The ESS context; plain JSON, so `getPersistedSnapshot()` survives a JSON round trip. */
export interface EssContext {
  readonly monitor: EssMonitor;
  /** End of the cooldown of the last trip (epoch ms); null when not tripped since the last RESET. */
  readonly cooldownUntil: number | null;
  /** The cause of the last trip; null when not tripped since the last RESET. */
  readonly trip: (TripCause & { readonly at: number }) | null;
  readonly pending: EssPending;
  /** The answer to the last RESET. */
  readonly lastReset: EssResetResult | null;
  /** Entries not yet flushed by the host, oldest first. */
  readonly outbox: readonly EssOutboxEntry[];
  /** Seq of the last outbox entry ever written. */
  readonly outboxSeq: number;
  /**
   * The `requestId`s of the last {@link TRIP_REQUESTS_KEPT} operator trips
   * applied, oldest first: a request that arrives again (sent directly and
   * consumed from `ess.trip_requested`) is ignored. Absent in a snapshot from
   * before requests had ids.
   */
  readonly tripRequests?: readonly string[];
}

/** How many applied trip request ids the ESS remembers; a repeat arrives within seconds, so a few suffice. */
export const TRIP_REQUESTS_KEPT = 64;

const NOTHING_PENDING: EssPending = { trips: [], soft: null, reset: null };

/** The context of a fresh ESS: armed, nothing seen. */
export function initialEssContext(): EssContext {
  return {
    monitor: initialMonitor(),
    cooldownUntil: null,
    trip: null,
    pending: NOTHING_PENDING,
    lastReset: null,
    outbox: [],
    outboxSeq: 0,
    tripRequests: [],
  };
}

function append(context: EssContext, drafts: readonly EssOutboxDraft[]): Pick<EssContext, 'outbox' | 'outboxSeq'> {
  const at = context.monitor.now;
  const entries = drafts.map((d, i) => ({ ...d, seq: context.outboxSeq + i + 1, at }) as EssOutboxEntry);
  return { outbox: [...context.outbox, ...entries], outboxSeq: context.outboxSeq + drafts.length };
}

/**
 * Builds the ESS machine for a configuration (validated once here). The
 * configuration is closed over, not kept in context: a restored snapshot then
 * runs under the configuration of the process that restores it.
 */
export function createEssMachine(overrides: EssConfigInput = {}) {
  const config: EssConfig = Object.freeze(EssConfigSchema.parse(overrides));
  const { cooldownMs } = config;

  return setup({
    types: { context: {} as EssContext, events: {} as EssEvent },
    guards: {
      tripPending: ({ context }) => context.pending.trips.length > 0,
      softPending: ({ context }) => context.pending.soft !== null,
      resetPending: ({ context }) => context.pending.reset !== null,
      anythingPending: ({ context }) =>
        context.pending.trips.length > 0 || context.pending.soft !== null || context.pending.reset !== null,
      cooldownOver: ({ context }) => context.cooldownUntil !== null && context.monitor.now >= context.cooldownUntil,
      resetAllowed: ({ context }) =>
        context.pending.reset !== null && blockingConditions(context.monitor, config).length === 0,
    },
    actions: {
      observe: assign(({ context, event }) => {
        if (event.type === 'OUTBOX_FLUSHED') return {};
        const applied = context.tripRequests ?? [];
        const requestId = event.type === 'TRIP' ? event.requestId : undefined;
        // A trip request seen before (its direct send and its recorded copy): nothing happens, not even the clock.
        if (requestId !== undefined && applied.includes(requestId)) return {};
        const tripRequests =
          requestId === undefined ? {} : { tripRequests: [...applied, requestId].slice(-TRIP_REQUESTS_KEPT) };
        const seen = observe(context.monitor, event, config);
        const reset =
          event.type === 'RESET'
            ? {
                at: event.at,
                operator: event.operator,
                reason: event.reason,
                ...(event.requestId === undefined ? {} : { requestId: event.requestId }),
              }
            : null;
        const quiet = seen.trips.length === 0 && seen.soft === null && reset === null;
        return {
          monitor: seen.monitor,
          pending: quiet ? NOTHING_PENDING : { trips: seen.trips, soft: seen.soft, reset },
          ...tripRequests,
        };
      }),
      flush: assign(({ context, event }) =>
        event.type === 'OUTBOX_FLUSHED' ? { outbox: context.outbox.filter((e) => e.seq > event.throughSeq) } : {},
      ),
      enterTripped: assign(({ context }, params: { from: EssState }) => {
        const [first] = context.pending.trips;
        if (!first) return {};
        const cooldownUntil = context.monitor.now + cooldownMs;
        return {
          cooldownUntil,
          trip: { ...first, at: context.monitor.now },
          pending: { ...context.pending, trips: [], soft: null },
          ...append(context, [
            ...tripDrafts(context.pending.trips, cooldownUntil),
            stateChanged(params.from, 'tripped', first.reason, { trigger: first.trigger, cooldownUntil }),
            cancelOpenOrders(first),
          ]),
        };
      }),
      // Re-trip while tripped. An automatic trigger is new information: the
      // cooldown restarts from now (never shortened). An operator's trip only
      // asks for what is already the case, so it is recorded (ess.tripped with
      // the unchanged cooldown end) and moves nothing: the operator who tripped
      // still resets when the cooldown they were told ends.
      retrip: assign(({ context }) => {
        const trips = context.pending.trips;
        if (trips.length === 0) return {};
        const pending = { ...context.pending, trips: [], soft: null };
        const automatic = trips.find((t) => t.trigger !== 'manual');
        if (!automatic) {
          return { pending, ...append(context, tripDrafts(trips, context.cooldownUntil ?? context.monitor.now)) };
        }
        const cooldownUntil = Math.max(context.cooldownUntil ?? 0, context.monitor.now + cooldownMs);
        return {
          cooldownUntil,
          trip: { ...automatic, at: context.monitor.now },
          pending,
          ...append(context, tripDrafts(trips, cooldownUntil)),
        };
      }),
      enterReducing: assign(({ context }) => ({
        pending: { ...context.pending, soft: null },
        ...append(context, [
          stateChanged('armed', 'reducing', context.pending.soft ?? '', { trigger: 'drawdown_soft' }),
        ]),
      })),
      expireCooldown: assign(({ context }) => ({
        ...append(context, [stateChanged('tripped', 'awaitingReset', 'cooldown elapsed')]),
      })),
      acceptReset: assign(({ context }, params: { from: EssState }) => {
        const reset = context.pending.reset;
        if (!reset) return {};
        const { reason: _reason, ...who } = reset;
        return {
          monitor: rebaseDrawdown(context.monitor),
          cooldownUntil: null,
          trip: null,
          pending: NOTHING_PENDING,
          lastReset: { ...who, accepted: true, from: params.from },
          ...append(context, [
            { kind: 'publish', type: 'ess.reset', data: { operator: reset.operator, reason: reset.reason } },
            stateChanged(params.from, 'armed', `reset by ${reset.operator}: ${reset.reason}`),
          ]),
        };
      }),
      refuseReset: assign(({ context }, params: { state: EssState; code: ResetRefusalCode }) => {
        const reset = context.pending.reset;
        if (!reset) return {};
        const { reason: _reason, ...who } = reset;
        const until = context.cooldownUntil;
        const message =
          params.code === 'NOT_TRIPPED'
            ? 'the ESS is armed; there is nothing to reset'
            : params.code === 'COOLDOWN_ACTIVE'
              ? `cooldown runs until ${until === null ? '?' : isoTime(until)}`
              : `still active: ${blockingConditions(context.monitor, config).join('; ')}`;
        const cooldown =
          params.code === 'COOLDOWN_ACTIVE' && until !== null
            ? { cooldownUntil: isoTime(until), remainingMs: Math.max(0, until - context.monitor.now) }
            : {};
        return {
          pending: { ...context.pending, reset: null },
          lastReset: { ...who, accepted: false, state: params.state, code: params.code, message, ...cooldown },
        };
      }),
      clearPending: assign({ pending: NOTHING_PENDING }),
    },
  }).createMachine({
    id: 'ess',
    initial: 'armed',
    context: initialEssContext,
    on: {
      'market.tick': { actions: 'observe' },
      'portfolio.updated': { actions: 'observe' },
      'health.snapshot_updated': { actions: 'observe' },
      CLOCK: { actions: 'observe' },
      TRIP: { actions: 'observe' },
      RESET: { actions: 'observe' },
      OUTBOX_FLUSHED: { actions: 'flush' },
    },
    states: {
      armed: {
        always: [
          { guard: 'tripPending', target: 'tripped', actions: { type: 'enterTripped', params: { from: 'armed' } } },
          { guard: 'softPending', target: 'reducing', actions: 'enterReducing' },
          {
            guard: 'resetPending',
            actions: { type: 'refuseReset', params: { state: 'armed', code: 'NOT_TRIPPED' } },
          },
          { guard: 'anythingPending', actions: 'clearPending' },
        ],
      },
      reducing: {
        always: [
          { guard: 'tripPending', target: 'tripped', actions: { type: 'enterTripped', params: { from: 'reducing' } } },
          { guard: 'resetAllowed', target: 'armed', actions: { type: 'acceptReset', params: { from: 'reducing' } } },
          {
            guard: 'resetPending',
            actions: { type: 'refuseReset', params: { state: 'reducing', code: 'CONDITION_ACTIVE' } },
          },
          { guard: 'anythingPending', actions: 'clearPending' },
        ],
      },
      tripped: {
        always: [
          { guard: 'tripPending', actions: 'retrip' },
          { guard: 'cooldownOver', target: 'awaitingReset', actions: 'expireCooldown' },
          {
            guard: 'resetPending',
            actions: { type: 'refuseReset', params: { state: 'tripped', code: 'COOLDOWN_ACTIVE' } },
          },
          { guard: 'anythingPending', actions: 'clearPending' },
        ],
      },
      awaitingReset: {
        always: [
          {
            guard: 'tripPending',
            target: 'tripped',
            actions: { type: 'enterTripped', params: { from: 'awaitingReset' } },
          },
          {
            guard: 'resetAllowed',
            target: 'armed',
            actions: { type: 'acceptReset', params: { from: 'awaitingReset' } },
          },
          {
            guard: 'resetPending',
            actions: { type: 'refuseReset', params: { state: 'awaitingReset', code: 'CONDITION_ACTIVE' } },
          },
          { guard: 'anythingPending', actions: 'clearPending' },
        ],
      },
    },
  });
}

/** The ESS machine type (every configuration builds the same shape). */
export type EssMachine = ReturnType<typeof createEssMachine>;
