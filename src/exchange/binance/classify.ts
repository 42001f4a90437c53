import { VenueError } from '../adapter.js';
import { BINANCE_CODES } from './endpoints.js';
import { BinanceErrorBodySchema } from './mapping.js';

/**
 * Turns what Binance answered (or failed to) into a {@link VenueError} whose
 * kind says what is known about the request's fate. The rules are those of docs/architecture.md §11.3;
 * `docs/binance.md` has the table.
 */

/** An HTTP answer that was not a success. */
export interface FailedAnswer {
  readonly status: number;
  readonly headers: Headers;
  /** The parsed JSON body, or undefined when it was not JSON. */
  readonly body: unknown;
}

/** Context for messages and retry times. */
export interface ClassifyContext {
  /** `POST /api/v3/order`: names the call in messages (never the query, which carries the signature). */
  readonly call: string;
  readonly now: number;
  /** Fallback ban length when a 418 names no end. */
  readonly defaultBanMs: number;
  /** Removes credentials from venue-provided text before it goes into a message. */
  readonly scrub: (text: string) => string;
}

/** Codes after which the request's execution status is unknown. */
const UNKNOWN_CODES: ReadonlySet<number> = new Set([
  BINANCE_CODES.UNKNOWN,
  BINANCE_CODES.UNEXPECTED_RESPONSE,
  BINANCE_CODES.TIMEOUT,
]);
const RATE_CODES: ReadonlySet<number> = new Set([BINANCE_CODES.TOO_MANY_REQUESTS, BINANCE_CODES.TOO_MANY_ORDERS]);
const KEY_CODES: ReadonlySet<number> = new Set([BINANCE_CODES.BAD_API_KEY_FMT, BINANCE_CODES.REJECTED_MBX_KEY]);

/**
 * Socket error codes that mean the request never left this host (no
 * connection, no name), so it cannot have been executed.
 */
const NEVER_SENT_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** `Retry-After` as epoch ms: Binance sends seconds; an HTTP date is accepted too. */
export function retryAfterAt(headers: Headers, now: number): number | undefined {
  const raw = headers.get('retry-after');
  if (raw === null || raw.trim() === '') return undefined;
  const seconds = Number(raw);
  if (Number.isFinite(seconds) && seconds >= 0) return now + Math.ceil(seconds * 1000);
  const date = Date.parse(raw);
  return Number.isNaN(date) ? undefined : date;
}

/** Classifies an HTTP answer that was not 2xx. */
export function classifyAnswer(answer: FailedAnswer, ctx: ClassifyContext): VenueError {
  const parsed = BinanceErrorBodySchema.safeParse(answer.body);
  const venueCode = parsed.success ? parsed.data.code : undefined;
  const msg = parsed.success ? ctx.scrub(parsed.data.msg) : `HTTP ${answer.status}`;
  const base = {
    httpStatus: answer.status,
    ...(venueCode === undefined ? {} : { venueCode }),
  };
  const tail = venueCode === undefined ? msg : `${msg} (${venueCode})`;
  const retryAt = retryAfterAt(answer.headers, ctx.now);

  if (answer.status === 418) {
    // Binance writes the end into the message ("IP banned until 1718000000000") when Retry-After is missing.
    const until = retryAt ?? bannedUntilFromMessage(msg) ?? ctx.now + ctx.defaultBanMs;
    return new VenueError('banned', `${ctx.call}: IP banned by Binance until ${new Date(until).toISOString()}`, {
      ...base,
      retryAt: until,
    });
  }
  if (answer.status === 429 || (venueCode !== undefined && RATE_CODES.has(venueCode))) {
    return new VenueError('rate_limited', `${ctx.call}: rate limited by Binance: ${tail}`, {
      ...base,
      ...(retryAt === undefined ? {} : { retryAt }),
    });
  }
  if (answer.status >= 500 || (venueCode !== undefined && UNKNOWN_CODES.has(venueCode))) {
    return new VenueError('unknown', `${ctx.call}: execution status unknown: ${tail}`, base);
  }
  if (venueCode === BINANCE_CODES.INVALID_SIGNATURE) {
    return new VenueError(
      'rejected',
      `${ctx.call}: Binance rejected the request signature (-1022): check the API secret`,
      base,
    );
  }
  if (venueCode !== undefined && KEY_CODES.has(venueCode)) {
    return new VenueError(
      'rejected',
      `${ctx.call}: Binance rejected the API key (${venueCode}): check the key, its IP whitelist and its permissions`,
      base,
    );
  }
  if (venueCode === BINANCE_CODES.INVALID_TIMESTAMP) {
    return new VenueError('rejected', `${ctx.call}: timestamp outside recvWindow, clock out of sync: ${tail}`, base);
  }
  return new VenueError('rejected', `${ctx.call}: rejected by Binance: ${tail}`, base);
}

/** Classifies a fetch that threw: never sent → `unavailable`, anything else → `unknown`. */
export function classifyFailure(err: unknown, call: string, timeoutMs: number): VenueError {
  const name = err instanceof Error ? err.name : '';
  if (name === 'TimeoutError') {
    return new VenueError('unknown', `${call}: no answer within ${timeoutMs} ms; execution status unknown`, {
      cause: err,
    });
  }
  const code = socketCode(err);
  if (code !== undefined && NEVER_SENT_CODES.has(code)) {
    return new VenueError('unavailable', `${call}: Binance unreachable (${code}); the request was not sent`, {
      cause: err,
    });
  }
  return new VenueError(
    'unknown',
    `${call}: connection failed${code === undefined ? '' : ` (${code})`}; execution status unknown`,
    { cause: err },
  );
}

/** The `code` of an error or of its causes (undici wraps socket errors in `TypeError: fetch failed`). */
function socketCode(err: unknown): string | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

function bannedUntilFromMessage(msg: string): number | undefined {
  const m = /banned until (\d{12,})/i.exec(msg);
  return m ? Number(m[1]) : undefined;
}
