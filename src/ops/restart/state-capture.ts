/**
 * The state a restart must bring back: the venue's balances (execution's
 * `GET /balances`), execution's positions and open orders and any order
 * still in flight (its actor snapshot in Redis), and the ESS state with its
 * cooldown (its projection). Captured before the stop, read again after the
 * start, and compared: a difference fails the restart, unless events
 * published after the capture explain it (a take-profit filled while
 * execution caught up: the order stream says so) (docs/operations.md).
 */
import type { Redis } from 'ioredis';
import { parseEssProjection } from '../../actors/risk-safety/ess-projection.js';
import { decodeEntry } from '../../streams/codec.js';
import type { Keys } from '../../streams/keys.js';

/** An order of execution's book, as compared. */
export interface BookOrder {
  readonly orderId: string;
  readonly symbol: string;
  readonly status: string;
}

/** What execution's actor snapshot holds that a restart must keep. */
export interface ExecutionState {
  readonly positions: Record<string, { quantity: number; avgPrice: number }>;
  readonly orders: BookOrder[];
}

/** The ESS as its projection says (null: never written, i.e. armed). */
export interface EssState {
  readonly state: string;
  readonly cooldownUntil: string | null;
}

/** Statuses of an order that is in flight: sent or to be sent, its answer not committed. */
export const IN_FLIGHT = ['pending', 'submitting', 'cancelling'];

/** Execution's positions and orders from its snapshot in Redis; empty when it never committed one. */
export async function readExecutionState(redis: Redis, keys: Keys): Promise<ExecutionState> {
  const raw = await redis.get(keys.actorSnapshot('execution'));
  if (raw === null) return { positions: {}, orders: [] };
  const context = (JSON.parse(raw) as { context?: Record<string, unknown> }).context ?? {};
  const orders = Object.values((context.orders ?? {}) as Record<string, BookOrder>)
    .map((o) => ({ orderId: o.orderId, symbol: o.symbol, status: o.status }))
    .sort((a, b) => a.orderId.localeCompare(b.orderId));
  const positions = (context.positions ?? {}) as ExecutionState['positions'];
  return { positions: JSON.parse(JSON.stringify(positions)), orders };
}

/** The ESS state and cooldown from its projection. */
export async function readEssState(redis: Redis, keys: Keys): Promise<EssState> {
  const raw = await redis.get(keys.projection('ess'));
  if (raw === null) return { state: 'armed', cooldownUntil: null };
  const projection = parseEssProjection(raw);
  if (!projection) throw new Error(`the ESS projection ${keys.projection('ess')} is unreadable`);
  return { state: projection.state, cooldownUntil: projection.cooldownUntil ?? null };
}

/** Execution's `GET /balances`. */
export async function readBalances(executionUrl: string): Promise<unknown> {
  const response = await fetch(`${executionUrl}/balances`, { signal: AbortSignal.timeout(5_000) });
  if (!response.ok) throw new Error(`GET /balances answered HTTP ${response.status}`);
  return response.json();
}

/** The last entry id of each stream, to find what was published after a capture. */
export async function streamCursor(
  redis: Redis,
  keys: Keys,
  topics: readonly string[],
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const topic of topics) {
    const last = await redis.xrevrange(keys.stream(topic), '+', '-', 'COUNT', 1);
    out[topic] = last[0]?.[0] ?? '0-0';
  }
  return out;
}

/** Event types published on `topic` after `cursor`, with the symbol or order they name. */
async function eventsSince(
  redis: Redis,
  keys: Keys,
  topic: string,
  cursor: string,
): Promise<{ type: string; symbol?: string; orderId?: string }[]> {
  const entries = await redis.xrange(keys.stream(topic), `(${cursor}`, '+');
  return entries.flatMap(([, fields]) => {
    try {
      const e = decodeEntry(fields);
      const data = e.data as { symbol?: string; orderId?: string };
      return [
        {
          type: e.type,
          ...(data.symbol ? { symbol: data.symbol } : {}),
          ...(data.orderId ? { orderId: data.orderId } : {}),
        },
      ];
    } catch {
      return [];
    }
  });
}

/** The state captured before the stop. */
export interface CapturedState {
  readonly balances?: unknown;
  readonly balancesCursor?: Record<string, string>;
  readonly execution?: ExecutionState;
  readonly ess?: EssState;
  readonly stateCursor?: Record<string, string>;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * Compares what came back with what was captured. Returns the differences
 * no later event explains (empty: the state came back) and the ones that
 * later events do explain, as notes.
 */
export async function compareState(
  redis: Redis,
  keys: Keys,
  before: CapturedState,
  after: { balances: unknown; execution: ExecutionState; ess: EssState },
): Promise<{ problems: string[]; notes: string[] }> {
  const problems: string[] = [];
  const notes: string[] = [];
  const fillsAfter = async (cursor: Record<string, string> | undefined) =>
    (await eventsSince(redis, keys, 'order', cursor?.order ?? '0-0')).filter((e) => e.type === 'order.filled');
  if (before.balances !== undefined && !same(before.balances, after.balances)) {
    const fills = await fillsAfter(before.balancesCursor);
    if (fills.length > 0) notes.push(`balances changed by ${fills.length} fill(s) after the capture`);
    else
      problems.push(
        `balances differ: before ${JSON.stringify(before.balances)}, after ${JSON.stringify(after.balances)}`,
      );
  }
  if (before.execution) {
    const events = await eventsSince(redis, keys, 'order', before.stateCursor?.order ?? '0-0');
    const movedSymbols = new Set(events.filter((e) => e.type === 'order.filled').map((e) => e.symbol));
    const movedOrders = new Set(events.map((e) => e.orderId));
    const symbols = new Set([...Object.keys(before.execution.positions), ...Object.keys(after.execution.positions)]);
    for (const symbol of symbols) {
      const a = before.execution.positions[symbol];
      const b = after.execution.positions[symbol];
      if (same(a, b)) continue;
      if (movedSymbols.has(symbol)) notes.push(`${symbol} position changed by a fill after the capture`);
      else
        problems.push(
          `${symbol} position differs: before ${JSON.stringify(a ?? null)}, after ${JSON.stringify(b ?? null)}`,
        );
    }
    const open = (s: ExecutionState) => s.orders.filter((o) => o.status === 'open');
    const beforeOpen = open(before.execution).filter((o) => !movedOrders.has(o.orderId));
    const afterOpen = open(after.execution).filter((o) => !movedOrders.has(o.orderId));
    if (!same(beforeOpen, afterOpen))
      problems.push(`open orders differ: before ${JSON.stringify(beforeOpen)}, after ${JSON.stringify(afterOpen)}`);
  }
  if (before.ess && !same(before.ess, after.ess)) {
    const essEvents = await eventsSince(redis, keys, 'ess', before.stateCursor?.ess ?? '0-0');
    const changes = essEvents.filter((e) => ['ess.tripped', 'ess.reset', 'ess.state_changed'].includes(e.type));
    if (changes.length > 0) notes.push(`ESS changed after the capture (${changes.map((e) => e.type).join(', ')})`);
    else problems.push(`ESS differs: before ${JSON.stringify(before.ess)}, after ${JSON.stringify(after.ess)}`);
  }
  return { problems, notes };
}
