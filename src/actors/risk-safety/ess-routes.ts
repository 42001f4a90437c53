/**
 * The ESS over HTTP on risk-safety's port (docs/architecture.md §9.6):
 * `GET /ess`, and the admin commands `POST /ess/trip`, `POST /ess/reset`,
 * `POST /ess/flatten`. Every answer is JSON and comes within a few seconds
 * whatever Redis does: a trip is recorded in the disk buffer if it must be
 * (`ess-trip.ts`); the other routes answer `503` with a reason when Redis
 * does not answer, saying whether anything was sent. A refused request
 * (401, 404, 400, 409) changes nothing and publishes nothing.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { currentCorrelationId } from '../../correlation.js';
import { isQtError } from '../../errors.js';
import type { AdminGuard } from '../../http/auth.js';
import type { Logger } from '../../log.js';
import { parseEssCommand } from './ess-commands.js';
import { isRedisUnavailable, sendUnavailable, withinDeadline } from './ess-deadline.js';
import { type FlattenDeps, flattenPositions } from './ess-flatten.js';
import type { EssControl } from './ess-status.js';

/** How long a reset may take to commit before the route answers 503 (outcome unknown). */
export const RESET_DEADLINE_MS = 2_000;

/** What {@link registerEssRoutes} needs. */
export interface EssRoutesOptions {
  readonly ess: EssControl;
  readonly guardAdmin: AdminGuard;
  readonly log: Logger;
  /** Given: `POST /ess/flatten` is served (risk-safety hosts pre-trade, which decides the exits). */
  readonly flatten?: FlattenDeps;
}

/** Answers the errors the ESS routes expect (Redis not answering, actors not started); rethrows the rest. */
function answerExpected(reply: FastifyReply, err: unknown, extra: Record<string, unknown> = {}): FastifyReply {
  if (isRedisUnavailable(err)) return sendUnavailable(reply, err, extra);
  if (isQtError(err, 'QT_ACTOR_NOT_STARTED')) {
    return reply
      .code(503)
      .header('retry-after', '1')
      .send({
        error: 'starting',
        code: err.code,
        message: 'the ESS is not running yet: risk-safety waits for Redis',
        ...extra,
      });
  }
  throw err;
}

/** Registers the ESS routes. */
export function registerEssRoutes(app: FastifyInstance, options: EssRoutesOptions): void {
  const { ess, guardAdmin, log } = options;

  // The actor's state, confirmed against the projection execution checks; 503 when Redis cannot confirm it.
  app.get('/ess', async (_request, reply) => {
    let status: ReturnType<EssControl['status']>;
    try {
      status = ess.status();
    } catch (err) {
      return answerExpected(reply, err);
    }
    try {
      const projection = await ess.projected();
      return reply.send({ ...status, projection });
    } catch (err) {
      // What this process's actor holds is still worth showing, marked as not confirmed.
      return answerExpected(reply, err, {
        unconfirmed: status,
        note: 'execution sends no order while it cannot read the ESS state',
      });
    }
  });

  app.post('/ess/trip', async (request, reply) => {
    if (!guardAdmin(request, reply)) return reply;
    const body = parseEssCommand(request.body);
    if (!body.ok) return reply.code(400).send(body.answer);
    const { operator, reason } = body.body;
    log.warn({ operator, reason }, 'ESS tripped by an operator');
    const answer = await ess.requestTrip(operator, reason, currentCorrelationId());
    return reply.code(answer.code).send(answer.body);
  });

  app.post('/ess/reset', async (request, reply) => {
    if (!guardAdmin(request, reply)) return reply;
    const body = parseEssCommand(request.body);
    if (!body.ok) return reply.code(400).send(body.answer);
    const { operator, reason } = body.body;
    try {
      // Nothing is sent to a Redis that does not answer: a reset queued behind a stall would arm the ESS later, unseen.
      await ess.reachable();
    } catch (err) {
      return answerExpected(reply, err, { sent: false, note: 'the reset was not sent' });
    }
    let answer: Awaited<ReturnType<EssControl['reset']>>;
    try {
      answer = await withinDeadline(
        ess.reset(operator, reason, currentCorrelationId()),
        RESET_DEADLINE_MS,
        'the reset',
      );
    } catch (err) {
      return answerExpected(reply, err, {
        sent: true,
        note: 'the reset was sent but not confirmed; it may take effect when Redis answers: check GET /ess',
      });
    }
    log.warn({ operator, accepted: answer.accepted }, 'ESS reset requested');
    return reply.code(answer.accepted ? 200 : 409).send({ ...answer, status: ess.status() });
  });

  const flatten = options.flatten;
  if (!flatten) return;
  app.post('/ess/flatten', async (request, reply) => {
    if (!guardAdmin(request, reply)) return reply;
    const body = parseEssCommand(request.body);
    if (!body.ok) return reply.code(400).send(body.answer);
    try {
      const answer = await flattenPositions(ess, flatten, { ...body.body, correlationId: currentCorrelationId() }, log);
      return reply.code(answer.code).send(answer.body);
    } catch (err) {
      return answerExpected(reply, err);
    }
  });
}
