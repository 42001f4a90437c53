import type { EssState } from '../../events/catalog.js';

/** The order facts the ESS gate looks at. */
export interface GatedOrder {
  /** The order can only shrink a position. */
  readonly reduceOnly: boolean;
  /** The order is an emergency exit (flattening risk after a trip). */
  readonly emergencyExit?: boolean;
}

/** The ESS gate's verdict; a refusal carries the reject reason code of the event catalog. */
export type GateResult = { readonly allowed: true } | { readonly allowed: false; readonly reason: GateRejectReason };

/** Reject reasons the ESS gate can give (a subset of the catalog's RejectReason). */
export type GateRejectReason = 'TRADING_HALTED' | 'REDUCE_ONLY';

const ALLOWED: GateResult = Object.freeze({ allowed: true });

/**
 * The first pre-trade check (docs/architecture.md §10): whether the ESS state lets an order
 * through. `armed` allows everything; `reducing` only reduce-only orders;
 * `tripped` and `awaitingReset` only reduce-only emergency exits, since the
 * ESS is not armed again before an operator's RESET. Pure.
 */
export function gateOrder(essState: EssState, order: GatedOrder): GateResult {
  switch (essState) {
    case 'armed':
      return ALLOWED;
    case 'reducing':
      return order.reduceOnly ? ALLOWED : { allowed: false, reason: 'REDUCE_ONLY' };
    case 'tripped':
    case 'awaitingReset':
      return order.reduceOnly && order.emergencyExit === true ? ALLOWED : { allowed: false, reason: 'TRADING_HALTED' };
  }
}
