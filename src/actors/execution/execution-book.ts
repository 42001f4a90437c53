/**
 * Execution's book as pure data and a pure reducer (docs/architecture.md §11.3): the orders it
 * is working at the venue, the positions its fills made, the last prices and
 * the ESS state. The machine (`execution-machine.ts`) applies
 * {@link reduceExecution}; the order runner performs the venue calls the book
 * asks for and reports the answers back as events, so every answer is
 * committed, with the events it produces, before anything else happens.
 */
import type { EssState, EventData } from '../../events/catalog.js';
import type { VenueOrder } from '../../exchange/adapter.js';
import { assetsOf } from '../../exchange/symbols.js';
import type { ActorOutput } from '../host.js';
import { type EssTripCause, essCauseText } from '../risk-safety/ess-projection.js';

/** Why execution sends an order: an approval (a signal's), its own TP/SL exit, or an operator's flatten. */
export type OrderPurpose = 'signal' | 'take_profit' | 'stop_loss' | 'emergency_exit';

/** An order execution is working: approved, not yet final at the venue. */
export interface WorkingOrder {
  readonly orderId: string;
  readonly symbol: string;
  readonly side: 'buy' | 'sell';
  readonly type: 'market' | 'limit';
  readonly quantity: number;
  readonly price?: number;
  readonly reduceOnly: boolean;
  /** An operator's flatten exit: the one kind of order a tripped ESS lets through (see `order-gate.ts`). */
  readonly emergencyExit?: boolean;
  readonly purpose: OrderPurpose;
  /**
   * `pending`: to submit (at or after `notBefore`); `submitting`: a submit
   * was started and its answer is not committed; `open`: resting at the venue;
   * `cancelling`: to cancel (the ESS tripped).
   */
  readonly status: 'pending' | 'submitting' | 'open' | 'cancelling';
  /** Submits started; above 0 the venue must be asked before any resubmit. */
  readonly attempts: number;
  /** Epoch ms before which the runner leaves the order alone (rate limits, bans, backoff). */
  readonly notBefore: number;
  /** Event time the order was approved (or, for an exit, triggered). */
  readonly createdAt: number;
  /** `order.placed` was published. */
  readonly placed: boolean;
  readonly lastError?: string;
  /** Why the order is `cancelling`: the ESS state and what tripped it, for its `order.cancelled`. */
  readonly cancelReason?: string;
  /** Correlation id of the approval (or the tick that triggered an exit); the order's events carry it. */
  readonly correlationId?: string;
  /** The event that caused the order (the approval's envelope id); its outcome events name it as cause. */
  readonly causationId?: string;
}

/** A net position from execution's own fills. */
export interface ExecPosition {
  /** Signed: positive long, negative short. */
  readonly quantity: number;
  readonly avgPrice: number;
}

/** Take-profit / stop-loss distances from the entry price, as fractions (0 disables one). */
export interface BracketConfig {
  readonly takeProfit: number;
  readonly stopLoss: number;
}

export interface ExecutionContext {
  readonly orders: Readonly<Record<string, WorkingOrder>>;
  /** Ids of recently finished orders, newest last: a repeated approval of one is ignored. */
  readonly finished: readonly string[];
  readonly positions: Readonly<Record<string, ExecPosition>>;
  readonly lastPrice: Readonly<Record<string, number>>;
  readonly essState: EssState;
  /** What tripped the ESS, from its events, while it is not armed again; absent in an older snapshot. */
  readonly essTrip?: EssTripCause | null;
  readonly brackets: BracketConfig;
  /** Numbers exit orders (`sl-btcusdt-7`). */
  readonly exitSeq: number;
  readonly outbox: readonly ActorOutput[];
}

/** What execution reacts to; `at` is event time (epoch ms). */
export type ExecutionEvent =
  | { type: 'APPROVED'; order: EventData<'order.approved'>; at: number; correlationId?: string; causationId?: string }
  | { type: 'TICK'; symbol: string; price: number; at: number; correlationId?: string; causationId?: string }
  /** The ESS changed; `trip` is what tripped it (null: cleared by a RESET; absent: unchanged). */
  | { type: 'ESS'; state: EssState; at: number; trip?: EssTripCause | null }
  | { type: 'SUBMITTING'; orderId: string; at: number }
  | { type: 'VENUE_ORDER'; orderId: string; order: VenueOrder; at: number }
  | { type: 'VENUE_REJECTED'; orderId: string; reason: string; at: number }
  | { type: 'VENUE_RETRY'; orderId: string; reason: string; retryAt: number; at: number }
  | { type: 'GIVE_UP'; orderId: string; reason: string; at: number }
  | { type: 'BLOCKED'; orderId: string; reason: string; at: number }
  | { type: 'OUTBOX_TAKEN' };

