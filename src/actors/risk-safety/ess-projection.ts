/**
 * The ESS projection: the ESS state as other services see it, a JSON value
 * at `keys.projection('ess')`. The ESS service writes it in the same commit
 * as its snapshot; execution (before every order) and the run summary read
 * it. Its shape is declared once here, on the catalog's ESS state schema, so
 * writer and readers cannot disagree about it.
 */
import { z } from 'zod';
import { type EssState, EssStateSchema, EssTriggerSchema } from '../../events/catalog.js';

/** The schema of the stored ESS projection; it is read at an edge (a Redis key), hence zod. */
export const EssProjectionSchema = z.object({
  state: EssStateSchema,
  cooldownUntil: z.iso.datetime().nullable(),
  updatedAt: z.iso.datetime(),
  /**
   * What tripped the ESS, while it is tripped or awaiting a reset: execution
   * names it in the reason of every order it refuses or cancels. Absent in a
   * projection written before it was recorded.
   */
  trip: z.object({ trigger: EssTriggerSchema, reason: z.string(), operator: z.string().optional() }).optional(),
});

/** The ESS projection: its state, the end of the cooldown (ISO time, or null), when it was written, and the trip cause. */
export type EssProjection = z.infer<typeof EssProjectionSchema>;

/** The cause of a trip as the projection carries it. */
export type EssTripCause = NonNullable<EssProjection['trip']>;

/**
 * Builds the projection from the ESS state, its cooldown end (epoch ms, or
 * null), the write time (epoch ms) and the cause of the last trip (null when
 * not tripped since the last RESET).
 */
export function essProjection(
  state: EssState,
  cooldownUntil: number | null,
  updatedAt: number,
  trip: EssTripCause | null = null,
): EssProjection {
  return {
    state,
    cooldownUntil: cooldownUntil === null ? null : new Date(cooldownUntil).toISOString(),
    updatedAt: new Date(updatedAt).toISOString(),
    ...(trip === null
      ? {}
      : {
          trip: {
            trigger: trip.trigger,
            reason: trip.reason,
            ...(trip.operator === undefined ? {} : { operator: trip.operator }),
          },
        }),
  };
}

/** Parses the stored ESS projection; undefined when it is not valid JSON of that shape. */
export function parseEssProjection(raw: string): EssProjection | undefined {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return undefined;
  }
  const parsed = EssProjectionSchema.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}

/**
 * Why the ESS stops an order, in words: its state and what tripped it
 * (`ESS tripped: tripped by operator alice: drill`), as execution writes it
 * into `order.cancelled`.
 */
export function essCauseText(state: EssState, trip: EssTripCause | undefined | null): string {
  if (!trip) return `ESS ${state}`;
  const who = trip.operator === undefined ? trip.trigger : `operator ${trip.operator}`;
  return `ESS ${state}: tripped by ${who}: ${trip.reason}`;
}
