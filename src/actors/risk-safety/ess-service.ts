import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { Counter, Registry } from 'prom-client';
import { z } from 'zod';
import type { Config } from '../../config/load.js';
import { currentCorrelationId } from '../../correlation.js';
import { QtError } from '../../errors.js';
import type { EssState } from '../../events/catalog.js';
import type { AdminGuard } from '../../http/auth.js';
import { type Logger, silentLogger } from '../../log.js';
import { perRegistry } from '../../metrics.js';
import type { Keys } from '../../streams/keys.js';
import { ActorHost, type ActorSpec } from '../host.js';
import { ACTOR_TOPICS } from '../services.js';
import { toEssEvents } from './ess-events.js';
import { createEssMachine, type EssMachine } from './ess-machine.js';
import { type EssResetResult, takeEssOutbox } from './ess-outbox.js';
import { essProjection } from './ess-projection.js';

const essMetrics = perRegistry((registry) => ({
  trips: new Counter({
    name: 'emergency_stop_triggered_total',
    help: 'ESS trips requested by operators through the API',
    registers: [registry],
  }),
}));

/** How often the ESS is told the time, so a cooldown ends without market traffic. */
export const ESS_CLOCK_MS = 1_000;

/** The body of `POST /ess/trip` and `POST /ess/reset`. */
export const EssCommandBodySchema = z.object({
  operator: z.string().trim().min(1).max(64),
  reason: z.string().trim().min(1).max(500),
});

/** What `GET /ess` answers. */
export interface EssStatus {
  readonly state: EssState;
  readonly cooldownUntil: string | null;
  readonly remainingCooldownMs: number;
  readonly lastReset: EssResetResult | null;
}

/**
 * The Emergency Stop System, hosted (docs/architecture.md §9): the pure ESS machine run by
 * an ActorHost on `market`, `portfolio` and `health`, told the time every
 * second, with its state projected to a Redis key in the same commit as its
 * snapshot, and operator trip/reset over authenticated HTTP.
 */
export class EssService {
  readonly host: ActorHost<EssMachine>;
  readonly #now: () => number;
  readonly #log: Logger;
  readonly #trips: Counter;
  #clock: NodeJS.Timeout | undefined;

  constructor(options: {
    redis: Redis;
    keys: Keys;
    config: Config;
    producer: string;
    consumer: string;
    log?: Logger;
    registry?: Registry;
    now?: () => number;
  }) {
    this.#now = options.now ?? Date.now;
    this.#log = options.log ?? silentLogger;
    const machine = createEssMachine(options.config.ess);
    const keys = options.keys;
    const spec: ActorSpec<EssMachine> = {
      name: 'ess',
      machine,
      topics: ACTOR_TOPICS.ess,
      toEvents: toEssEvents,
      takeOutputs: (actor) => takeEssOutbox(actor).publish,
      project: (snapshot) => {
        const projection = essProjection(snapshot.value as EssState, snapshot.context.cooldownUntil, this.#now());
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
    this.#trips = essMetrics(options.registry ?? new Registry()).trips;
  }

  /** Restores the ESS from Redis (same state, same remaining cooldown) and starts it. */
  async start(): Promise<void> {
    await this.host.start();
    await this.host.send({ type: 'CLOCK', at: this.#now() });
    // ??=: start() is called again after a failed start (Redis went away); one clock only.
    this.#clock ??= setInterval(() => {
      this.host.send({ type: 'CLOCK', at: this.#now() }).catch((err) => {
        this.#log.warn({ err: (err as Error).message }, 'ess clock tick not committed');
      });
    }, ESS_CLOCK_MS);
    this.#clock.unref();
  }

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

  async trip(operator: string, reason: string, correlationId?: string): Promise<EssStatus> {
    await this.host.send({ type: 'TRIP', at: this.#now(), operator, reason }, correlationId ? { correlationId } : {});
    this.#trips.inc();
    return this.status();
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

  /** `GET /ess`, `POST /ess/trip`, `POST /ess/reset` (the POSTs need the admin token). */
  registerRoutes(app: FastifyInstance, guardAdmin: AdminGuard): void {
    app.get('/ess', async () => this.status());
    const command = (kind: 'trip' | 'reset') =>
      app.post(`/ess/${kind}`, async (request, reply) => {
        if (!guardAdmin(request, reply)) return reply;
        const body = EssCommandBodySchema.safeParse(request.body);
        if (!body.success) {
          return reply.code(400).send({ error: 'invalid_body', issues: body.error.issues });
        }
        const correlationId = currentCorrelationId();
        if (kind === 'trip') {
          this.#log.warn({ operator: body.data.operator, reason: body.data.reason }, 'ESS tripped by an operator');
          return reply.send(await this.trip(body.data.operator, body.data.reason, correlationId));
        }
        const answer = await this.reset(body.data.operator, body.data.reason, correlationId);
        this.#log.warn({ operator: body.data.operator, accepted: answer.accepted }, 'ESS reset requested');
        return reply.code(answer.accepted ? 200 : 409).send({ ...answer, status: this.status() });
      });
    command('trip');
    command('reset');
  }

  async close(): Promise<void> {
    clearInterval(this.#clock);
    await this.host.close();
  }
}
