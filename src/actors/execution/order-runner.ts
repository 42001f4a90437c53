import { Counter, Histogram, Registry } from 'prom-client';
import { type Backoff, backoffDelay } from '../../backoff.js';
import { type ExchangeAdapter, isVenueError, type VenueOrder } from '../../exchange/adapter.js';
import { type Logger, silentLogger } from '../../log.js';
import { perRegistry } from '../../metrics.js';
import type { ActorHost } from '../host.js';
import { type EssProjection, essCauseText } from '../risk-safety/ess-projection.js';
import { gateOrder } from '../risk-safety/order-gate.js';
import { type ExecutionEvent, heldAgainst, isHalted, notReducing, type WorkingOrder } from './execution-book.js';
import type { ExecutionMachine } from './execution-machine.js';

/** An order not placed within this long after approval is given up (a market order must not go out stale). */
export const DEFAULT_MAX_PENDING_MS = 30_000;
/** How often a resting order is looked up at the venue. */
export const DEFAULT_POLL_MS = 1_000;
/** Idle wait of the runner when nothing is due (close() cuts it short). */
export const DEFAULT_IDLE_MS = 50;
/** First retry delay after a failed venue call; doubles per attempt up to {@link MAX_RETRY_DELAY_MS}. */
export const BASE_RETRY_DELAY_MS = 250;
/** The ceiling of the venue-call retry delay. */
export const MAX_RETRY_DELAY_MS = 10_000;
/** The venue-call retry policy; no jitter, because `retryAt` is committed to the book and replays must agree. */
export const VENUE_RETRY_BACKOFF: Backoff = { baseMs: BASE_RETRY_DELAY_MS, maxMs: MAX_RETRY_DELAY_MS };

/** The `service` label of the runner's series. */
const SERVICE = 'execution';

const runnerMetrics = perRegistry((registry) => {
  const metrics = {
    calls: new Counter({
      name: 'qt_venue_calls_total',
      help: 'Venue calls by call and outcome (ok or the VenueError kind)',
      labelNames: ['service', 'venue', 'call', 'outcome'],
      registers: [registry],
    }),
    latency: new Histogram({
      name: 'qt_venue_call_seconds',
      help: 'Venue call latency',
      labelNames: ['service', 'venue', 'call'],
      buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2, 10],
      registers: [registry],
    }),
    blocked: new Counter({
      name: 'qt_orders_blocked_by_ess_total',
      help: 'Orders execution refused to send because the ESS state forbids them',
      labelNames: ['service'],
      registers: [registry],
    }),
  };
  // Labelled, so it would have no sample before the first refusal: it starts at 0.
  metrics.blocked.inc({ service: SERVICE }, 0);
  return metrics;
});

/** Settings of {@link OrderRunner}. */
export interface OrderRunnerOptions {
  readonly host: ActorHost<ExecutionMachine>;
  readonly venue: ExchangeAdapter;
  /** The ESS as projected in Redis (state and trip cause); read before every call that could send an order. */
  readonly essView: () => Promise<Pick<EssProjection, 'state' | 'trip'>>;
  readonly log?: Logger;
  readonly registry?: Registry;
  readonly now?: () => number;
  readonly maxPendingMs?: number;
  readonly pollMs?: number;
  readonly idleMs?: number;
}

type Outcome = { ok: true; order: VenueOrder | undefined } | { ok: false };

/**
 * Performs the venue calls the execution book asks for, one at a time, and
 * reports each answer back to the actor as an event (committed with the
 * events it produces before the next call).
 *
 * The rules that keep an order from being placed twice or placed against the
 * ESS:
 * 1. It acts only on committed state ({@link ActorHost.read}).
 * 2. Before a submit it reads the ESS projection; an order the ESS state
 *    forbids is cancelled (`order.cancelled`), never sent. If Redis cannot be
 *    read, nothing is sent.
 * 3. A submit is recorded (SUBMITTING, attempts + 1) in Redis BEFORE the
 *    venue call. So after any crash or unknown answer, attempts > 0 and the
 *    order is looked up by its client order id before it is ever sent again.
 * 4. An order still unplaced `maxPendingMs` after approval is given up
 *    (`order.failed`, retryable) once the venue confirms it does not have it.
 */
export class OrderRunner {
  readonly #o: OrderRunnerOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #metrics: ReturnType<typeof runnerMetrics>;
  readonly #lastPoll = new Map<string, number>();
  /** Steps taken so far (venue calls and their reports), for {@link work}. */
  #steps = 0;
  #wake: (() => void) | undefined;
  #closing = false;
  #loop: Promise<void> | undefined;
  #closed: Promise<void> | undefined;

