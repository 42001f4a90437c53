/**
 * Reads of what reached the fake venue, for the scenarios that trade
 * against it: which process a request came from (by endpoint), the requests
 * inside a window during which none may arrive (a ban, a Retry-After hold),
 * the venue's own order table (duplicates, orders execution never
 * reported), and how many requests each order cost.
 */
import type { Envelope } from '../../src/events/envelope.js';
import { toVenueClientOrderId } from '../../src/exchange/binance/client-order-id.js';
import type { FakeBinance, FakeRequest } from '../fake-binance/server.js';

/** The processes that call the venue, told apart by the endpoint they call. */
export type VenueCaller = 'execution' | 'marketdata' | 'monitoring-health';

/** Who sends a request to this path: execution trades, marketdata back-fills, monitoring probes. */
export function callerOf(path: string): VenueCaller {
  if (path === '/api/v3/klines') return 'marketdata';
  if (path === '/api/v3/ping' || path === '/api/v3/time') return 'monitoring-health';
  return 'execution';
}

/**
 * Requests that arrived inside `[from, until)` and were sent inside it too:
 * a signed request carries the time it was signed (`timestamp`), so one
 * sent before the window opened and still on the wire is not counted; an
 * unsigned one is counted whenever it arrived. `except` is left out (the
 * request whose answer opened the window).
 */
export function requestsInside(
  rest: Pick<FakeBinance, 'requests'>,
  window: { from: number; until: number },
  except?: FakeRequest,
): FakeRequest[] {
  return rest.requests.filter((r) => {
    if (r === except || r.time <= window.from || r.time >= window.until) return false;
    const signedAt = Number(r.params.timestamp);
    return !Number.isFinite(signedAt) || signedAt >= window.from;
  });
}

/** Counts by caller. */
export function byCaller(requests: readonly FakeRequest[]): Record<VenueCaller, number> {
  const out: Record<VenueCaller, number> = { execution: 0, marketdata: 0, 'monitoring-health': 0 };
  for (const r of requests) out[callerOf(r.path)]++;
  return out;
}

/** The venue's order table against execution's events. */
export interface OrderTableAudit {
  readonly venueOrders: number;
  /** Venue orders beyond one per client order id. */
  readonly duplicates: number;
  /** Venue orders whose client order id execution never reported placed. */
  readonly unreported: number;
}

/** Audits the venue's orders against the `order.placed` events on the order stream. */
export function auditOrderTable(rest: FakeBinance, orderEvents: readonly Envelope[]): OrderTableAudit {
  const placed = new Set(
    orderEvents
      .filter((e) => e.type === 'order.placed')
      .map((e) => toVenueClientOrderId((e.data as { orderId: string }).orderId)),
  );
  const ids = rest.orders.map((o) => o.clientOrderId);
  return {
    venueOrders: ids.length,
    duplicates: ids.length - new Set(ids).size,
    unreported: ids.filter((id) => !placed.has(id)).length,
  };
}

/** Venue requests naming each client order id (submissions, lookups, cancels), by the venue's form of the id. */
export function requestsPerOrder(rest: FakeBinance): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of rest.requests) {
    const id = r.params.newClientOrderId ?? r.params.origClientOrderId;
    if (r.path === '/api/v3/order' && id !== undefined) out.set(id, (out.get(id) ?? 0) + 1);
  }
  return out;
}

/** Approved orders (from the order stream) with no final outcome yet: filled, failed or cancelled. */
export function ordersWithoutOutcome(orderEvents: readonly Envelope[]): {
  approved: number;
  filled: number;
  failed: number;
  cancelled: number;
  open: string[];
} {
  const approved = new Set<string>();
  const ended = new Map<string, string>();
  for (const e of orderEvents) {
    const id = (e.data as { orderId?: string }).orderId;
    if (id === undefined) continue;
    if (e.type === 'order.approved') approved.add(id);
    else if (e.type === 'order.filled' || e.type === 'order.failed' || e.type === 'order.cancelled')
      ended.set(id, ended.get(id) ?? e.type);
  }
  const count = (type: string) => [...approved].filter((id) => ended.get(id) === type).length;
  return {
    approved: approved.size,
    filled: count('order.filled'),
    failed: count('order.failed'),
    cancelled: count('order.cancelled'),
    open: [...approved].filter((id) => !ended.has(id)),
  };
}