/** Finished order ids remembered to ignore repeated approvals. */
export const FINISHED_MEMORY = 1_000;

/** The empty book. */
export function initialExecution(brackets: BracketConfig): ExecutionContext {
  return {
    orders: {},
    finished: [],
    positions: {},
    lastPrice: {},
    essState: 'armed',
    brackets,
    exitSeq: 1,
    outbox: [],
  };
}

/** True while the ESS forbids new exposure and execution holds every TP/SL exit (see docs/execution.md). */
export function isHalted(state: EssState): boolean {
  return state === 'tripped' || state === 'awaitingReset';
}

/** Applies one event. Pure: the same book and event always give the same book. */
export function reduceExecution(ctx: ExecutionContext, event: ExecutionEvent): ExecutionContext {
  switch (event.type) {
    case 'APPROVED': {
      const o = event.order;
      if (Object.hasOwn(ctx.orders, o.orderId) || ctx.finished.includes(o.orderId)) return ctx;
      const exit = o.emergencyExit === true && o.reduceOnly;
      const order: WorkingOrder = {
        orderId: o.orderId,
        symbol: o.symbol,
        side: o.side,
        type: o.type,
        quantity: o.quantity,
        ...(o.price === undefined ? {} : { price: o.price }),
        reduceOnly: o.reduceOnly,
        ...(exit ? { emergencyExit: true } : {}),
        purpose: exit ? 'emergency_exit' : 'signal',
        status: 'pending',
        attempts: 0,
        notBefore: 0,
        createdAt: event.at,
        placed: false,
        ...trace(event),
      };
      const book = { ...ctx, orders: { ...ctx.orders, [o.orderId]: order } };
      if (!exit) return book;
      // An exit closes what execution holds, no more: capped to its own position, refused without one.
      const held = heldAgainst(ctx, order);
      if (!(held > 0)) return finish(book, o.orderId, (w) => [cancelled(w, notReducing(w))]);
      return held >= order.quantity ? book : update(book, o.orderId, (w) => ({ ...w, quantity: held }));
    }
    case 'TICK':
      return triggerExits({ ...ctx, lastPrice: { ...ctx.lastPrice, [event.symbol]: event.price } }, event);
    case 'ESS': {
      const essTrip = event.trip === undefined ? (ctx.essTrip ?? null) : event.trip;
      const next = { ...ctx, essState: event.state, essTrip };
      const trips = isHalted(event.state) && !isHalted(ctx.essState);
      if (!trips) return next;
      // Resting orders are cancelled, except an operator's exits: those are what a halt lets through.
      const cancelReason = essCauseText(event.state, essTrip);
      const orders = mapOrders(ctx.orders, (o) =>
        o.status === 'open' && o.emergencyExit !== true ? { ...o, status: 'cancelling', cancelReason } : o,
      );
      return { ...next, orders };
    }
    case 'SUBMITTING':
      return update(ctx, event.orderId, (o) => ({ ...o, status: 'submitting', attempts: o.attempts + 1 }));
    case 'VENUE_RETRY':
      return update(ctx, event.orderId, (o) => ({
        ...o,
        status: o.status === 'cancelling' ? 'cancelling' : o.status === 'open' ? 'open' : 'pending',
        notBefore: event.retryAt,
        lastError: event.reason,
      }));
    case 'VENUE_ORDER':
      return venueAnswer(ctx, event.orderId, event.order, event.at);
    case 'VENUE_REJECTED':
      return finish(ctx, event.orderId, (o) => [failed(o, event.reason, false)]);
    case 'GIVE_UP':
      return finish(ctx, event.orderId, (o) => [failed(o, event.reason, true)]);
    case 'BLOCKED':
      return finish(ctx, event.orderId, (o) => [cancelled(o, event.reason)]);
    case 'OUTBOX_TAKEN':
      return { ...ctx, outbox: [] };
  }
}

/**
 * Applies what the venue reported about an order: placed, filled, cancelled
 * or rejected. The answer itself goes out first, as `order.reported` (what
 * the trade store's writer records), in the same commit as what it causes.
 */
