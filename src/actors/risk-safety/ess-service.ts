import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { v7 as uuidv7 } from 'uuid';
import type { Config } from '../../config/load.js';
import { QtError } from '../../errors.js';
import type { EssState } from '../../events/catalog.js';
import type { AdminGuard } from '../../http/auth.js';
import { type Logger, silentLogger } from '../../log.js';
import type { Keys } from '../../streams/keys.js';
import type { Publisher } from '../../streams/publisher-contract.js';
import { ActorHost, type ActorSpec } from '../host.js';
import { ACTOR_TOPICS } from '../services.js';
import { ROUTE_READ_DEADLINE_MS, withinDeadline } from './ess-deadline.js';
import { toEssEvents } from './ess-events.js';
import { createEssMachine, type EssMachine } from './ess-machine.js';
import { watchEss } from './ess-metrics.js';
import { type EssResetResult, takeEssOutbox } from './ess-outbox.js';
import { type EssProjection, essProjection, parseEssProjection } from './ess-projection.js';
import { registerEssRoutes } from './ess-routes.js';
import type { EssControl, EssStatus, TripAnswer } from './ess-status.js';
import { tripRace } from './ess-trip.js';
import type { PretradeService } from './pretrade-service.js';

/** How often the ESS is told the time, so a cooldown ends without market traffic. */
export const ESS_CLOCK_MS = 1_000;

/** Settings of {@link EssService}. */
export interface EssServiceOptions {
  readonly redis: Redis;
  readonly keys: Keys;
  /** The bus publisher: records each operator trip (`ess.trip_requested`), into the disk buffer if Redis stalls. */
  readonly publisher: Publisher;
  readonly config: Config;
  readonly producer: string;
  readonly consumer: string;
  readonly log?: Logger;
  readonly registry?: Registry;
  readonly now?: () => number;
  /**
   * A replay at max speed (default false): no `CLOCK` every second, and
   * `health.snapshot_updated` is not applied. Time then moves only with the
   * events, and health is the machine's, measured on the wall clock: a second
   * of a start-up CRITICAL spans minutes of replayed market, so both would
   * make two replays of one file differ.
   */
  readonly replay?: boolean;
}

/**
 * The Emergency Stop System, hosted (docs/architecture.md §9): the pure ESS
 * machine run by an ActorHost on `market`, `portfolio`, `health` and `ess`
 * (the operators' recorded trip requests), told the time every second, with
 * its state projected to a Redis key in the same commit as its snapshot, and
 * the operator commands over authenticated HTTP (`ess-routes.ts`).
 */
export class EssService implements EssControl {
  readonly host: ActorHost<EssMachine>;
  readonly #redis: Redis;
  readonly #keys: Keys;
  readonly #publisher: Publisher;
  readonly #now: () => number;
  readonly #log: Logger;
  readonly #trips: { inc(): void };
  #clock: NodeJS.Timeout | undefined;
  readonly #clockTicks: boolean;

