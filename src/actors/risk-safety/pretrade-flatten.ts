/**
 * Flatten (docs/actors.md, pre-trade): an operator's `ess.flatten_requested`
 * turned into one emergency exit per open position, decided by the
 * pre-trade actor from what it consumed, like a signal's order. Pure.
 *
 * An emergency exit is a reduce-only market order for the whole position
 * (`emergencyExit: true`), the one kind of order a tripped ESS lets through
 * (`order-gate.ts`). It is not subject to the risk policy: the policy limits
 * new exposure, and an exit only removes it. A flatten is refused unless the
 * ESS is `tripped` or `awaitingReset` as the actor last applied it: armed,
 * positions close by signals under the policy.
 */
import type { EssState, EventData } from '../../events/catalog.js';

/** Positions flatter than this notional (quote currency) are dust: nothing to exit. */
export const FLATTEN_DUST_NOTIONAL = 1e-6;
/** How many flatten decisions the actor keeps in its context (for the route that waits for them, and repeats). */
export const FLATTENS_KEPT = 16;

/** One emergency exit a flatten decided. */
export interface FlattenOrder {
  readonly orderId: string;
  readonly symbol: string;
  readonly side: 'buy' | 'sell';
  readonly quantity: number;
}

/** What the actor decided for one flatten request. */
export interface FlattenDecision {
  readonly requestId: string;
  /** The decision time (epoch ms). */
  readonly decidedAt: number;
  readonly orders: readonly FlattenOrder[];
  /** Positions not exited, with why (an exit of it is still open). */
  readonly skipped: readonly { readonly symbol: string; readonly reason: string }[];
  /** Set when the whole request was refused (the ESS is not tripped). */
  readonly refused?: string;
}

/** What a flatten is decided from: a part of the pre-trade context. */
export interface FlattenInput {
  readonly requestId: string;
  readonly decidedAt: number;
  readonly essState: EssState;
  readonly positions: Readonly<Record<string, { readonly quantity: number; readonly markPrice?: number }>>;
  /** Orders pre-trade approved that are still open. */
  readonly openOrderIds: readonly string[];
  /** Earlier flatten decisions, to find exits still open. */
  readonly flattens: readonly FlattenDecision[];
}

/** The client order id of a flatten's exit of one symbol: stable per request and symbol. */
export function flattenOrderId(requestId: string, symbol: string): string {
  return `flat-${requestId}-${symbol.toLowerCase()}`.slice(0, 64);
}

/** Decides a flatten: the decision to record and the approvals to publish (without decidedAt/asOf). */
export function decideFlatten(input: FlattenInput): {
  decision: FlattenDecision;
  approvals: EventData<'order.approved'>[];
} {
  const { requestId, decidedAt, essState } = input;
  if (essState !== 'tripped' && essState !== 'awaitingReset') {
    const refused = `the ESS is ${essState}: flatten closes positions only while it is tripped or awaitingReset`;
    return { decision: { requestId, decidedAt, orders: [], skipped: [], refused }, approvals: [] };
  }
  const open = new Set(input.openOrderIds);
  const exiting = new Set(
    input.flattens.flatMap((f) => f.orders.filter((o) => open.has(o.orderId)).map((o) => o.symbol)),
  );
  const orders: FlattenOrder[] = [];
  const skipped: { symbol: string; reason: string }[] = [];
  const approvals: EventData<'order.approved'>[] = [];
  for (const symbol of Object.keys(input.positions).sort()) {
    const { quantity, markPrice = 0 } = input.positions[symbol] ?? { quantity: 0 };
    const size = Math.abs(quantity);
    if (!(size > 0) || (markPrice > 0 && size * markPrice < FLATTEN_DUST_NOTIONAL)) continue;
    if (exiting.has(symbol)) {
      skipped.push({ symbol, reason: 'an emergency exit of it from an earlier flatten is still open' });
      continue;
    }
    const order: FlattenOrder = {
      orderId: flattenOrderId(requestId, symbol),
      symbol,
      side: quantity > 0 ? 'sell' : 'buy',
      quantity: size,
    };
    orders.push(order);
    approvals.push({
      ...order,
      type: 'market',
      reduceOnly: true,
      emergencyExit: true,
      notional: size * markPrice,
    });
  }
  return { decision: { requestId, decidedAt, orders, skipped }, approvals };
}
