import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Whether the route is an admin route (Bearer token, checked before the
     * body is read). Unset: a route that changes something (POST, PUT,
     * PATCH, DELETE) is one, a read is not ({@link isAdminRoute}).
     */
    admin?: boolean;
  }
}

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

/** The methods that change something: their routes are admin routes unless their config says otherwise. */
const CHANGING_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * True when a route is an admin route (docs/architecture.md §14.2): its
 * `config.admin` when set, else whether its method changes something. Every
 * changing route the services have is an admin route, so a new one is
 * guarded unless it is declared `config: { admin: false }`.
 */
export function isAdminRoute(method: string | readonly string[], config: { admin?: boolean } | undefined): boolean {
  if (config?.admin !== undefined) return config.admin;
  const methods = typeof method === 'string' ? [method] : method;
  return methods.some((m) => CHANGING_METHODS.has(m.toUpperCase()));
}

/**
 * Guards an admin route (docs/architecture.md §14.2). When it refuses, it has already sent
 * the answer: 404 when no admin token is configured (admin disabled), 401
 * when the request does not carry it. The service server runs it as an
 * `onRequest` hook of every admin route, before the body is read; routes
 * may also start with `if (!guard(request, reply)) return reply;`, which
 * keeps them guarded on an app the service server did not build.
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