  constructor(options: OrderRunnerOptions) {
    this.#o = options;
    this.#log = (options.log ?? silentLogger).child({ component: 'order-runner', venue: options.venue.venue });
    this.#now = options.now ?? Date.now;
    this.#metrics = runnerMetrics(options.registry ?? new Registry());
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** Stops after the call in hand. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#closing = true;
      this.#wake?.();
      await this.#loop;
    })();
    return this.#closed;
  }

  async #run(): Promise<void> {
    while (!this.#closing) {
      let worked = false;
      try {
        const now = this.#now();
        const due = await this.#o.host.read((s) => this.#due(Object.values(s.context.orders), now));
        for (const order of due) {
          if (this.#closing) break;
          try {
            await this.#step(order);
          } finally {
            this.#steps++;
          }
          worked = true;
        }
      } catch (err) {
        this.#log.warn({ err: (err as Error).message }, 'order runner step failed; retrying');
        await this.#sleep(BASE_RETRY_DELAY_MS);
      }
      if (!worked) await this.#sleep(this.#o.idleMs ?? DEFAULT_IDLE_MS);
    }
  }

  /**
   * Whether orders are due for a venue call now (on the committed book), and
   * the steps taken so far: what a replay at max speed waits for before its
   * next instant (src/actors/replay-run.ts).
   */
  async work(): Promise<{ held: boolean; done: number }> {
    const done = this.#steps;
    const now = this.#now();
    const held = await this.#o.host.read((s) => this.#due(Object.values(s.context.orders), now).length > 0);
    return { held, done };
  }

  #due(orders: readonly WorkingOrder[], now: number): WorkingOrder[] {
    const pollMs = this.#o.pollMs ?? DEFAULT_POLL_MS;
    return orders
      .filter((o) => {
        if (o.notBefore > now) return false;
        if (o.status === 'open') return now - (this.#lastPoll.get(o.orderId) ?? 0) >= pollMs;
        return true;
      })
      .sort((a, b) => a.createdAt - b.createdAt);
  }

  #step(order: WorkingOrder): Promise<void> {
    switch (order.status) {
      case 'pending':
      case 'submitting':
        return this.#submit(order);
      case 'cancelling':
        return this.#cancel(order);
      case 'open':
        return this.#poll(order);
    }
  }

  async #submit(order: WorkingOrder): Promise<void> {
    const { venue } = this.#o;
    const now = this.#now();
    if (order.attempts > 0) {
      // A submit was started before: the venue may have the order. Ask first.
      const found = await this.#call(order, 'find', () => venue.findOrder(order.symbol, order.orderId));
      if (!found.ok) return;
      if (found.order) return this.#report(order, found.order);
    }
    // Read as late as possible: the last thing before the order can go out.
    const ess = await this.#o.essView();
    const gate = gateOrder(ess.state, { reduceOnly: order.reduceOnly, emergencyExit: order.emergencyExit === true });
    // While halted an exit goes out only if it still closes what execution holds (a TP/SL fill may have closed it).
    const stale =
      gate.allowed && isHalted(ess.state) && order.emergencyExit === true
        ? await this.#o.host.read((s) => heldAgainst(s.context, order) < order.quantity * (1 - 1e-9))
        : false;
    if (!gate.allowed || stale) {
      this.#metrics.blocked.inc({ service: SERVICE });
      this.#log.warn({ orderId: order.orderId, ess: ess.state }, 'order not sent: the ESS forbids it');
      const reason = gate.allowed ? notReducing(order) : `${essCauseText(ess.state, ess.trip)} (${gate.reason})`;
      return this.#send(order, { type: 'BLOCKED', orderId: order.orderId, reason, at: now });
    }
    const maxPending = this.#o.maxPendingMs ?? DEFAULT_MAX_PENDING_MS;
    if (now - order.createdAt > maxPending) {
      const why = order.lastError ? ` (last error: ${order.lastError})` : '';
      return this.#send(order, {
        type: 'GIVE_UP',
        orderId: order.orderId,
        reason: `not placed within ${maxPending} ms of approval${why}`,
        at: now,
      });
    }
    const snapshot = await this.#o.host.send({ type: 'SUBMITTING', orderId: order.orderId, at: now }, traceOf(order));
    const current = snapshot.context.orders[order.orderId];
    if (current?.status !== 'submitting' || current.attempts !== order.attempts + 1) return; // the book moved on
    const placed = await this.#call(order, 'place', () =>
      venue.placeOrder({
        clientOrderId: order.orderId,
        symbol: order.symbol,
        side: order.side,
        type: order.type,
        quantity: order.quantity,
        ...(order.price === undefined ? {} : { price: order.price }),
      }),
    );
    if (placed.ok && placed.order) await this.#report(order, placed.order);
  }

  async #cancel(order: WorkingOrder): Promise<void> {
    const { venue } = this.#o;
    const done = await this.#call(order, 'cancel', () => venue.cancelOrder(order.symbol, order.orderId), {
      rejectedIsFinal: false,
    });
    if (!done.ok) return;
    let answer = done.order;
    if (!answer) {
      const found = await this.#call(order, 'find', () => venue.findOrder(order.symbol, order.orderId));
      if (!found.ok) return;
      answer = found.order;
    }
    if (answer) return this.#report(order, answer);
    const reason = order.cancelReason ?? 'ESS tripped';
    return this.#send(order, { type: 'BLOCKED', orderId: order.orderId, reason, at: this.#now() });
  }

  async #poll(order: WorkingOrder): Promise<void> {
    this.#lastPoll.set(order.orderId, this.#now());
    const found = await this.#call(order, 'find', () => this.#o.venue.findOrder(order.symbol, order.orderId));
    if (found.ok && found.order && found.order.status !== 'new' && found.order.status !== 'partially_filled') {
      this.#lastPoll.delete(order.orderId);
      await this.#report(order, found.order);
    }
  }

  /**
   * Commits a venue answer to the book, with the events it produces: the
   * answer itself as `order.reported`, which the trade store's writer
   * records (trade-store-writer.ts). The runner never waits for the store.
   */
  async #report(order: WorkingOrder, answer: VenueOrder): Promise<void> {
    await this.#send(order, { type: 'VENUE_ORDER', orderId: order.orderId, order: answer, at: this.#now() });
  }

  /**
   * Makes one venue call, timing it. A VenueError becomes the book event it
   * means: `rejected` fails the order (unless the caller handles it), every
   * other kind schedules a retry (`retryAt` of a rate limit or ban, else
   * exponential backoff). Any other error is treated as `unknown`.
   */
  async #call(
    order: WorkingOrder,
    call: string,
    fn: () => Promise<VenueOrder | undefined>,
    { rejectedIsFinal = true } = {},
  ): Promise<Outcome> {
    const venue = this.#o.venue.venue;
    const stop = this.#metrics.latency.startTimer({ service: SERVICE, venue, call });
    try {
      const answer = await fn();
      this.#metrics.calls.inc({ service: SERVICE, venue, call, outcome: 'ok' });
      return { ok: true, order: answer };
    } catch (err) {
      const kind = isVenueError(err) ? err.kind : 'unknown';
      this.#metrics.calls.inc({ service: SERVICE, venue, call, outcome: kind });
      const now = this.#now();
      const message = (err as Error).message;
      if (kind === 'rejected') {
        if (!rejectedIsFinal) return { ok: true, order: undefined };
        await this.#send(order, { type: 'VENUE_REJECTED', orderId: order.orderId, reason: message, at: now });
        return { ok: false };
      }
      // `attempts` counts submissions, the failed one included: the first failure waits the base delay.
      const backoff = backoffDelay(VENUE_RETRY_BACKOFF, Math.max(1, order.attempts));
      const retryAt = isVenueError(err) && err.retryAt !== undefined ? err.retryAt : now + backoff;
      this.#log.warn({ orderId: order.orderId, call, kind, retryAt, err: message }, 'venue call failed; will retry');
      await this.#send(order, {
        type: 'VENUE_RETRY',
        orderId: order.orderId,
        reason: `${kind}: ${message}`,
        retryAt,
        at: now,
      });
      return { ok: false };
    } finally {
      stop();
    }
  }

  /** Commits an event about `order`; what it publishes carries the order's correlation and causation ids. */
  async #send(order: WorkingOrder, event: ExecutionEvent): Promise<void> {
    await this.#o.host.send(event, traceOf(order));
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }
}

function traceOf(order: WorkingOrder): { correlationId?: string; causationId?: string } {
  return {
    ...(order.correlationId === undefined ? {} : { correlationId: order.correlationId }),
    ...(order.causationId === undefined ? {} : { causationId: order.causationId }),
  };
}