function venueAnswer(ctx: ExecutionContext, orderId: string, venue: VenueOrder, at: number): ExecutionContext {
  const order = own(ctx.orders, orderId);
  if (!order) return ctx;
  const announce = !order.placed && venue.status !== 'rejected';
  const working: WorkingOrder = announce ? { ...order, placed: true } : order;
  const resting = venue.status === 'new' || venue.status === 'partially_filled';
  const next: WorkingOrder = resting
    ? { ...working, status: working.status === 'cancelling' ? 'cancelling' : 'open', notBefore: 0 }
    : working;
  const reported = reportedEvent(order, venue, at);
  const placed: ExecutionContext = {
    ...ctx,
    orders: { ...ctx.orders, [orderId]: next },
    outbox: [...ctx.outbox, reported, ...(announce ? [placedEvent(order, venue)] : [])],
  };
  if (resting) return placed;
  if (venue.status === 'rejected') return finish(placed, orderId, (o) => [failed(o, 'rejected by the venue', false)]);
  const fill = venue.executedQuantity > 0 ? fillOf(working, venue) : undefined;
  const closing: ActorOutput[] = fill ? [{ type: 'order.filled', data: fill }] : [];
  if (venue.status !== 'filled') {
    const why = order.status === 'cancelling' ? (order.cancelReason ?? 'ESS tripped') : `${venue.status} by the venue`;
    closing.push(cancelled(working, why));
  }
  const done = finish(placed, orderId, () => closing);
  return fill ? applyFill(done, working, fill) : done;
}

/** The venue's answer as the trade store records it: every field of the answer, why the order was sent, and when. */
function reportedEvent(order: WorkingOrder, venue: VenueOrder, at: number): ActorOutput {
  const data: EventData<'order.reported'> = {
    orderId: order.orderId,
    symbol: order.symbol,
    side: order.side,
    venue: venue.venue,
    venueOrderId: venue.venueOrderId,
    type: venue.type,
    status: venue.status,
    quantity: venue.quantity,
    ...(venue.price === undefined ? {} : { price: venue.price }),
    executedQuantity: venue.executedQuantity,
    ...(venue.averagePrice === undefined ? {} : { averagePrice: venue.averagePrice }),
    fills: venue.fills.map((f) => ({
      tradeId: f.tradeId,
      price: f.price,
      quantity: f.quantity,
      fee: f.fee,
      feeAsset: f.feeAsset,
    })),
    purpose: order.purpose,
    reportedAt: Math.max(0, Math.floor(at)),
  };
  return { type: 'order.reported', data };
}

function placedEvent(order: WorkingOrder, venue: VenueOrder): ActorOutput {
  const price = venue.averagePrice ?? venue.price;
  return {
    type: 'order.placed',
    data: {
      orderId: order.orderId,
      symbol: order.symbol,
      side: order.side,
      venue: venue.venue,
      venueOrderId: venue.venueOrderId,
      quantity: order.quantity,
      ...(price === undefined ? {} : { price }),
    },
  };
}

/** What executed of an order: total quantity, volume-weighted price, summed fees. */
function fillOf(order: WorkingOrder, venue: VenueOrder): EventData<'order.filled'> {
  const fee = venue.fills.reduce((sum, f) => sum + f.fee, 0);
  const price =
    venue.averagePrice ??
    venue.fills.reduce((s, f) => s + f.price * f.quantity, 0) / Math.max(venue.executedQuantity, Number.MIN_VALUE);
  return {
    orderId: order.orderId,
    symbol: order.symbol,
    side: order.side,
    venue: venue.venue,
    venueOrderId: venue.venueOrderId,
    quantity: venue.executedQuantity,
    price,
    fee,
    feeAsset: venue.fills[0]?.feeAsset ?? assetsOf(order.symbol)?.quote ?? order.symbol.slice(-4),
  };
}

function failed(order: WorkingOrder, reason: string, retryable: boolean): ActorOutput {
  return {
    type: 'order.failed',
    data: { orderId: order.orderId, symbol: order.symbol, side: order.side, reason, retryable },
  };
}

function cancelled(order: WorkingOrder, reason: string): ActorOutput {
  return { type: 'order.cancelled', data: { orderId: order.orderId, symbol: order.symbol, side: order.side, reason } };
}

/** Removes a working order, publishing what `outputs` says; remembers its id. */
function finish(ctx: ExecutionContext, orderId: string, outputs: (o: WorkingOrder) => ActorOutput[]): ExecutionContext {
  const order = own(ctx.orders, orderId);
  if (!order) return ctx;
  const { [orderId]: _, ...orders } = ctx.orders;
  return {
    ...ctx,
    orders,
    finished: [...ctx.finished, orderId].slice(-FINISHED_MEMORY),
    outbox: [...ctx.outbox, ...outputs(order)],
  };
}

