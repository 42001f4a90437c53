import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AdminGuard } from '../../http/auth.js';
import { type Logger, silentLogger } from '../../log.js';
import type { Publisher } from '../../streams/publisher.js';
import { type PolicyStore, RiskPolicyPatchSchema } from './policy.js';

/**
 * The body of `PUT /policy`: who changes it and the fields to change. Strict
 * at both levels, so a misspelt limit is refused rather than ignored; at
 * least one field must be given.
 */
export const PolicyUpdateBodySchema = z.strictObject({
  operator: z.string().trim().min(1).max(64),
  policy: RiskPolicyPatchSchema.refine((patch) => Object.keys(patch).length > 0, {
    message: 'at least one policy field is required',
  }),
});
export type PolicyUpdateBody = z.infer<typeof PolicyUpdateBodySchema>;

/** What {@link registerPolicyRoutes} needs. */
export interface PolicyRoutesOptions {
  readonly store: PolicyStore;
  /** Publishes the `risk.policy_updated` audit event. */
  readonly publisher: Publisher;
  /** Guards `PUT /policy` (404 when admin is disabled, 401 without the token). */
  readonly guardAdmin: AdminGuard;
  readonly log?: Logger;
}

/**
 * The risk policy over HTTP (DESIGN §7): `GET /policy` answers the policy in
 * force; `PUT /policy` (admin Bearer token) merges a partial policy onto it,
 * stores the result and publishes `risk.policy_updated` with the operator
 * and the whole new policy as the audit record. A refused request (404, 401,
 * 400) changes nothing. The event follows the write: if publishing fails the
 * request fails (500) with the new policy already stored, and the error is
 * logged.
 */
export function registerPolicyRoutes(app: FastifyInstance, options: PolicyRoutesOptions): void {
  const { store, publisher, guardAdmin } = options;
  const log = options.log ?? silentLogger;

  app.get('/policy', async () => store.load());

  app.put('/policy', async (request, reply) => {
    if (!guardAdmin(request, reply)) return reply;
    const body = PolicyUpdateBodySchema.safeParse(request.body);
    if (!body.success) {
      return reply.code(400).send({ error: 'invalid_body', issues: body.error.issues });
    }
    const { operator, policy: patch } = body.data;
    const policy = await store.update(patch);
    const correlationId = String(reply.getHeader('x-correlation-id') ?? '') || undefined;
    try {
      await publisher.publish('risk.policy_updated', { operator, policy }, { correlationId });
    } catch (err) {
      log.error({ operator, err: (err as Error).message }, 'risk policy stored but its audit event was not published');
      throw err;
    }
    log.warn({ operator, changed: patch, policy }, 'risk policy updated');
    return reply.send(policy);
  });
}
