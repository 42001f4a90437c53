import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * True when an `Authorization` header carries `Bearer <token>`. Both sides
 * are hashed first so the comparison is constant-time whatever the lengths,
 * and the token's length does not leak either.
 */
export function bearerMatches(header: string | undefined, token: string): boolean {
  if (!header?.startsWith('Bearer ')) return false;
  const given = createHash('sha256').update(header.slice('Bearer '.length)).digest();
  const expected = createHash('sha256').update(token).digest();
  return timingSafeEqual(given, expected);
}

/**
 * Guards an admin route (docs/architecture.md §14.2). When it refuses, it has already sent
 * the answer: 404 when no admin token is configured (admin disabled), 401
 * when the request does not carry it. Routes start with
 * `if (!guard(request, reply)) return reply;`.
 */
export type AdminGuard = (request: FastifyRequest, reply: FastifyReply) => boolean;

/** The admin guard for a configured token (or none: admin disabled). */
export function adminGuard(token: string | undefined): AdminGuard {
  return (request, reply) => {
    if (token === undefined) {
      void reply
        .code(404)
        .send({ error: 'disabled', message: 'admin endpoints are disabled: QT_ADMIN_TOKEN is not set' });
      return false;
    }
    if (!bearerMatches(request.headers.authorization, token)) {
      void reply.code(401).send({ error: 'unauthorized', message: 'a valid Bearer token is required' });
      return false;
    }
    return true;
  };
}
