/**
 * Deadlines on the Redis calls of risk-safety's operator routes (the ESS
 * routes and the policy routes). A connected Redis that does not answer
 * (`CLIENT PAUSE`, a stalled host) would otherwise hold a request for the
 * command timeout and end it in a bare 500; an operator must instead learn
 * within a second or two that Redis is not answering, and whether anything
 * was sent (docs/architecture.md §9.6).
 */
import type { FastifyReply } from 'fastify';
import { isQtError, QtError } from '../../errors.js';

/** How long a route's read of Redis may take before it answers 503. */
export const ROUTE_READ_DEADLINE_MS = 1_000;

/** The `503` body of a route that could not reach Redis. */
export interface UnavailableAnswer {
  readonly error: 'redis_unavailable';
  readonly code: 'QT_REDIS_UNAVAILABLE';
  readonly message: string;
  readonly [field: string]: unknown;
}

/** The messages ioredis rejects a command with when it cannot reach Redis (it exports no classes for them). */
const CONNECTION_MESSAGES = new Set([
  'Command timed out',
  'Connection is closed.',
  "Stream isn't writeable and enableOfflineQueue options is false",
]);

/** True when `err` is ioredis saying Redis did not answer or cannot be reached (not an error Redis replied). */
export function isRedisConnectionError(err: unknown): boolean {
  return err instanceof Error && (CONNECTION_MESSAGES.has(err.message) || err.name === 'MaxRetriesPerRequestError');
}

/**
 * Resolves with `work`, or rejects with QT_REDIS_UNAVAILABLE when it has not
 * settled within `ms` or failed because Redis cannot be reached
 * ({@link isRedisConnectionError}). `work` goes on in the background (a
 * command already sent runs when Redis answers), so the caller's message
 * must say what that means. Any other error passes through unchanged.
 */
export async function withinDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new QtError('QT_REDIS_UNAVAILABLE', `${what}: Redis did not answer within ${ms} ms`)),
      ms,
    );
  });
  try {
    return await Promise.race([work, late]);
  } catch (err) {
    if (!isRedisConnectionError(err)) throw err;
    throw new QtError('QT_REDIS_UNAVAILABLE', `${what}: Redis cannot be reached (${(err as Error).message})`, {
      cause: err,
    });
  } finally {
    clearTimeout(timer);
    // The loser of the race must not become an unhandled rejection.
    work.catch(() => undefined);
  }
}

/** The `503` body for a QT_REDIS_UNAVAILABLE error, with what the route wants to add. */
export function unavailableAnswer(err: QtError, extra: Record<string, unknown> = {}): UnavailableAnswer {
  return { error: 'redis_unavailable', code: 'QT_REDIS_UNAVAILABLE', message: err.message, ...extra };
}

/** Answers `503` for a QT_REDIS_UNAVAILABLE error, with `Retry-After` as the service server's own 503s. */
export function sendUnavailable(reply: FastifyReply, err: QtError, extra: Record<string, unknown> = {}): FastifyReply {
  return reply.code(503).header('retry-after', '1').send(unavailableAnswer(err, extra));
}

/** True for the error {@link withinDeadline} raises. */
export function isRedisUnavailable(err: unknown): err is QtError {
  return isQtError(err, 'QT_REDIS_UNAVAILABLE');
}
