import { setTimeout as delay } from 'node:timers/promises';
import type { z } from 'zod';
import { backoffDelay } from '../../backoff.js';
import type { Logger } from '../../log.js';
import { VenueError } from '../adapter.js';
import { classifyAnswer, classifyFailure } from './classify.js';
import { BINANCE_CODES, BINANCE_ENDPOINTS, type BinanceEndpoint } from './endpoints.js';
import { parseUsageHeaders, type SharedLimits } from './limits.js';
import { BinanceServerTimeSchema } from './mapping.js';
import { buildQuery, type ParamValue, signQuery } from './signing.js';

/** Everything {@link BinanceRestClient} needs; the adapter resolves defaults before building it. */
export interface BinanceRestClientOptions {
  readonly baseUrl: string;
  readonly apiKey: string;
  readonly apiSecret: string;
  readonly recvWindow: number;
  readonly timeoutMs: number;
  readonly maxAttempts: number;
  readonly maxWaitMs: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  readonly defaultBanMs: number;
  readonly limits: SharedLimits;
  readonly now: () => number;
  /** Waits `ms`; injected by tests so no test sleeps for real. */
  readonly sleep: ((ms: number) => Promise<void>) | undefined;
  readonly random: () => number;
  /** Already bound to the venue name. */
  readonly log: Logger;
}

/**
 * Signed REST calls to Binance spot with its rules applied: the shared budget
 * is spent before a call, usage headers, 429 holds and 418 bans are recorded
 * after it, and failures are retried as far as their kind allows:
 *
 * - `rate_limited`: after `Retry-After` (or the budget window) when that is at
 *   most `maxWaitMs` away, else after exponential backoff with jitter.
 * - `unavailable`: after backoff (the request was never sent).
 * - `unknown`: after backoff only for idempotent calls; a new order or a
 *   cancel goes back to the adapter, which looks the order up first.
 * - -1021: the clock offset is re-measured from `/api/v3/time`, then the call
 *   is retried once.
 * - `rejected` and `banned`: never.
 */
export class BinanceRestClient {
  readonly #o: BinanceRestClientOptions;
  readonly #baseUrl: string;
  readonly #closing = new AbortController();
  /** Venue clock minus local clock, added to every `timestamp`. */
  #offsetMs = 0;

  constructor(options: BinanceRestClientOptions) {
    this.#o = options;
    this.#baseUrl = options.baseUrl.replace(/\/+$/, '');
  }

  /** The current estimate of venue time minus local time, in ms. */
  get clockOffsetMs(): number {
    return this.#offsetMs;
  }