  constructor(options: EssServiceOptions) {
    this.#clockTicks = options.replay !== true;
    this.#redis = options.redis;
    this.#keys = options.keys;
    this.#publisher = options.publisher;
    this.#now = options.now ?? Date.now;
    this.#log = options.log ?? silentLogger;
    const machine = createEssMachine(options.config.ess);
    const keys = options.keys;
    const spec: ActorSpec<EssMachine> = {
      name: 'ess',
      machine,
      topics: ACTOR_TOPICS.ess,
      toEvents:
        options.replay === true ? (e) => (e.type === 'health.snapshot_updated' ? [] : toEssEvents(e)) : toEssEvents,
      takeOutputs: (actor) => takeEssOutbox(actor).publish,
      project: (snapshot) => {
        const { cooldownUntil, trip } = snapshot.context;
        const projection = essProjection(snapshot.value as EssState, cooldownUntil, this.#now(), trip);
        return [{ key: keys.projection('ess'), value: JSON.stringify(projection) }];
      },
    };
    this.host = new ActorHost({
      spec,
      redis: options.redis,
      keys,
      producer: options.producer,
      source: 'risk-safety',
      consumer: options.consumer,
      ...(options.log ? { log: options.log } : {}),
      ...(options.registry ? { registry: options.registry } : {}),
      now: this.#now,
    });
    this.#trips = watchEss(options.registry ?? new Registry(), () => {
      try {
        return this.host.snapshot.value as EssState;
      } catch {
        return undefined; // not started yet
      }
    });
  }

  /** Restores the ESS from Redis (same state, same remaining cooldown) and starts it. */
  async start(): Promise<void> {
    await this.host.start();
    await this.host.send({ type: 'CLOCK', at: this.#now() });
    if (!this.#clockTicks) return;
    // ??=: start() is called again after a failed start (Redis went away); one clock only.
    this.#clock ??= setInterval(() => {
      this.host.send({ type: 'CLOCK', at: this.#now() }).catch((err) => {
        this.#log.warn({ err: (err as Error).message }, 'ess clock tick not committed');
      });
    }, ESS_CLOCK_MS);
    this.#clock.unref();
  }

  /** The ESS as this process's actor has it (throws QT_ACTOR_NOT_STARTED before start). */
  status(): EssStatus {
    const snap = this.host.snapshot;
    const until = snap.context.cooldownUntil;
    return {
      state: snap.value as EssState,
      cooldownUntil: until === null ? null : new Date(until).toISOString(),
      remainingCooldownMs: until === null ? 0 : Math.max(0, until - this.#now()),
      lastReset: snap.context.lastReset,
    };
  }

  /**
   * The projection execution checks before every order, read from Redis
   * within `deadlineMs` (QT_REDIS_UNAVAILABLE otherwise); null when the ESS
   * never wrote one (armed).
   */
  async projected(deadlineMs = ROUTE_READ_DEADLINE_MS): Promise<EssProjection | null> {
    const key = this.#keys.projection('ess');
    const raw = await withinDeadline(this.#redis.get(key), deadlineMs, `reading ${key}`);
    if (raw === null) return null;
    const projection = parseEssProjection(raw);
    if (!projection) throw new QtError('QT_PROJECTION_INVALID', `the ESS projection ${key} is unreadable`);
    return projection;
  }

  /** The ESS state as committed in Redis (the actor's lock is taken, so an in-flight commit settles first). */
  committedState(deadlineMs = ROUTE_READ_DEADLINE_MS): Promise<EssState> {
    return withinDeadline(
      this.host.read((s) => s.value as EssState),
      deadlineMs,
      'reading the committed ESS state',
    );
  }

  /** Answers `PING` within `deadlineMs`, or rejects with QT_REDIS_UNAVAILABLE: checked before a command is sent. */
  async reachable(deadlineMs = ROUTE_READ_DEADLINE_MS): Promise<void> {
    await withinDeadline(this.#redis.ping(), deadlineMs, 'checking Redis');
  }

  /**
   * Trips the ESS directly and resolves once the trip is committed (the
   * actor's snapshot, projection and `ess.*` events in one Redis commit).
   * `requestId` makes a repeat of the same request a no-op.
   */
  async trip(
    operator: string,
    reason: string,
    meta: { requestId?: string; correlationId?: string | undefined } = {},
  ): Promise<EssStatus> {
    const { requestId, correlationId } = meta;
    await this.host.send(
      { type: 'TRIP', at: this.#now(), operator, reason, ...(requestId === undefined ? {} : { requestId }) },
      correlationId ? { correlationId } : {},
    );
    return this.status();
  }

  /**
   * An operator's trip, answered within about 2 s whatever Redis does: the
   * request is recorded as `ess.trip_requested` (short publish deadline, so
   * it lands in the disk buffer if Redis stalls) while the trip is sent to
   * the actor directly; see `ess-trip.ts` for how the answer is chosen.
   */
  requestTrip(operator: string, reason: string, correlationId?: string): Promise<TripAnswer> {
    const requestId = uuidv7();
    const requestedAt = new Date(this.#now()).toISOString();
    this.#trips.inc();
    return tripRace({
      requestId,
      direct: () => this.trip(operator, reason, { requestId, correlationId }),
      record: (deadlineMs) =>
        this.#publisher.publish(
          'ess.trip_requested',
          { requestId, operator, reason, requestedAt },
          { correlationId, deadlineMs },
        ),
      log: this.#log.child({ requestId, operator }),
    });
  }

  async reset(operator: string, reason: string, correlationId?: string): Promise<EssResetResult> {
    const requestId = correlationId ?? `${operator}-${this.#now()}`;
    const snap = await this.host.send(
      { type: 'RESET', at: this.#now(), operator, reason, requestId },
      correlationId ? { correlationId } : {},
    );
    const answer = snap.context.lastReset;
    if (!answer || answer.requestId !== requestId) {
      throw new QtError('QT_INVARIANT_BROKEN', 'the ESS did not answer the reset', { details: { requestId } });
    }
    return answer;
  }

  /**
   * `GET /ess`, and the admin commands `POST /ess/trip`, `POST /ess/reset`
   * and (given the pre-trade service, which decides its orders) `POST /ess/flatten`.
   */
  registerRoutes(app: FastifyInstance, guardAdmin: AdminGuard, extra: { pretrade?: PretradeService } = {}): void {
    registerEssRoutes(app, {
      ess: this,
      guardAdmin,
      log: this.#log,
      ...(extra.pretrade
        ? {
            flatten: {
              pretrade: extra.pretrade,
              publisher: this.#publisher,
              redis: this.#redis,
              keys: this.#keys,
              now: this.#now,
            },
          }
        : {}),
    });
  }

  async close(): Promise<void> {
    clearInterval(this.#clock);
    await this.host.close();
  }
}
