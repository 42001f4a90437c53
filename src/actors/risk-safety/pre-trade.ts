import type { EssState, EventData, RejectReason } from '../../events/catalog.js';
import { DEFAULT_SIZING_MODEL, type SizingModel, sizeMultiplier } from '../rl-training/sizing.js';
import { gateOrder } from './order-gate.js';
import type { RiskPolicy } from './policy.js';

/** The window of the order-rate limit. */
export const RATE_WINDOW_MS = 1_000;

/** What risk-safety knows of its book when a signal arrives. */
export interface PreTradeBook {
  /** Signed position quantity per symbol: positive long, negative short; absent means flat. */
  readonly positions: Readonly<Record<string, { readonly quantity: number }>>;
  /** Orders open at the venue now. */
  readonly openOrders: number;
  /** Epoch ms at which recent orders were approved (older ones may be left in; they are ignored). */
  readonly recentOrderTimes: readonly number[];
}

/** Everything {@link evaluateSignal} decides from; time is passed in, never read. */
export interface PreTradeInput {
  readonly signal: EventData<'signal.generated'>;
  /** Epoch ms at which the signal was generated (its envelope time). */
  readonly signalTime: number;
  /** Epoch ms of the decision. */
  readonly now: number;
  readonly policy: RiskPolicy;
  readonly essState: EssState;
  /** New entries paused by an operator (`risk.entries_paused`): only reduce-only orders pass. Default false. */
  readonly entriesPaused?: boolean;
  readonly book: PreTradeBook;
  /** The id the order gets, approved or rejected. */
  readonly orderId: string;
  /** The live sizing policy (rl-training's last `model.promoted`); default `fixed-1`, multiplier 1. */
  readonly sizing?: SizingModel;
}

/** The verdict: exactly one of the two events' data. */
export type PreTradeResult =
  | { readonly approved: EventData<'order.approved'> }
  | { readonly rejected: EventData<'order.rejected'> };

/**
 * The pre-trade checks (docs/architecture.md §10): turns a signal into an approved market
 * order or a rejection with a reason code. Pure: no I/O, no clock.
 *
 * The order is a market order sized to `policy.orderNotional × m` at the
 * signal price, `m` being the live sizing model's multiplier for the
 * signal's confidence ({@link sizeMultiplier}, in 0..2; exactly 1 with the
 * default model), quantity rounded down by at most a few ulps so that
 * quantity × price never exceeds that notional. Sizing only sets the
 * notional: the checks below cap it as before. It is reduce-only when it shrinks an existing
 * opposite position without flipping it (a sell of at most the long quantity,
 * a buy of at most the short quantity). Signal orders are never emergency
 * exits, so a `tripped` or `awaitingReset` ESS rejects them all.
 *
 * Checks run in this order and the FIRST failure is the reason given:
 * 1. INVALID_ORDER: the sized quantity is not a positive finite number;
 * 2. the ESS gate ({@link gateOrder}): TRADING_HALTED or REDUCE_ONLY; then
 *    ENTRIES_PAUSED: entries are paused and the order is not reduce-only;
 * 3. STALE_SIGNAL: `now − signalTime > maxSignalAgeMs`;
 * 4. LOW_CONFIDENCE: `confidence < minConfidence`;
 * 5. RATE_LIMIT_EXCEEDED: orders approved in the last {@link RATE_WINDOW_MS}
 *    (times after `now − 1000`, future ones included) `≥ maxOrdersPerSecond`;
 * 6. NOTIONAL_EXCEEDS_MAX: `notional > maxNotionalPerOrder`;
 * 7. POSITION_LIMIT: |position after the order| × price
 *    `> maxPositionNotionalPerSymbol`; reduce-only orders never hit it;
 * 8. MAX_OPEN_ORDERS: `openOrders ≥ maxOpenOrders`.
 *
 * Unless `policy.allowShortSelling` (off by default: spot venues cannot sell
 * what is not held), a sell is capped at the long position held, so it is
 * reduce-only; with nothing held it is rejected SHORT_NOT_ALLOWED (checked
 * right after the ESS gate).
 *
 * Approved orders are not recorded here: the caller adds `now` to
 * `recentOrderTimes` and counts the open order.
 */
