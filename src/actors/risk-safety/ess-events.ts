import { z } from 'zod';
import {
  DEFAULT_COOLDOWN_MS,
  DEFAULT_DAILY_LOSS_LIMIT,
  DEFAULT_FLASH_CRASH_DROP,
  DEFAULT_FLASH_CRASH_WINDOW_MS,
  DEFAULT_HARD_DRAWDOWN,
  DEFAULT_HEALTH_CRITICAL_MS,
  DEFAULT_SOFT_DRAWDOWN,
} from '../../config/defaults.js';
import { type EssTriggerSchema, EVENT_CATALOG } from '../../events/catalog.js';
import type { Envelope } from '../../events/envelope.js';

/**
 * The Emergency Stop System's edge (docs/architecture.md §9): its configuration and the
 * events its machine accepts. Every input event carries `at` (epoch ms), the
 * only notion of time the machine has.
 */

const fraction = z.number().gt(0).lt(1);
const durationMs = z.number().int().positive();

/** Thresholds of the ESS triggers; every field defaults to its `DEFAULT_*` constant. */
export const EssConfigSchema = z
  .object({
    softDrawdown: fraction.default(DEFAULT_SOFT_DRAWDOWN),
    hardDrawdown: fraction.default(DEFAULT_HARD_DRAWDOWN),
    flashCrashDrop: fraction.default(DEFAULT_FLASH_CRASH_DROP),
    flashCrashWindowMs: durationMs.default(DEFAULT_FLASH_CRASH_WINDOW_MS),
    dailyLossLimit: z.number().positive().finite().default(DEFAULT_DAILY_LOSS_LIMIT),
    healthCriticalMs: durationMs.default(DEFAULT_HEALTH_CRITICAL_MS),
    cooldownMs: durationMs.default(DEFAULT_COOLDOWN_MS),
  })
  .refine((c) => c.softDrawdown < c.hardDrawdown, {
    message: 'softDrawdown must be below hardDrawdown',
    path: ['softDrawdown'],
  });
/** Parsed ESS configuration. */
export type EssConfig = Readonly<z.output<typeof EssConfigSchema>>;
/** ESS configuration as written by an operator (any field may be left out). */
export type EssConfigInput = z.input<typeof EssConfigSchema>;

/** What tripped or reduced the ESS. */
export type EssTrigger = z.infer<typeof EssTriggerSchema>;

/** Epoch milliseconds: when the fact happened (producer time for stream events). */
const at = z.number().int().nonnegative();
const operator = z.string().min(1).max(64);
const reason = z.string().min(1).max(500);

/** A price of `market.tick`, as the flash-crash check sees it. */
export const EssTickEventSchema = EVENT_CATALOG['market.tick']
  .pick({ symbol: true, price: true })
  .extend({ type: z.literal('market.tick'), at });

/**
 * The part of `portfolio.updated` the ESS uses. `equity` is marked to market,
 * so it includes unrealized PnL; `peakEquity` seeds the drawdown high-water mark.
 */
export const EssPortfolioEventSchema = EVENT_CATALOG['portfolio.updated']
  .pick({ equity: true, peakEquity: true, dailyRealizedPnl: true })
  .extend({ type: z.literal('portfolio.updated'), at });

/** The overall status of `health.snapshot_updated`. */
export const EssHealthEventSchema = EVENT_CATALOG['health.snapshot_updated']
  .pick({ status: true })
  .extend({ type: z.literal('health.snapshot_updated'), at });

/** The passage of time, sent by the host periodically so cooldowns and durations end without new facts. */
export const EssClockEventSchema = z.object({ type: z.literal('CLOCK'), at });

/**
 * Manual trip by an operator (API or CLI; authenticated by the host).
 * `requestId` names the request: the route sends it directly and records it
 * as `ess.trip_requested`, which the ESS also consumes, so one request may
 * arrive twice; the machine applies a `requestId` once.
 */
export const EssTripCommandSchema = z.object({
  type: z.literal('TRIP'),
  at,
  operator,
  reason,
  requestId: z.string().min(1).max(128).optional(),
});

/**
 * Manual reset by an operator (authenticated by the host). `requestId`, if
 * given, is echoed in the machine's `lastReset` so a caller can match its answer.
 */
export const EssResetCommandSchema = z.object({
  type: z.literal('RESET'),
  at,
  operator,
  reason,
  requestId: z.string().min(1).max(128).optional(),
});

const INPUT_EVENT_SCHEMAS = [
  EssTickEventSchema,
  EssPortfolioEventSchema,
  EssHealthEventSchema,
  EssClockEventSchema,
  EssTripCommandSchema,
  EssResetCommandSchema,
] as const;

/** Every event that carries time into the ESS. */
export const EssInputEventSchema = z.discriminatedUnion('type', INPUT_EVENT_SCHEMAS);
export type EssInputEvent = z.infer<typeof EssInputEventSchema>;

/** The host published the outbox entries up to and including `throughSeq`; the machine drops them. */
export const EssOutboxFlushedEventSchema = z.object({
  type: z.literal('OUTBOX_FLUSHED'),
  throughSeq: z.number().int().nonnegative(),
});
export type EssOutboxFlushedEvent = z.infer<typeof EssOutboxFlushedEventSchema>;

/** Every event the ESS machine accepts. */
export const EssEventSchema = z.discriminatedUnion('type', [...INPUT_EVENT_SCHEMAS, EssOutboxFlushedEventSchema]);
export type EssEvent = z.infer<typeof EssEventSchema>;

/**
 * The ESS events for one consumed envelope (none if the ESS ignores its type).
 * `at` is the envelope's `time`: when the producer saw the fact, which is what
 * the flash-crash window and the health duration must be measured in. Pure;
 * shaped for an actor spec's `toEvents`.
 */
export function toEssEvents(envelope: Envelope): EssInputEvent[] {
  const time = Date.parse(envelope.time);
  switch (envelope.type) {
    case 'market.tick':
      return [{ type: 'market.tick', at: time, symbol: envelope.data.symbol, price: envelope.data.price }];
    case 'portfolio.updated': {
      const { equity, peakEquity, dailyRealizedPnl } = envelope.data;
      return [{ type: 'portfolio.updated', at: time, equity, peakEquity, dailyRealizedPnl }];
    }
    case 'health.snapshot_updated':
      // The ESS judges the system without its own state: a trip must not hold health CRITICAL and refuse its reset.
      return [
        {
          type: 'health.snapshot_updated',
          at: time,
          status: envelope.data.statusExcludingEss ?? envelope.data.status,
        },
      ];
    // The durable copy of an operator's trip (the ESS's own outputs on `ess` are other types, ignored).
    case 'ess.trip_requested': {
      const { operator, reason, requestId } = envelope.data;
      return [{ type: 'TRIP', at: time, operator, reason, requestId }];
    }
    default:
      return [];
  }
}
