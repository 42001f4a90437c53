/**
 * `POST /ess/flatten` (docs/architecture.md §9.6): closes every open
 * position with reduce-only emergency exits while the ESS stays tripped.
 *
 * The route decides nothing itself. It checks the committed ESS state
 * (`409` unless `tripped` or `awaitingReset`), records the request as
 * `ess.flatten_requested`, and lets the normal path act: pre-trade consumes
 * it and publishes one `order.approved` (`reduceOnly`, `emergencyExit`) per
 * non-zero position it knows from `portfolio.updated`, recorded like any
 * decision (`decidedAt`, `asOf`), so a replay of the streams reproduces it;
 * execution lets exactly such orders through while tripped. The route then
 * reads the `order` stream for each exit's outcome (`order.filled`,
 * `order.failed`, `order.cancelled`) and answers the list, `pending` for any
 * not settled within {@link FLATTEN_OUTCOME_WAIT_MS}.
 */
import type { Redis } from 'ioredis';
import { v7 as uuidv7 } from 'uuid';
import type { EssState } from '../../events/catalog.js';
import type { Logger } from '../../log.js';
import { decodeEntry } from '../../streams/codec.js';
import type { Keys } from '../../streams/keys.js';
import type { Publisher } from '../../streams/publisher-contract.js';
import { ROUTE_READ_DEADLINE_MS, withinDeadline } from './ess-deadline.js';
import type { EssControl } from './ess-status.js';
import type { FlattenDecision } from './pretrade-flatten.js';
import type { PretradeService } from './pretrade-service.js';

/** How long the request's record may wait for Redis before it is parked in the disk buffer. */
export const FLATTEN_RECORD_DEADLINE_MS = 1_000;
/** How long the route waits for pre-trade to decide the exits. */
export const FLATTEN_DECISION_WAIT_MS = 5_000;
/** How long, from the request, the route waits for the exits' outcomes. */
export const FLATTEN_OUTCOME_WAIT_MS = 10_000;
/** How often the route looks at pre-trade's decisions and the `order` stream meanwhile. */
const POLL_MS = 50;

/** How an exit ended, as the route saw it; `pending` when it had not within the wait. */
export type FlattenOutcome = 'filled' | 'failed' | 'cancelled' | 'pending';

/** One exit in the answer. */
export interface FlattenReport {
  readonly orderId: string;
  readonly symbol: string;
  readonly side: 'buy' | 'sell';
  readonly quantity: number;
  readonly outcome: FlattenOutcome;
  /** For `filled`: the price; for `failed` / `cancelled`: the reason. */
  readonly price?: number;
  readonly filledQuantity?: number;
  readonly reason?: string;
}

/** What the flatten route needs besides the ESS. */
export interface FlattenDeps {
  readonly pretrade: PretradeService;
  readonly publisher: Publisher;
  readonly redis: Redis;
  readonly keys: Keys;
  readonly now: () => number;
}

/** The route's answer: an HTTP status and its body. */
export interface FlattenAnswer {
  readonly code: 200 | 202 | 409 | 503;
  readonly body: Record<string, unknown>;
}

