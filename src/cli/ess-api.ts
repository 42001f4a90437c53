/**
 * What the `qt ess` commands read of risk-safety's API: where it is, and
 * `GET /ess` (the actor's state, confirmed against the projection execution
 * reads; docs/architecture.md §9.6), checked at the edge.
 */
import { z } from 'zod';
import { EssProjectionSchema } from '../actors/risk-safety/ess-projection.js';
import { EssStateSchema } from '../events/catalog.js';
import type { CliContext } from './context.js';
import { CliError, EXIT } from './exit-codes.js';
import { callService, parseAnswer, type ServiceEndpoint, serviceEndpoint } from './http-client.js';

/** How long `trip` and `reset` wait for risk-safety (each answers within about 3 s whatever Redis does). */
export const ESS_COMMAND_TIMEOUT_MS = 10_000;

/** The last RESET's answer, as `GET /ess` carries it. */
export const LastResetSchema = z.object({
  at: z.number(),
  operator: z.string(),
  requestId: z.string().optional(),
  accepted: z.boolean(),
  from: EssStateSchema.optional(),
  state: EssStateSchema.optional(),
  code: z.string().optional(),
  message: z.string().optional(),
  cooldownUntil: z.string().optional(),
  remainingMs: z.number().optional(),
});

/** The ESS as risk-safety's actor has it (the body of `GET /ess` without the projection). */
export const EssActorStatusSchema = z.object({
  state: EssStateSchema,
  cooldownUntil: z.string().nullable(),
  remainingCooldownMs: z.number(),
  lastReset: LastResetSchema.nullable(),
});

/** The body of `GET /ess`. */
export const EssAnswerSchema = EssActorStatusSchema.extend({ projection: EssProjectionSchema.nullable() });

/** `qt ess status --json`: the actor's state, what tripped it, the last reset, and the projection execution reads. */
export const EssStatusOutputSchema = EssActorStatusSchema.extend({
  trip: z.object({ trigger: z.string(), reason: z.string(), operator: z.string().optional() }).nullable(),
  projection: EssProjectionSchema.nullable(),
  /** True when the projection execution reads agrees with the actor (no projection: armed, never tripped). */
  confirmed: z.boolean(),
});
export type EssStatusOutput = z.infer<typeof EssStatusOutputSchema>;

/** risk-safety's API as `qt` reaches it. */
export function riskSafety(ctx: CliContext, url: string | undefined): ServiceEndpoint {
  return serviceEndpoint(ctx, 'risk-safety', url);
}

/** Reads `GET /ess`; a 503 (Redis not answering) is exit 4 naming the state the actor holds, unconfirmed. */
export async function readEss(endpoint: ServiceEndpoint): Promise<EssStatusOutput> {
  const { status, body } = await callService(endpoint, { path: '/ess' }, [200, 503]);
  if (status === 503) {
    const b = (body ?? {}) as { message?: string; unconfirmed?: { state?: string }; note?: string };
    const held = b.unconfirmed?.state ? `; risk-safety's actor holds ${b.unconfirmed.state}, not confirmed` : '';
    throw new CliError(
      EXIT.SERVICE_UNREACHABLE,
      `${endpoint.service} at ${endpoint.baseUrl} cannot confirm the ESS state (503): ${b.message ?? 'Redis unavailable'}${held}${b.note ? `; ${b.note}` : ''}`,
    );
  }
  const answer = parseAnswer(EssAnswerSchema, body, endpoint, 'GET /ess');
  const projection = answer.projection;
  return {
    ...answer,
    trip: projection?.trip ?? null,
    confirmed: projection === null ? answer.state === 'armed' : projection.state === answer.state,
  };
}
