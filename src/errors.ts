/**
 * The project's error registry: every error the runtime raises on purpose has
 * a stable `code` listed here, so operators can grep logs and scripts can
 * branch on codes instead of messages. `docs/errors.md` documents each code;
 * a test keeps the two in step.
 */
export const ERROR_CODES = {
  QT_CONFIG_INVALID: 'A setting is missing or invalid; start-up stops.',
  QT_POLICY_CONTRADICTORY: 'A risk policy whose limits contradict each other (they refuse every order); not stored.',
  QT_ENVELOPE_INVALID: 'An event envelope or its data failed schema validation.',
  QT_UNKNOWN_EVENT_TYPE: 'An event type is not in the event catalog.',
  QT_KEY_PART_INVALID: 'A topic, group or id cannot be used inside a Redis key.',
  QT_PUBLISH_FAILED: 'Redis did not acknowledge a publish.',
  QT_PUBLISHER_CLOSED: 'publish() was called after the publisher was closed.',
  QT_PUBLISH_OUT_OF_ORDER: 'Another process appended with this producer id; the batch was not appended.',
  QT_REPLICAS_UNAVAILABLE: 'Fewer replicas than REDIS_MIN_REPLICAS_ACK acknowledged a write in time.',
  QT_ACTOR_NOT_STARTED: 'An actor was used before its host started it.',
  QT_ACTOR_STALE: 'Another live process committed this actor since it was loaded; nothing of this commit was written.',
  QT_ALREADY_PROCESSED:
    'An actor commit held an event its group had already processed; nothing was written and the actor is reloaded.',
  QT_COMMIT_FAILED: 'Redis discarded a commit transaction; its entries stay pending and are redelivered.',
  QT_BUFFER_LOCKED: 'The disk buffer file is held by another process.',
  QT_BUFFER_CORRUPT: 'The disk buffer file is unreadable or not a buffer; start-up stops.',
  QT_BUFFER_FULL: 'The disk buffer reached its row or byte limit.',
  QT_BUFFER_CLOSED: 'The disk buffer was used after close().',
  QT_BUFFER_ROW_INVALID: 'An event handed to the disk buffer is malformed; nothing was stored.',
  QT_VENUE_REJECTED: 'The exchange refused an order or request; resubmitting it unchanged fails again.',
  QT_VENUE_RATE_LIMITED: 'The exchange refused a request for rate (429, -1003, -1015); retry after the given time.',
  QT_VENUE_BANNED: 'The exchange banned this IP (418); no request is sent until the ban ends.',
  QT_VENUE_UNKNOWN: 'The exchange may or may not have executed a request (5xx, -1006, -1007); look it up first.',
  QT_VENUE_UNAVAILABLE: 'A request never reached the exchange (connection refused, DNS); safe to retry.',
  QT_VENUE_PARAM_INVALID: 'A venue request parameter is not a finite number; the request was not sent.',
  QT_STORE_INCOMPATIBLE:
    'A store (the SQLite trade store or paper account, the Postgres trade store) was written by a newer build; it is not opened.',
  QT_STORE_INVALID:
    'A file given as a SQLite trade store is not one (empty, not SQLite, without its tables, or with rows of the wrong type).',
  QT_REDIS_UNAVAILABLE: 'Redis did not answer an operator request within its deadline; the route answered 503.',
  QT_PROJECTION_INVALID: 'A projection in Redis (the ESS state) is unreadable; nothing that depends on it is done.',
  QT_FEED_INVALID: 'A market feed input is unusable: a bad CSV replay or flash-crash scenario.',
  QT_LOCAL_REDIS_FAILED: 'The local redis-server could not be started or did not come up.',
  QT_PACKAGE_UNREADABLE: "The runtime's package.json is missing, not JSON, or has no version; the install is broken.",
  QT_INVARIANT_BROKEN: 'An internal invariant does not hold: a bug in the runtime.',
} as const;

/** A registered error code. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** The base error of the project: a message, a stable `code`, and an optional `cause`. */
export class QtError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'QtError';
    this.code = code;
    this.details = options.details;
  }
}

/** True when `err` is a {@link QtError}, optionally with the given code. */
export function isQtError(err: unknown, code?: ErrorCode): err is QtError {
  return err instanceof QtError && (code === undefined || err.code === code);
}