const HALTED: readonly EssState[] = ['tripped', 'awaitingReset'];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs one flatten request (the body already validated); QT_REDIS_UNAVAILABLE and QT_ACTOR_NOT_STARTED propagate. */
export async function flattenPositions(
  ess: EssControl,
  deps: FlattenDeps,
  request: { operator: string; reason: string; correlationId: string | undefined },
  log: Logger,
): Promise<FlattenAnswer> {
  const started = performance.now();
  // Committed, not in flight: the exits' ess.flatten_requested must follow the trip on the `ess` stream.
  const state = await ess.committedState();
  if (!HALTED.includes(state)) {
    return {
      code: 409,
      body: {
        error: 'not_tripped',
        state,
        message: `the ESS is ${state}: flatten is allowed only while it is tripped or awaitingReset`,
      },
    };
  }
  // Throws QT_ACTOR_NOT_STARTED (503) before anything is recorded, when pre-trade is not running yet.
  void deps.pretrade.host.snapshot;
  const orderStream = deps.keys.stream('order');
  const [last] = await withinDeadline(
    deps.redis.xrevrange(orderStream, '+', '-', 'COUNT', 1),
    ROUTE_READ_DEADLINE_MS,
    `reading ${orderStream}`,
  );
  let cursor = last?.[0] ?? '0-0';
  const requestId = uuidv7();
  const { operator, reason, correlationId } = request;
  const recorded = await deps.publisher.publish(
    'ess.flatten_requested',
    { requestId, operator, reason, requestedAt: new Date(deps.now()).toISOString() },
    { correlationId, deadlineMs: FLATTEN_RECORD_DEADLINE_MS },
  );
  log.warn({ requestId, operator, reason, via: recorded.via }, 'ESS flatten requested by an operator');
  if (recorded.via === 'buffer') {
    return {
      code: 202,
      body: {
        requestId,
        recordedIn: 'disk-buffer',
        orders: [],
        message: 'Redis did not answer: pre-trade decides the exits when it does; execution sends nothing meanwhile',
      },
    };
  }

  let decision: FlattenDecision | undefined;
  while (!decision && performance.now() - started < FLATTEN_DECISION_WAIT_MS) {
    decision = (deps.pretrade.host.snapshot.context.flattens ?? []).find((f) => f.requestId === requestId);
    if (!decision) await sleep(POLL_MS);
  }
  if (!decision) {
    return {
      code: 202,
      body: {
        requestId,
        recordedIn: 'redis',
        orders: [],
        message: `pre-trade has not decided the exits within ${FLATTEN_DECISION_WAIT_MS} ms; they follow when it does`,
      },
    };
  }
  if (decision.refused !== undefined) {
    return { code: 409, body: { error: 'flatten_refused', requestId, message: decision.refused } };
  }

  const reports = new Map<string, FlattenReport>(
    decision.orders.map((o) => [o.orderId, { ...o, outcome: 'pending' as FlattenOutcome }]),
  );
  const pending = () => [...reports.values()].some((r) => r.outcome === 'pending');
  while (pending() && performance.now() - started < FLATTEN_OUTCOME_WAIT_MS) {
    const entries = await withinDeadline(
      deps.redis.xrange(orderStream, `(${cursor}`, '+', 'COUNT', 1_000),
      ROUTE_READ_DEADLINE_MS,
      `reading ${orderStream}`,
    );
    for (const [entryId, fields] of entries) {
      cursor = entryId;
      const report = outcomeOf(fields, reports);
      if (report) reports.set(report.orderId, report);
    }
    if (entries.length === 0 && pending()) await sleep(POLL_MS);
  }
  const orders = [...reports.values()];
  log.warn({ requestId, orders: orders.map((o) => [o.orderId, o.outcome]) }, 'ESS flatten answered');
  return {
    code: 200,
    body: { requestId, state: ess.status().state, orders, skipped: decision.skipped },
  };
}

/** The settled report an `order` stream entry gives one of the exits, if it does. */
function outcomeOf(fields: readonly string[], reports: ReadonlyMap<string, FlattenReport>): FlattenReport | undefined {
  let event: ReturnType<typeof decodeEntry>;
  try {
    event = decodeEntry(fields);
  } catch {
    return undefined; // not ours to judge: the consumers dead-letter it
  }
  if (event.type !== 'order.filled' && event.type !== 'order.failed' && event.type !== 'order.cancelled') {
    return undefined;
  }
  const report = reports.get(event.data.orderId);
  if (report?.outcome !== 'pending') return undefined;
  switch (event.type) {
    case 'order.filled':
      return { ...report, outcome: 'filled', filledQuantity: event.data.quantity, price: event.data.price };
    case 'order.failed':
      return { ...report, outcome: 'failed', reason: event.data.reason };
    case 'order.cancelled':
      return { ...report, outcome: 'cancelled', reason: event.data.reason };
  }
}