export function evaluateSignal(input: PreTradeInput): PreTradeResult {
  const { signal, policy, book, now } = input;
  const ref = { orderId: input.orderId, symbol: signal.symbol, side: signal.side, signalId: signal.signalId };
  const reject = (reason: RejectReason, detail: string): PreTradeResult => ({
    rejected: { ...ref, reason, detail },
  });

  const sizing = input.sizing ?? DEFAULT_SIZING_MODEL;
  const multiplier = sizeMultiplier(sizing, signal.confidence);
  const orderNotional = policy.orderNotional * multiplier;
  const sized = sizeQuantity(orderNotional, signal.price);
  if (!(sized > 0) || !Number.isFinite(sized)) {
    const how =
      multiplier === 1 ? '' : ` (${money(policy.orderNotional)} × ${multiplier.toFixed(3)} by ${sizing.modelId})`;
    return reject(
      'INVALID_ORDER',
      `order notional ${money(orderNotional)}${how} at price ${signal.price} gives no usable quantity`,
    );
  }
  const position = book.positions[signal.symbol]?.quantity ?? 0;
  // Without short selling a sell is capped at what is held, so it only ever reduces a long.
  const noShorts = signal.side === 'sell' && !policy.allowShortSelling;
  const quantity = noShorts ? Math.min(sized, Math.max(0, position)) : sized;
  const notional = quantity * signal.price;
  const signed = signal.side === 'buy' ? quantity : -quantity;
  const reduceOnly = isReduceOnly(position, signed);

  const gate = gateOrder(input.essState, { reduceOnly, emergencyExit: false });
  if (!gate.allowed) {
    return reject(
      gate.reason,
      gate.reason === 'REDUCE_ONLY'
        ? `ESS is ${input.essState}: only reduce-only orders are accepted`
        : `ESS is ${input.essState}: trading is halted`,
    );
  }
  if (input.entriesPaused === true && !reduceOnly) {
    return reject('ENTRIES_PAUSED', 'new entries are paused (risk.entries_paused); exits still go through');
  }

  if (noShorts && !(quantity > 0)) {
    return reject('SHORT_NOT_ALLOWED', `no ${signal.symbol} held to sell, and short selling is off`);
  }

  const age = now - input.signalTime;
  if (age > policy.maxSignalAgeMs) {
    return reject('STALE_SIGNAL', `signal age ${age} ms > ${policy.maxSignalAgeMs} ms`);
  }

  if (signal.confidence < policy.minConfidence) {
    return reject('LOW_CONFIDENCE', `confidence ${signal.confidence.toFixed(2)} < ${policy.minConfidence.toFixed(2)}`);
  }

  const windowStart = now - RATE_WINDOW_MS;
  const recent = book.recentOrderTimes.filter((t) => t > windowStart).length;
  if (recent >= policy.maxOrdersPerSecond) {
    return reject(
      'RATE_LIMIT_EXCEEDED',
      `${recent} orders approved in the last ${RATE_WINDOW_MS} ms >= ${policy.maxOrdersPerSecond}/s`,
    );
  }

  if (notional > policy.maxNotionalPerOrder) {
    return reject('NOTIONAL_EXCEEDS_MAX', `notional ${money(notional)} > ${money(policy.maxNotionalPerOrder)}`);
  }

  if (!reduceOnly) {
    const after = Math.abs((position + signed) * signal.price);
    if (after > policy.maxPositionNotionalPerSymbol) {
      return reject(
        'POSITION_LIMIT',
        `${signal.symbol} position notional after the order ${money(after)} > ${money(policy.maxPositionNotionalPerSymbol)}`,
      );
    }
  }

  if (book.openOrders >= policy.maxOpenOrders) {
    return reject('MAX_OPEN_ORDERS', `${book.openOrders} open orders >= ${policy.maxOpenOrders}`);
  }

  return { approved: { ...ref, type: 'market', quantity, reduceOnly, notional } };
}

/** True when a signed order quantity shrinks an opposite position without flipping it. */
export function isReduceOnly(position: number, signedQuantity: number): boolean {
  if (position === 0 || signedQuantity === 0) return false;
  if (Math.sign(position) === Math.sign(signedQuantity)) return false;
  return Math.abs(signedQuantity) <= Math.abs(position);
}

/**
 * The quantity worth `notional` at `price`, nudged down so that
 * quantity × price never exceeds `notional` in floating point; otherwise an
 * order sized exactly to the per-order maximum could be refused by a rounding
 * error.
 */
export function sizeQuantity(notional: number, price: number): number {
  let quantity = notional / price;
  // Each step removes at least one ulp of a normal number, so a few steps
  // suffice; the bound only matters for subnormals, which give up (0).
  for (let step = 0; step < MAX_SIZING_STEPS; step++) {
    if (!(quantity > 0) || !Number.isFinite(quantity) || quantity * price <= notional) return quantity;
    quantity *= 1 - Number.EPSILON;
  }
  return 0;
}

/** Enough for any normal quantity (one or two steps in practice). */
const MAX_SIZING_STEPS = 16;

const money = (n: number): string => n.toFixed(2);
