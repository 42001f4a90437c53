/**
 * The ESS projection: the ESS state as other services see it, a JSON value
 * at `keys.projection('ess')`. The ESS service writes it in the same commit
 * as its snapshot; execution (before every order) and the run summary read
 * it. Its shape is declared once here, on the catalog's ESS state schema, so
 * writer and readers cannot disagree about it.
 */
import { z } from 'zod';
import { type EssState, EssStateSchema } from '../../events/catalog.js';

/** The schema of the stored ESS projection; it is read at an edge (a Redis key), hence zod. */
export const EssProjectionSchema = z.object({
  state: EssStateSchema,
  cooldownUntil: z.iso.datetime().nullable(),
  updatedAt: z.iso.datetime(),
});

/** The ESS projection: its state, the end of the cooldown (ISO time, or null) and when it was written. */
export type EssProjection = z.infer<typeof EssProjectionSchema>;

/** Builds the projection from the ESS state, its cooldown end (epoch ms, or null) and the write time (epoch ms). */
export function essProjection(state: EssState, cooldownUntil: number | null, updatedAt: number): EssProjection {
  return {
    state,
    cooldownUntil: cooldownUntil === null ? null : new Date(cooldownUntil).toISOString(),
    updatedAt: new Date(updatedAt).toISOString(),
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
