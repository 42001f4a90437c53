/**
 * How `qt` talks to the services' HTTP APIs (docs/cli.md): where a service
 * is (its base port plus QT_HTTP_PORT_OFFSET on QT_HTTP_HOST, as `main`
 * listens, or `--url` for a gateway or another host), one request with
 * Node's `fetch` and a timeout, and the answers every command treats the
 * same way turned into one-line CliErrors (docs/architecture.md §14.2 lists
 * the error bodies): unreachable or 5xx → exit 4, a refused token or
 * disabled admin routes → exit 2. Never a stack trace.
 */
import { v7 as uuidv7 } from 'uuid';
import type { z } from 'zod';
import { SERVICES, type ServiceName } from '../actors/services.js';
import type { CliContext } from './context.js';
import { CliError, EXIT } from './exit-codes.js';

/**
 * The header a service takes a request's correlation id from (the service
 * server's CORRELATION_HEADER, src/http/service-server.ts). Named here, not
 * imported: that module loads Fastify, a fifth of a second `qt` has no use for.
 */
const CORRELATION_HEADER = 'x-correlation-id';

/** How long a request may take unless the command says otherwise. */
export const DEFAULT_HTTP_TIMEOUT_MS = 5_000;

/** A service's HTTP API: its name (for messages) and base URL. */
export interface ServiceEndpoint {
  readonly service: ServiceName;
  readonly baseUrl: string;
}

/** The base URL `main` serves `service` on, or `url` (a gateway, another host) when given; a bad URL is exit 2. */
export function serviceEndpoint(ctx: CliContext, service: ServiceName, url?: string): ServiceEndpoint {
  if (url === undefined) return { service, baseUrl: ctx.serviceUrl(SERVICES[service].port) };
  return { service, baseUrl: checkedUrl(url) };
}

/** `url` without its trailing slash, or exit 2 when it is not an http(s) URL. */
export function checkedUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CliError(EXIT.USAGE, `--url ${url} is not a URL (like http://gateway:8080/risk)`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new CliError(EXIT.USAGE, `--url ${url}: only http and https URLs are served`);
  }
  return url.replace(/\/+$/, '');
}

/** One request to a service. */
export interface ServiceRequest {
  readonly method?: 'GET' | 'POST' | 'PUT';
  /** The path under the base URL: `/ess/trip`. */
  readonly path: string;
  /** Sent as JSON. */
  readonly body?: unknown;
  /** The admin token, sent as `Authorization: Bearer`. */
  readonly token?: string;
  readonly timeoutMs?: number;
  /** Sent as `X-Correlation-ID`, so the service's logs and events carry the command's id. */
  readonly correlationId?: string;
}

/** What a request gave: the status and JSON body, or why nothing answered. */
export type ServiceAnswer =
  | { readonly reached: true; readonly status: number; readonly body: unknown; readonly latencyMs: number }
  | { readonly reached: false; readonly error: string; readonly latencyMs: number };

/** A fresh correlation id for one command. */
export function newCorrelationId(): string {
  return `qt-${uuidv7()}`;
}

/** Why a `fetch` failed, in a few words: `connect ECONNREFUSED 127.0.0.1:8003`, `no answer within 3000 ms`. */
export function fetchFailure(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
    return `no answer within ${timeoutMs} ms (timeout)`;
  }
  const cause = (err as { cause?: unknown } | undefined)?.cause;
  if (cause instanceof AggregateError && cause.errors.length > 0) {
    return (cause.errors as Error[]).map((e) => e.message).join(', ');
  }
  if (cause instanceof Error) return cause.message || (cause as { code?: string }).code || String(cause);
  return err instanceof Error ? err.message : String(err);
}