  /** Calls `endpoint` with `params`, retrying per the rules above; resolves with the validated body. */
  async call<S extends z.ZodType>(
    endpoint: BinanceEndpoint,
    params: Readonly<Record<string, ParamValue | undefined>>,
    schema: S,
  ): Promise<z.output<S>> {
    const name = `${endpoint.method} ${endpoint.path}`;
    let failures = 0;
    let resynced = false;
    for (;;) {
      await this.#admit(endpoint, name);
      try {
        return await this.#send(endpoint, name, params, schema);
      } catch (err) {
        if (!(err instanceof VenueError)) throw err;
        if (err.venueCode === BINANCE_CODES.INVALID_TIMESTAMP && !resynced) {
          resynced = true;
          const offsetMs = await this.syncClock();
          this.#o.log.warn({ call: name, offsetMs }, 'binance clock resynced after -1021');
          continue;
        }
        failures++;
        const waitMs = this.#retryDelay(err, endpoint, failures);
        if (waitMs === undefined) throw err;
        this.#o.log.warn(
          {
            call: name,
            kind: err.kind,
            venueCode: err.venueCode,
            httpStatus: err.httpStatus,
            attempt: failures,
            waitMs,
          },
          'binance call failed; retrying',
        );
        await this.#sleep(waitMs);
      }
    }
  }

  /** Measures the venue clock offset from `GET /api/v3/time` (midpoint of the round trip); returns it. */
  async syncClock(): Promise<number> {
    const before = this.#o.now();
    const { serverTime } = await this.call(BINANCE_ENDPOINTS.time, {}, BinanceServerTimeSchema);
    const after = this.#o.now();
    this.#offsetMs = serverTime - Math.round((before + after) / 2);
    return this.#offsetMs;
  }

  /** Aborts requests and waits in flight; later calls fail with `unavailable`. Idempotent. */
  close(): void {
    this.#closing.abort();
  }

  /** Waits until the shared budget admits the call, or throws `banned` / `rate_limited` without sending it. */
  async #admit(endpoint: BinanceEndpoint, name: string): Promise<void> {
    for (let waits = 0; ; waits++) {
      this.#assertOpen(name);
      let admission: Awaited<ReturnType<SharedLimits['acquire']>>;
      try {
        admission = await this.#o.limits.acquire(endpoint.weight, endpoint.placesOrder ? 1 : 0);
      } catch (err) {
        // Without the shared state this process cannot know whether the IP's budget allows the call.
        throw new VenueError('unavailable', `${name}: shared Binance limits in Redis unreachable; request not sent`, {
          cause: err,
        });
      }
      if (admission.ok) return;
      const at = new Date(admission.until).toISOString();
      if (admission.reason === 'banned') {
        throw new VenueError('banned', `${name}: IP banned by Binance until ${at}; request not sent`, {
          retryAt: admission.until,
        });
      }
      const waitMs = admission.until - this.#o.now();
      if (waitMs > this.#o.maxWaitMs || waits >= this.#o.maxAttempts) {
        const why = admission.reason === 'budget' ? 'request budget used up' : 'holding off after HTTP 429';
        throw new VenueError('rate_limited', `${name}: ${why} until ${at}; request not sent`, {
          retryAt: admission.until,
        });
      }
      this.#o.log.debug({ call: name, reason: admission.reason, waitMs }, 'binance call held');
      await this.#sleep(Math.max(waitMs, 1));
    }
  }

  /** One HTTP exchange: sign, send, record what the venue reported, classify. */
  async #send<S extends z.ZodType>(
    endpoint: BinanceEndpoint,
    name: string,
    params: Readonly<Record<string, ParamValue | undefined>>,
    schema: S,
  ): Promise<z.output<S>> {
    const query = endpoint.signed
      ? signQuery(
          this.#o.apiSecret,
          buildQuery({
            ...params,
            recvWindow: this.#o.recvWindow,
            timestamp: Math.round(this.#o.now() + this.#offsetMs),
          }),
        )
      : buildQuery(params);
    const url = `${this.#baseUrl}${endpoint.path}${query ? `?${query}` : ''}`;
    let status: number;
    let headers: Headers;
    let text: string;
    try {
      const res = await fetch(url, {
        method: endpoint.method,
        headers: endpoint.signed ? { 'X-MBX-APIKEY': this.#o.apiKey } : {},
        signal: AbortSignal.any([AbortSignal.timeout(this.#o.timeoutMs), this.#closing.signal]),
      });
      status = res.status;
      headers = res.headers;
      text = await res.text();
    } catch (err) {
      throw classifyFailure(err, name, this.#o.timeoutMs);
    }
    const now = this.#o.now();
    await this.#recordUsage(headers, name);
    const body = parseJson(text);
    if (status >= 200 && status < 300) {
      const parsed = schema.safeParse(body);
      if (parsed.success) return parsed.data;
      const issue = parsed.error.issues[0];
      // The venue answered 2xx, so the request was executed; only its answer is unreadable.
      throw new VenueError(
        'unknown',
        `${name}: unexpected answer from Binance (${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'})`,
        { httpStatus: status },
      );
    }
    const error = classifyAnswer(
      { status, headers, body },
      { call: name, now, defaultBanMs: this.#o.defaultBanMs, scrub: (t) => this.#scrub(t) },
    );
    await this.#recordHold(status, headers, error, now, name);
    throw error;
  }

  async #recordUsage(headers: Headers, name: string): Promise<void> {
    try {
      await this.#o.limits.record(parseUsageHeaders(headers));
    } catch (err) {
      // The venue answered; failing the call because bookkeeping failed would hide its answer.
      this.#o.log.warn({ call: name, err }, 'binance usage headers not recorded');
    }
  }

  /** Shares a 429's `Retry-After` and a 418's ban with every process through Redis. */
  async #recordHold(status: number, headers: Headers, error: VenueError, now: number, name: string): Promise<void> {
    try {
      const shared = await this.#o.limits.shareRefusal({ status, headers }, error, now);
      if (shared === 'banned') this.#o.log.error({ call: name, retryAt: error.retryAt }, 'binance banned this IP');
    } catch (err) {
      this.#o.log.warn({ call: name, err }, 'binance hold not shared through Redis');
    }
  }

  #retryDelay(err: VenueError, endpoint: BinanceEndpoint, failures: number): number | undefined {
    if (failures >= this.#o.maxAttempts) return undefined;
    switch (err.kind) {
      case 'rate_limited': {
        const waitMs = err.retryAt === undefined ? this.#backoff(failures) : Math.max(0, err.retryAt - this.#o.now());
        return waitMs <= this.#o.maxWaitMs ? waitMs : undefined;
      }
      case 'unavailable':
        return this.#backoff(failures);
      case 'unknown':
        return endpoint.idempotent ? this.#backoff(failures) : undefined;
      default:
        return undefined;
    }
  }

  /** Exponential backoff with "equal jitter": half fixed, half random, so waits grow yet processes spread out. */
  #backoff(failures: number): number {
    const policy = { baseMs: this.#o.backoffBaseMs, maxMs: this.#o.backoffMaxMs, jitter: 'equal' } as const;
    return backoffDelay(policy, failures, this.#o.random);
  }

  async #sleep(ms: number): Promise<void> {
    const signal = this.#closing.signal;
    try {
      if (this.#o.sleep) await this.#o.sleep(ms);
      else await delay(ms, undefined, { signal });
    } catch (err) {
      if (!signal.aborted) throw err;
    }
    this.#assertOpen('wait');
  }

  #assertOpen(name: string): void {
    if (this.#closing.signal.aborted) {
      throw new VenueError('unavailable', `${name}: the Binance adapter is closed; request not sent`);
    }
  }

  /** Venue text with the credentials cut out, so no message can carry them. */
  #scrub(text: string): string {
    let out = text;
    for (const secret of [this.#o.apiKey, this.#o.apiSecret]) {
      if (secret.length > 0) out = out.split(secret).join('[redacted]');
    }
    return out;
  }
}

function parseJson(text: string): unknown {
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
