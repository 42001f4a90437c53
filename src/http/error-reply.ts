import { BrokenCircuitError } from 'cockatiel';
import { isQtError } from '../errors.js';

/**
 * What the service server answers for an error a route or Fastify raised
 * (docs/architecture.md §14.2): the status, the JSON body, and the level it
 * is logged at. The body never carries a stack trace; a 500 names no
 * internals either (the log has them, under the request's correlation id,
 * which the server adds to the body).
 */
export interface ErrorReply {
  readonly status: number;
  readonly body: { readonly error: string; readonly message: string; readonly [field: string]: unknown };
  readonly level: 'info' | 'warn' | 'error';
}

/** The messages ioredis rejects a command with when it cannot reach Redis. */
const REDIS_UNREACHABLE_MESSAGES = [
  'Connection is closed.',
  "Stream isn't writeable and enableOfflineQueue options is false",
  'Command timed out',
];

/** How many `cause`s deep {@link isRedisUnreachable} looks. */
const MAX_CAUSE_DEPTH = 5;

/**
 * True when `err` (or one of its causes) means Redis cannot be reached right
 * now: ioredis's closed-connection, offline and timeout rejections and its
 * `MaxRetriesPerRequestError`, the circuit breaker's `BrokenCircuitError`
 * (docs/architecture.md §7.3), a publish Redis did not acknowledge
 * (QT_PUBLISH_FAILED), and a route's Redis deadline that passed
 * (QT_REDIS_UNAVAILABLE). A Redis error reply (the server answered) is not
 * one.
 */
export function isRedisUnreachable(err: unknown): boolean {
  return unreachableCause(err) !== undefined;
}

/** The error in `err`'s cause chain that says Redis cannot be reached, if any. */
function unreachableCause(err: unknown): Error | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < MAX_CAUSE_DEPTH && e instanceof Error; depth++, e = e.cause) {
    if (e instanceof BrokenCircuitError || isQtError(e, 'QT_PUBLISH_FAILED') || isQtError(e, 'QT_REDIS_UNAVAILABLE')) {
      return e;
    }
    // ioredis does not export the class: its name is what it guarantees.
    if (e.name === 'MaxRetriesPerRequestError') return e;
    if (REDIS_UNREACHABLE_MESSAGES.includes(e.message)) return e;
  }
  return undefined;
}

/** A Fastify error: its `FST_ERR_*` code and the 4xx status Fastify gave it. */
interface FastifyClientError extends Error {
  readonly code: string;
  readonly statusCode: number;
  readonly validation?: unknown;
}

function isFastifyClientError(err: unknown): err is FastifyClientError {
  if (!(err instanceof Error)) return false;
  const { code, statusCode } = err as Partial<FastifyClientError>;
  return (
    typeof code === 'string' &&
    code.startsWith('FST_ERR_') &&
    typeof statusCode === 'number' &&
    statusCode >= 400 &&
    statusCode < 500
  );
}

/** The `error` field for each Fastify client error the server can meet; others are `bad_request`. */
const FASTIFY_ERRORS: Readonly<Record<string, string>> = {
  FST_ERR_VALIDATION: 'invalid_request',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_body',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_body',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_body',
  FST_ERR_CTP_BODY_TOO_LARGE: 'body_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
};

/**
 * Classifies an error that reached the service server's error handler:
 * - a Fastify client error (body not JSON or empty, unsupported content
 *   type, body too large, schema validation) → its 4xx, with its code and
 *   any validation details;
 * - QT_ACTOR_NOT_STARTED → 503 `starting` (the service's actors are not
 *   running yet, e.g. while it waits for Redis);
 * - Redis cannot be reached ({@link isRedisUnreachable}) → 503
 *   `redis_unavailable`;
 * - anything else → 500 `internal`, logged at error level.
 */
export function classifyError(err: unknown): ErrorReply {
  if (isFastifyClientError(err)) {
    const details = err.validation === undefined ? {} : { details: err.validation };
    return {
      status: err.statusCode,
      body: { error: FASTIFY_ERRORS[err.code] ?? 'bad_request', message: err.message, code: err.code, ...details },
      level: 'info',
    };
  }
  if (isQtError(err, 'QT_ACTOR_NOT_STARTED')) {
    return { status: 503, body: { error: 'starting', message: err.message }, level: 'warn' };
  }
  const unreachable = unreachableCause(err);
  if (unreachable) {
    const message = `Redis cannot be reached (${unreachable.message}); try again`;
    return { status: 503, body: { error: 'redis_unavailable', message }, level: 'warn' };
  }
  const message = 'internal error; the service log has it under this correlationId';
  return { status: 500, body: { error: 'internal', message }, level: 'error' };
}
