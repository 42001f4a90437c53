import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { currentCorrelationId } from '../../correlation.js';
import { isQtError, QtError } from '../../errors.js';
import type { AdminGuard } from '../../http/auth.js';
import { type Logger, silentLogger } from '../../log.js';
import { decodeEntry } from '../../streams/codec.js';
import type { Keys } from '../../streams/keys.js';
import type { Publisher } from '../../streams/publisher.js';
import {
  isRedisConnectionError,
  isRedisUnavailable,
  ROUTE_READ_DEADLINE_MS,
  sendUnavailable,
  withinDeadline,
} from './ess-deadline.js';
import { type PolicyStore, type RiskPolicy, RiskPolicyPatchSchema, RiskPolicySchema } from './policy.js';

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

/** What {@link registerPolicyRoutes} needs. */
export interface PolicyRoutesOptions {
  readonly store: PolicyStore;
  /** Publishes `risk.policy_updated`, the event pre-trade takes the policy from. */
  readonly publisher: Publisher;
  /** Guards `PUT /policy` (404 when admin is disabled, 401 without the token). */
  readonly guardAdmin: AdminGuard;
  readonly log?: Logger;
}

/**
 * The risk policy over HTTP (docs/actors.md, pre-trade): `GET /policy`
 * answers the stored policy; `PUT /policy` (admin Bearer token) merges a
 * partial policy onto it, stores the result and publishes
 * `risk.policy_updated` with the operator and the whole new policy. That
 * event, not the store, is what the pre-trade actor decides by: a change is in
 * force from the first signal the actor handles after consuming it. The store
 * is the API's read model. Updates are serialized with their events (see
 * {@link PolicyStore.update}), so the last event always carries the last
 * stored policy. A refused request (404, 401, 400: a bad body, or limits
 * that contradict each other, `invalid_policy`) changes nothing. The event
 * follows the write: if publishing fails the request fails (500) with the new
 * policy already stored but not in force, and the error is logged; repeating
 * the PUT publishes it, since every event carries the whole policy.
 *
 * When Redis does not answer, both routes answer `503` with a JSON reason
 * (QT_REDIS_UNAVAILABLE) instead of waiting for the command timeout: `GET`
 * after {@link ROUTE_READ_DEADLINE_MS}; `PUT` reads the policy first within
 * that deadline, so a PUT refused then wrote nothing (`written: false`), and
 * says when a write was sent but not confirmed (`written: 'unknown'`).
 */
export function registerPolicyRoutes(app: FastifyInstance, options: PolicyRoutesOptions): void {
  const { store, publisher, guardAdmin } = options;
  const log = options.log ?? silentLogger;

  app.get('/policy', async (_request, reply) => {
    try {
      return reply.send(await withinDeadline(store.load(), ROUTE_READ_DEADLINE_MS, `reading ${store.key}`));
    } catch (err) {
      if (isRedisUnavailable(err)) return sendUnavailable(reply, err);
      throw err;
    }
  });

  app.put('/policy', async (request, reply) => {
    if (!guardAdmin(request, reply)) return reply;
    const body = PolicyUpdateBodySchema.safeParse(request.body);
    if (!body.success) {
      return reply.code(400).send({ error: 'invalid_body', issues: body.error.issues });
    }
    const { operator, policy: patch } = body.data;
    const correlationId = currentCorrelationId();
    try {
      // A write queued behind a stalled Redis would land later, unseen: nothing is sent unless Redis answers.
      await withinDeadline(store.load(), ROUTE_READ_DEADLINE_MS, `reading ${store.key}`);
    } catch (err) {
      if (isRedisUnavailable(err)) return sendUnavailable(reply, err, { written: false });
      throw err;
    }
    let policy: RiskPolicy;
    try {
      policy = await store.update(patch, async (next) => {
        try {
          await publisher.publish('risk.policy_updated', { operator, policy: next }, { correlationId });
        } catch (err) {
          log.error(
            { operator, err: (err as Error).message },
            'risk policy stored but its event was not published: not in force',
          );
          throw err;
        }
      });
    } catch (err) {
      // Redis stalled between the read and the write: the write may still land when it answers.
      const unavailable = stalled(err);
      if (unavailable) {
        return sendUnavailable(reply, unavailable, {
          written: 'unknown',
          note: 'the change was sent but not confirmed; check GET /policy when Redis answers',
        });
      }
      // Limits that contradict each other are the caller's to fix: nothing was stored or published.
      if (!isQtError(err, 'QT_POLICY_CONTRADICTORY')) throw err;
      return reply.code(400).send({ error: 'invalid_policy', issues: err.details?.issues });
    }
    log.warn({ operator, changed: patch, policy }, 'risk policy updated');
    return reply.send(policy);
  });
}

/** The operator named in the `risk.policy_updated` that {@link announceStoredPolicy} publishes. */
export const STORED_POLICY_OPERATOR = 'risk-safety';

/**
 * Publishes the stored policy as `risk.policy_updated` when the last such
 * event on the `risk` stream does not carry it, and says whether it did.
 * Pre-trade decides by the events only, so without this a stored policy that
 * no event carries (a PUT whose event failed, a `risk` stream trimmed before
 * pre-trade consumed it, a key written by hand) would show in `GET /policy`
 * but never be in force. Runs at start, before the routes take requests; a
 * stored policy that does not load stops the start (QT_CONFIG_INVALID), as
 * it never falls back to the defaults. Nothing stored: nothing to announce.
 */
export async function announceStoredPolicy(options: {
  readonly store: PolicyStore;
  readonly publisher: Publisher;
  readonly redis: Redis;
  readonly keys: Keys;
  readonly log?: Logger;
}): Promise<boolean> {
  const { store, redis, keys } = options;
  if ((await redis.exists(store.key)) === 0) return false;
  const stored = await store.load();
  const [last] = await redis.xrevrange(keys.stream('risk'), '+', '-', 'COUNT', 1);
  const event = last ? decodeEntry(last[1]) : undefined;
  if (event?.type === 'risk.policy_updated' && samePolicy(RiskPolicySchema.parse(event.data.policy), stored)) {
    return false;
  }
  await options.publisher.publish('risk.policy_updated', { operator: STORED_POLICY_OPERATOR, policy: stored });
  (options.log ?? silentLogger).warn(
    { policy: stored },
    'stored risk policy was not the last one published: published it',
  );
  return true;
}

/** The QT_REDIS_UNAVAILABLE error for a store update that Redis did not answer, if that is what `err` is. */
function stalled(err: unknown): QtError | undefined {
  if (isRedisUnavailable(err)) return err;
  // The store's own calls have no deadline: they fail with ioredis's timeout or connection error.
  if (!isRedisConnectionError(err)) return undefined;
  return new QtError('QT_REDIS_UNAVAILABLE', `updating the risk policy: ${(err as Error).message}`, { cause: err });
}

function samePolicy(a: RiskPolicy, b: RiskPolicy): boolean {
  return (Object.keys(a) as (keyof RiskPolicy)[]).every((k) => a[k] === b[k]);
}
