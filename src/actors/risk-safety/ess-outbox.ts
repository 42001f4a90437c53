import type { EssState, EventData } from '../../events/catalog.js';
import type { EssOutboxFlushedEvent, EssTrigger } from './ess-events.js';

/**
 * What the ESS machine asks its host to do, kept in the machine's context as
 * an outbox rather than sent with XState `emit()`:
 *
 * - The actor host (src/actors/host.ts) calls `takeOutputs(actor)` right after
 *   `send` and commits the outputs in the same Redis transaction as the
 *   snapshot; an outbox is read synchronously there, with no listener to wire.
 * - The outbox is part of the persisted snapshot. A host that stores the
 *   snapshot before publishing (a transactional outbox) cannot lose an `ess`
 *   event in a crash; emitted events exist only in the moment.
 * - It is plain data, so tests and properties read it from any snapshot.
 *
 * Entries carry a `seq`; `OUTBOX_FLUSHED { throughSeq }` drops what was
 * published up to there, so a flush is idempotent and never drops an entry
 * added after the host read the outbox.
 */

/** An event for the `ess` stream, with the data shape of the event catalog. */
export type EssPublication =
  | { readonly type: 'ess.tripped'; readonly data: EventData<'ess.tripped'> }
  | { readonly type: 'ess.state_changed'; readonly data: EventData<'ess.state_changed'> }
  | { readonly type: 'ess.reset'; readonly data: EventData<'ess.reset'> };

/**
 * The ESS entered `tripped`: open orders must be cancelled, except reduce-only
 * emergency exits (the only orders `tripped` lets through). Not a catalog
 * event; the host routes it to whatever cancels orders.
 */
export interface CancelOpenOrdersIntent {
  readonly intent: 'cancel_open_orders';
  readonly keepEmergencyExits: true;
  readonly trigger: EssTrigger;
  readonly reason: string;
}

/** One outbox entry: `seq` orders and acknowledges it, `at` is the ESS time of the transition. */
export type EssOutboxEntry = { readonly seq: number; readonly at: number } & (
  | ({ readonly kind: 'publish' } & EssPublication)
  | ({ readonly kind: 'intent' } & CancelOpenOrdersIntent)
);

/** An outbox entry before the machine numbers it. */
export type EssOutboxDraft =
  | ({ readonly kind: 'publish' } & EssPublication)
  | ({ readonly kind: 'intent' } & CancelOpenOrdersIntent);

/** Why a RESET was refused. */
export type ResetRefusalCode = 'NOT_TRIPPED' | 'COOLDOWN_ACTIVE' | 'CONDITION_ACTIVE';

/**
 * The answer to the last RESET, kept in context so the caller of
 * `ActorHost.send` reads it from the snapshot that call resolves with.
 */
export type EssResetResult = {
  readonly at: number;
  readonly operator: string;
  readonly requestId?: string;
} & (
  | { readonly accepted: true; readonly from: EssState }
  | {
      readonly accepted: false;
      readonly state: EssState;
      readonly code: ResetRefusalCode;
      readonly message: string;
      /** With COOLDOWN_ACTIVE: when a RESET will be accepted (ISO) and how long until then. */
      readonly cooldownUntil?: string;
      readonly remainingMs?: number;
    }
);

/** A state change for the `ess` stream. */
export function stateChanged(
  from: EssState,
  to: EssState,
  reason: string,
  extra: { trigger?: EssTrigger; cooldownUntil?: number } = {},
): EssOutboxDraft {
  return {
    kind: 'publish',
    type: 'ess.state_changed',
    data: {
      from,
      to,
      reason,
      ...(extra.trigger === undefined ? {} : { trigger: extra.trigger }),
      ...(extra.cooldownUntil === undefined ? {} : { cooldownUntil: isoTime(extra.cooldownUntil) }),
    },
  };
}

/** One `ess.tripped` per trigger that fired, all with the same cooldown end. */
export function tripDrafts(
  trips: readonly { trigger: EssTrigger; reason: string; operator?: string }[],
  cooldownUntil: number,
): EssOutboxDraft[] {
  return trips.map((t) => ({
    kind: 'publish',
    type: 'ess.tripped',
    data: {
      trigger: t.trigger,
      reason: t.reason,
      cooldownUntil: isoTime(cooldownUntil),
      ...(t.operator === undefined ? {} : { operator: t.operator }),
    },
  }));
}

/** The intent to cancel open orders, for the trip that entered `tripped`. */
export function cancelOpenOrders(cause: { trigger: EssTrigger; reason: string }): EssOutboxDraft {
  return { kind: 'intent', intent: 'cancel_open_orders', keepEmergencyExits: true, ...cause };
}

/** Epoch ms as the catalog's ISO time (UTC, `Z`). Pure: formats a given instant. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

/** The parts of an ESS actor that {@link takeEssOutbox} needs. */
export interface EssOutboxHolder {
  getSnapshot(): { readonly context: { readonly outbox: readonly EssOutboxEntry[] } };
  send(event: EssOutboxFlushedEvent): void;
}

/**
 * Takes the outbox of an ESS actor: returns its events to publish and its
 * intents, in order, and flushes them from the actor. Shaped for an actor
 * spec's `takeOutputs` (which publishes `publish`).
 */
export function takeEssOutbox(actor: EssOutboxHolder): {
  publish: EssPublication[];
  intents: CancelOpenOrdersIntent[];
} {
  const { outbox } = actor.getSnapshot().context;
  const publish: EssPublication[] = [];
  const intents: CancelOpenOrdersIntent[] = [];
  for (const entry of outbox) {
    if (entry.kind === 'publish') publish.push({ type: entry.type, data: entry.data } as EssPublication);
    else intents.push({ intent: entry.intent, keepEmergencyExits: true, trigger: entry.trigger, reason: entry.reason });
  }
  const last = outbox.at(-1);
  if (last) actor.send({ type: 'OUTBOX_FLUSHED', throughSeq: last.seq });
  return { publish, intents };
}