/** Moves the position by a fill; a fee paid in the base asset (Binance buys) shrinks what was received. */
function applyFill(ctx: ExecutionContext, order: WorkingOrder, fill: EventData<'order.filled'>): ExecutionContext {
  const feeInBase = fill.feeAsset === assetsOf(fill.symbol)?.base;
  const quantity = fill.quantity - (feeInBase ? fill.fee : 0);
  const signed = order.side === 'buy' ? quantity : -quantity;
  const pos = own(ctx.positions, order.symbol) ?? { quantity: 0, avgPrice: 0 };
  const next = pos.quantity + signed;
  let avgPrice: number;
  if (pos.quantity === 0 || Math.sign(pos.quantity) === Math.sign(signed)) {
    avgPrice = (Math.abs(pos.quantity) * pos.avgPrice + quantity * fill.price) / (Math.abs(pos.quantity) + quantity);
  } else {
    avgPrice = Math.sign(next) === Math.sign(pos.quantity) ? pos.avgPrice : fill.price;
  }
  const { [order.symbol]: _, ...rest } = ctx.positions;
  // Float dust left by fees or rounding is flat, not a position to protect.
  const flat = Math.abs(next) * fill.price < 1e-6;
  return { ...ctx, positions: flat ? rest : { ...rest, [order.symbol]: { quantity: next, avgPrice } } };
}

function trace(event: { correlationId?: string; causationId?: string }) {
  return {
    ...(event.correlationId === undefined ? {} : { correlationId: event.correlationId }),
    ...(event.causationId === undefined ? {} : { causationId: event.causationId }),
  };
}

/** Starts a take-profit or stop-loss exit when the tick crosses the position's bracket. */
function triggerExits(
  ctx: ExecutionContext,
  tick: { symbol: string; price: number; at: number; correlationId?: string; causationId?: string },
): ExecutionContext {
  const { takeProfit, stopLoss } = ctx.brackets;
  if ((takeProfit <= 0 && stopLoss <= 0) || isHalted(ctx.essState)) return ctx;
  const pos = own(ctx.positions, tick.symbol);
  if (!pos) return ctx;
  if (Object.values(ctx.orders).some((o) => o.symbol === tick.symbol && o.purpose !== 'signal')) return ctx;
  const long = pos.quantity > 0;
  const move = (tick.price - pos.avgPrice) / pos.avgPrice;
  const gain = long ? move : -move;
  const purpose: OrderPurpose | undefined =
    stopLoss > 0 && gain <= -stopLoss ? 'stop_loss' : takeProfit > 0 && gain >= takeProfit ? 'take_profit' : undefined;
  if (!purpose) return ctx;
  const orderId = `${purpose === 'stop_loss' ? 'sl' : 'tp'}-${tick.symbol.toLowerCase()}-${ctx.exitSeq}`;
  const exit: WorkingOrder = {
    orderId,
    symbol: tick.symbol,
    side: long ? 'sell' : 'buy',
    type: 'market',
    quantity: Math.abs(pos.quantity),
    reduceOnly: true,
    purpose,
    status: 'pending',
    attempts: 0,
    notBefore: 0,
    createdAt: tick.at,
    placed: false,
    ...trace(tick),
  };
  return { ...ctx, exitSeq: ctx.exitSeq + 1, orders: { ...ctx.orders, [orderId]: exit } };
}

/**
 * How much of the position execution holds an order would close: positive
 * when the order is on the other side of it (a sell of a long), up to the
 * position's size; 0 when it would open or grow one.
 */
export function heldAgainst(ctx: ExecutionContext, order: Pick<WorkingOrder, 'symbol' | 'side'>): number {
  const quantity = own(ctx.positions, order.symbol)?.quantity ?? 0;
  return Math.max(0, order.side === 'sell' ? quantity : -quantity);
}

/** The `order.cancelled` reason of an exit that would not reduce a position execution holds. */
export function notReducing(order: Pick<WorkingOrder, 'symbol' | 'side'>): string {
  const held = order.side === 'sell' ? 'long' : 'short';
  return `emergency exit refused: execution holds no ${held} ${order.symbol} position for it to reduce`;
}

function update(ctx: ExecutionContext, orderId: string, f: (o: WorkingOrder) => WorkingOrder): ExecutionContext {
  const order = own(ctx.orders, orderId);
  return order ? { ...ctx, orders: { ...ctx.orders, [orderId]: f(order) } } : ctx;
}

function mapOrders(
  orders: Readonly<Record<string, WorkingOrder>>,
  f: (o: WorkingOrder) => WorkingOrder,
): Record<string, WorkingOrder> {
  return Object.fromEntries(Object.entries(orders).map(([id, o]) => [id, f(o)]));
}

function own<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}