/** Sends one request and reads its JSON answer; never throws (an unreachable service is `reached: false`). */
export async function sendRequest(endpoint: ServiceEndpoint, request: ServiceRequest): Promise<ServiceAnswer> {
  const timeoutMs = request.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS;
  const headers: Record<string, string> = { accept: 'application/json' };
  if (request.body !== undefined) headers['content-type'] = 'application/json';
  if (request.token !== undefined) headers.authorization = `Bearer ${request.token}`;
  if (request.correlationId !== undefined) headers[CORRELATION_HEADER] = request.correlationId;
  const started = performance.now();
  const latency = () => Math.round(performance.now() - started);
  try {
    const response = await fetch(`${endpoint.baseUrl}${request.path}`, {
      method: request.method ?? 'GET',
      headers,
      ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
      // Not JSON (a proxy's error page, say): kept as text for the message.
    }
    return { reached: true, status: response.status, body, latencyMs: latency() };
  } catch (err) {
    return { reached: false, error: fetchFailure(err, timeoutMs), latencyMs: latency() };
  }
}

/** The fields of a JSON error body the messages use. */
function errorParts(body: unknown): { error?: string; message?: string; note?: string; correlationId?: string } {
  if (typeof body === 'string') return { message: body.slice(0, 200) };
  if (typeof body !== 'object' || body === null) return {};
  const b = body as Record<string, unknown>;
  const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const parts: { error?: string; message?: string; note?: string; correlationId?: string } = {};
  const error = text(b.error);
  const message = text(b.message) ?? issuesText(b.issues);
  const note = text(b.note);
  const correlationId = text(b.correlationId);
  if (error !== undefined) parts.error = error;
  if (message !== undefined) parts.message = message;
  if (note !== undefined) parts.note = note;
  if (correlationId !== undefined) parts.correlationId = correlationId;
  return parts;
}

/** A zod issue list (`invalid_body`) or contradiction list (`invalid_policy`) as one phrase. */
function issuesText(issues: unknown): string | undefined {
  if (!Array.isArray(issues) || issues.length === 0) return undefined;
  return issues.map((i) => issueText(i)).join('; ');
}

/**
 * One issue of a `400` body: the fields it is about and why. A zod issue
 * (`invalid_body`) names one field by its `path` (`policy.minConfidence`),
 * an `invalid_policy` issue names its `fields`; unknown keys are listed.
 */
export function issueParts(issue: unknown): { fields: string[]; message: string } {
  if (typeof issue !== 'object' || issue === null) return { fields: ['body'], message: String(issue) };
  const i = issue as { path?: unknown; fields?: unknown; message?: unknown; keys?: unknown };
  const fields = Array.isArray(i.fields)
    ? i.fields.map(String)
    : [Array.isArray(i.path) && i.path.length > 0 ? i.path.join('.') : 'body'];
  const keys = Array.isArray(i.keys) && i.keys.length > 0 ? ` (${i.keys.join(', ')})` : '';
  return { fields, message: `${typeof i.message === 'string' ? i.message : 'invalid'}${keys}` };
}

/** One issue as a phrase, field first: `orderNotional, maxNotionalPerOrder: orderNotional 20000 is above …`. */
export function issueText(issue: unknown): string {
  const { fields, message } = issueParts(issue);
  return `${fields.join(', ')}: ${message}`;
}

/** `503 redis_unavailable: reading …: Redis did not answer within 1000 ms; the reset was not sent`. */
export function answerText(status: number, body: unknown): string {
  const { error, message, note, correlationId } = errorParts(body);
  const head = [String(status), error].filter(Boolean).join(' ');
  const tail = [message, note, correlationId === undefined ? undefined : `correlation id ${correlationId}`]
    .filter(Boolean)
    .join('; ');
  return tail ? `${head}: ${tail}` : head;
}

/**
 * Sends a request and returns the answer when its status is one of
 * `handled` (the command words those itself); every other answer is a
 * one-line CliError: unreachable, 5xx or no such route → exit 4; the token
 * refused, admin routes disabled → exit 2; anything else → exit 1.
 */
export async function callService(
  endpoint: ServiceEndpoint,
  request: ServiceRequest,
  handled: readonly number[],
): Promise<{ readonly status: number; readonly body: unknown }> {
  const answer = await sendRequest(endpoint, request);
  const where = `${endpoint.service} at ${endpoint.baseUrl}`;
  if (!answer.reached) {
    throw new CliError(EXIT.SERVICE_UNREACHABLE, `cannot reach ${where}: ${answer.error}`);
  }
  const { status, body } = answer;
  if (handled.includes(status)) return { status, body };
  const { error } = errorParts(body);
  if (status === 400) throw new CliError(EXIT.USAGE, `${where} refused the request: ${answerText(status, body)}`);
  if (status === 401) {
    throw new CliError(EXIT.USAGE, `the admin token was refused by ${where} (QT_ADMIN_TOKEN / --token-file)`);
  }
  if (status === 404 && error === 'disabled') {
    throw new CliError(EXIT.USAGE, `admin routes are disabled on ${where} (no QT_ADMIN_TOKEN set there)`);
  }
  if (status === 404) {
    throw new CliError(
      EXIT.SERVICE_UNREACHABLE,
      `${where} has no ${request.method ?? 'GET'} ${request.path} (${answerText(status, body)}): is that ${endpoint.service}?`,
    );
  }
  if (status >= 500) throw new CliError(EXIT.SERVICE_UNREACHABLE, `${where} answered ${answerText(status, body)}`);
  throw new CliError(EXIT.REFUSED, `${where} answered ${answerText(status, body)}`);
}

/**
 * The body of an answer checked against what `qt` expects of it (zod at the
 * HTTP edge); a body it does not understand (another version of the
 * service, a proxy's page) is exit 1 naming what is off.
 */
export function parseAnswer<S extends z.ZodType>(
  schema: S,
  body: unknown,
  endpoint: ServiceEndpoint,
  what: string,
): z.infer<S> {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
  throw new CliError(
    EXIT.REFUSED,
    `${endpoint.service} at ${endpoint.baseUrl} answered ${what} with a body qt does not understand (${issues})`,
  );
}
