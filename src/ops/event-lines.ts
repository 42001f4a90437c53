/**
 * The log lines of `npm start` for single events: one line per order placed,
 * filled, cancelled or failed and per ESS transition, with the event's own
 * fields as structured keys and a human message (RunSummary logs them as it
 * tails the streams). Pure, so each line can be tested without Redis.
 */
import type { EventData, EventType } from '../events/catalog.js';
import type { Envelope } from '../events/envelope.js';

/** The event types that get a line of their own. */
export const LINE_EVENT_TYPES = [
  'order.placed',
  'order.filled',
  'order.cancelled',
  'order.failed',
  'ess.tripped',
  'ess.state_changed',
  'ess.reset',
] as const satisfies readonly EventType[];

/** One log record: structured fields and the human message. */
export interface EventLine {
  /**
   * `event` (the type), the event's data fields as they are, and its
   * `correlationId`; for a cancelled or failed order also the `quantity`
   * its approval or placement carried, when that was seen.
   */
  readonly fields: Readonly<Record<string, unknown>>;
  readonly msg: string;
}

/** What an earlier event of the same order said that its ending events do not carry. */
export interface KnownOrder {
  readonly quantity: number;
}

/**
 * A number with at least two decimals and four significant digits, trailing
 * zeros past the second decimal dropped: `65012.30`, `0.80`, `0.1235`, `0.0000123`.
 */
export function formatAmount(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const magnitude = value === 0 ? 0 : Math.floor(Math.log10(Math.abs(value)));
  const decimals = Math.min(12, Math.max(2, 3 - magnitude));
  return value.toFixed(decimals).replace(/(\.\d\d\d*?)0+$/, '$1');
}

/** A quantity as exchanges state it: up to eight decimals, no trailing zeros: `0.0123`, `0.5`, `2`. */
export function formatQuantity(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  return value.toFixed(8).replace(/\.?0+$/, '');
}

function order(data: { side: string; symbol: string }, quantity: number | undefined): string {
  const size = quantity === undefined ? '' : ` ${formatQuantity(quantity)}`;
  return `${data.side.toUpperCase()}${size} ${data.symbol}`;
}

function placed(d: EventData<'order.placed'>): string {
  const at = d.price === undefined ? 'at market' : `@ ${formatAmount(d.price)}`;
  return `placed ${order(d, d.quantity)} ${at} on ${d.venue}`;
}

function filled(d: EventData<'order.filled'>): string {
  return `filled ${order(d, d.quantity)} @ ${formatAmount(d.price)} fee ${formatAmount(d.fee)} ${d.feeAsset}`;
}

function tripped(d: EventData<'ess.tripped'>): string {
  const by = d.operator === undefined ? '' : ` by ${d.operator}`;
  return `ESS trip (${d.trigger}${by}): ${d.reason}; cooldown until ${d.cooldownUntil}`;
}

function stateChanged(d: EventData<'ess.state_changed'>): string {
  const trigger = d.trigger === undefined ? '' : `${d.trigger} `;
  const cooldown = d.cooldownUntil === undefined ? '' : `; cooldown until ${d.cooldownUntil}`;
  return `ESS ${d.from} → ${d.to}: ${trigger}${d.reason}${cooldown}`;
}

/**
 * The line of one event, or undefined for a type outside
 * {@link LINE_EVENT_TYPES}. `known` is what the order's earlier events said
 * (see {@link OrderSizes}), for the ending events that do not carry it.
 * E.g. `filled BUY 0.0123 BTCUSDT @ 65012.30 fee 0.80 USDT`,
 * `cancelled SELL 0.5 ETHUSDT: ESS tripped: TRADING_HALTED`,
 * `ESS armed → tripped: flash_crash BTCUSDT fell 25.0% from 65000 to 48750 in 200 ms; cooldown until …`.
 */
export function eventLine(envelope: Envelope, known?: KnownOrder): EventLine | undefined {
  const base = { event: envelope.type, ...envelope.data };
  const line = (msg: string, extra: Record<string, unknown> = {}): EventLine => ({
    fields: { ...base, ...extra, correlationId: envelope.correlationId },
    msg,
  });
  const size = known === undefined ? {} : { quantity: known.quantity };
  switch (envelope.type) {
    case 'order.placed':
      return line(placed(envelope.data));
    case 'order.filled':
      return line(filled(envelope.data));
    case 'order.cancelled':
      return line(`cancelled ${order(envelope.data, known?.quantity)}: ${envelope.data.reason}`, size);
    case 'order.failed': {
      const d = envelope.data;
      const retry = d.retryable ? 'retryable' : 'not retryable';
      return line(`failed ${order(d, known?.quantity)}: ${d.reason} (${retry})`, size);
    }
    case 'ess.tripped':
      return line(tripped(envelope.data));
    case 'ess.state_changed':
      return line(stateChanged(envelope.data));
    case 'ess.reset':
      return line(`ESS reset by ${envelope.data.operator}: ${envelope.data.reason}`);
    default:
      return undefined;
  }
}

/** How many open orders {@link OrderSizes} remembers by default. */
export const ORDER_SIZES_KEPT = 10_000;

/**
 * The quantity of each order still open, learnt from its `order.approved`
 * or `order.placed`, so the line of its `order.cancelled` or `order.failed`
 * (which carry none) can say how much. Bounded: past `limit` open orders the
 * oldest are forgotten, and their ending lines have no quantity.
 */
export class OrderSizes {
  readonly #sizes = new Map<string, KnownOrder>();
  readonly #limit: number;

  constructor(limit = ORDER_SIZES_KEPT) {
    this.#limit = limit;
  }

  /**
   * Learns from one event in stream order and returns what was known of its
   * order before it (for the event's line); an order's last event forgets it.
   */
  observe(envelope: Envelope): KnownOrder | undefined {
    switch (envelope.type) {
      case 'order.approved':
      case 'order.placed': {
        const known = this.#sizes.get(envelope.data.orderId);
        this.#sizes.delete(envelope.data.orderId);
        this.#sizes.set(envelope.data.orderId, { quantity: envelope.data.quantity });
        while (this.#sizes.size > this.#limit) {
          const oldest = this.#sizes.keys().next().value;
          if (oldest === undefined) break;
          this.#sizes.delete(oldest);
        }
        return known;
      }
      case 'order.filled':
      case 'order.cancelled':
      case 'order.failed': {
        const known = this.#sizes.get(envelope.data.orderId);
        this.#sizes.delete(envelope.data.orderId);
        return known;
      }
      default:
        return undefined;
    }
  }

  /** Open orders remembered. */
  get size(): number {
    return this.#sizes.size;
  }
}
