/**
 * How `POST /ess/trip` answers within about 2 s whatever Redis does
 * (docs/architecture.md §9.6). Two things start at once:
 *
 * - the **direct trip**: TRIP sent to the ESS actor, done when its commit
 *   (snapshot, projection, `ess.*` events) is in Redis;
 * - the **record**: `ess.trip_requested` published with a short deadline,
 *   so against a stalled Redis it is parked in the disk buffer and replayed
 *   when Redis answers. The ESS consumes it and trips: the request takes
 *   effect even if the direct trip is lost. Both carry the request id, and
 *   the machine applies an id once.
 *
 * The answer: `200` as soon as the direct trip is committed (within
 * {@link TRIP_APPLY_WAIT_MS}, or later but before the deadline); otherwise
 * `202` as soon as the record is durable, saying where. Meanwhile execution
 * sends nothing: it reads the ESS projection before every order, and that
 * read fails while Redis does not answer.
 */
import type { Logger } from '../../log.js';
import type { Published } from '../../streams/publisher-contract.js';
import type { EssStatus, TripAnswer } from './ess-status.js';

/** How long the record's publish may wait for Redis before it is parked (in doubt) in the disk buffer. */
export const TRIP_RECORD_DEADLINE_MS = 500;
/** How long the direct trip may take before the answer falls back to the durable record (`202`). */
export const TRIP_APPLY_WAIT_MS = 1_000;
/** The latest the route answers, whatever Redis does. */
export const TRIP_ANSWER_DEADLINE_MS = 1_800;

/** What the route sends while the trip is not applied yet. */
export const NOT_YET_APPLIED =
  'takes effect when Redis answers; execution sends no order while it cannot read the ESS state';

/** What {@link tripRace} runs. */
export interface TripRaceOptions {
  readonly requestId: string;
  /** Sends TRIP to the actor; resolves once committed. */
  readonly direct: () => Promise<EssStatus>;
  /** Publishes `ess.trip_requested` with the given deadline. */
  readonly record: (deadlineMs: number) => Promise<Published>;
  readonly log: Logger;
}

type Outcome<T> =
  | { readonly state: 'pending' }
  | { readonly state: 'ok'; readonly value: T }
  | { readonly state: 'failed'; readonly error: unknown };

interface Tracked<T> {
  current: Outcome<T>;
  readonly settled: Promise<void>;
}

function track<T>(work: () => Promise<T>): Tracked<T> {
  const tracked: Tracked<T> = {
    current: { state: 'pending' },
    settled: Promise.resolve()
      .then(work)
      .then(
        (value) => {
          tracked.current = { state: 'ok', value };
        },
        (error: unknown) => {
          tracked.current = { state: 'failed', error };
        },
      ),
  };
  return tracked;
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Runs the direct trip and the record together and answers as described in this file's header. */
export async function tripRace(options: TripRaceOptions): Promise<TripAnswer> {
  const { requestId, log } = options;
  const started = performance.now();
  const direct = track(options.direct);
  const record = track(() => options.record(TRIP_RECORD_DEADLINE_MS));
  const until = async (ms: number, ready: () => boolean) => {
    while (!ready()) {
      const left = started + ms - performance.now();
      if (left <= 0) return;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        direct.settled,
        record.settled,
        new Promise((resolve) => {
          timer = setTimeout(resolve, left);
        }),
      ]);
      clearTimeout(timer);
    }
  };

  // Applied if it can be within the wait; a direct trip that failed does not hold the answer.
  await until(TRIP_APPLY_WAIT_MS, () => direct.current.state !== 'pending');
  // Then the first of: applied after all, or the record settled; by the deadline at the latest.
  await until(TRIP_ANSWER_DEADLINE_MS, () => direct.current.state === 'ok' || record.current.state !== 'pending');
  const elapsedMs = Math.round(performance.now() - started);
  const answer = choose(requestId, direct.current, record.current);
  // The route has logged the request; an applied trip needs no second line, one not applied yet does.
  log[answer.code === 200 ? 'debug' : 'warn'](
    {
      elapsedMs,
      code: answer.code,
      direct: direct.current.state,
      record: record.current.state,
      ...(answer.code === 202 ? { recordedIn: answer.body.recordedIn } : {}),
    },
    'ESS trip request answered',
  );
  if (answer.code !== 200) follow(direct, record, log);
  return answer;
}

function choose(requestId: string, direct: Outcome<EssStatus>, record: Outcome<Published>): TripAnswer {
  if (direct.state === 'ok') return { code: 200, body: { applied: true, requestId, ...direct.value } };
  if (record.state === 'ok') {
    const recordedIn = record.value.via === 'redis' ? 'redis' : 'disk-buffer';
    return { code: 202, body: { applied: false, requestId, recordedIn, message: NOT_YET_APPLIED } };
  }
  if (record.state === 'pending') {
    // Neither settled by the deadline: the publish is still waiting for Redis in this process.
    return {
      code: 202,
      body: {
        applied: false,
        requestId,
        recordedIn: 'memory',
        message: `not yet durable: queued in this process for Redis or the disk buffer; ${NOT_YET_APPLIED}`,
      },
    };
  }
  const why = `the trip request could not be recorded (${message(record.error)})`;
  const directPart =
    direct.state === 'failed'
      ? `and the direct trip failed (${message(direct.error)})`
      : 'and the direct trip is still waiting for Redis';
  return {
    code: 503,
    body: {
      error: 'trip_not_recorded',
      applied: false,
      requestId,
      message: `${why} ${directPart}; repeat the request`,
    },
  };
}

/** Logs how the parts of an unanswered trip end, for the audit of the request. */
function follow(direct: Tracked<EssStatus>, record: Tracked<Published>, log: Logger): void {
  void direct.settled.then(() => {
    const d = direct.current;
    if (d.state === 'ok') log.info({ state: d.value.state }, 'ESS trip request applied (direct)');
    else if (d.state === 'failed') {
      log.warn({ err: message(d.error) }, 'direct ESS trip not committed; the recorded request trips the ESS');
    }
  });
  void record.settled.then(() => {
    const r = record.current;
    if (r.state === 'ok') log.info({ via: r.value.via }, 'ESS trip request recorded');
    else if (r.state === 'failed') log.error({ err: message(r.error) }, 'ESS trip request not recorded');
  });
}
