/**
 * `qt check` (docs/cli.md): one line and an exit code for cron and
 * monitoring. It probes every service's `GET /health` (as `qt health`),
 * pings Redis and reads the ESS projection from it (the key execution
 * reads, parsed by the project's parser), and judges them with the system
 * rules of docs/architecture.md §12 (src/actors/monitoring/system-status.ts, the same
 * function the monitoring service is to use).
 *
 * Exit codes: 0 OK, 1 DEGRADED (EXIT.REFUSED: the answer is "not healthy"),
 * 6 CRITICAL; 4 when no service answered and 3 when Redis did not answer
 * `qt`: then it cannot judge, and the line says what it saw (CRITICAL).
 */
import type { Command } from 'commander';
import { z } from 'zod';
import { deadline } from '../actors/monitoring/probe-infra.js';
import {
  type EssObservation,
  type InfrastructureObservation,
  type SystemLevel,
  statusLine,
  systemStatus,
} from '../actors/monitoring/system-status.js';
import { parseEssProjection } from '../actors/risk-safety/ess-projection.js';
import { REDIS_SLOW_MS } from '../http/dependencies.js';
import type { CliContext } from './context.js';
import { EXIT, type ExitCode } from './exit-codes.js';
import { type HealthOptions, HealthOutputSchema, probeAll, withHealthOptions } from './health.js';
import { printJson } from './output.js';

/** How long the Redis PING and the projection read may take before Redis counts as DOWN. */
export const CHECK_REDIS_TIMEOUT_MS = 3_000;

/** `qt check --json`: the verdict, its exit code, and what it was judged on. */
export const CheckOutputSchema = z.object({
  status: z.enum(['OK', 'DEGRADED', 'CRITICAL']),
  exitCode: z.number().int(),
  line: z.string(),
  findings: z.array(z.object({ level: z.enum(['DEGRADED', 'CRITICAL']), source: z.string(), message: z.string() })),
  services: HealthOutputSchema,
  redis: z.object({
    status: z.enum(['OK', 'DEGRADED', 'DOWN']),
    latencyMs: z.number().nullable(),
    error: z.string().optional(),
  }),
  /** Null when Redis did not answer. */
  ess: z
    .union([
      z.object({
        known: z.literal(true),
        state: z.string(),
        trip: z.object({ trigger: z.string(), reason: z.string(), operator: z.string().optional() }).optional(),
      }),
      z.object({ known: z.literal(false), error: z.string() }),
    ])
    .nullable(),
});
export type CheckOutput = z.infer<typeof CheckOutputSchema>;

/** The exit code of a verdict: 4 when no service answered, 3 when Redis did not, else by the status. */
export function checkExitCode(status: SystemLevel, anyServiceAnswered: boolean, redisAnswered: boolean): ExitCode {
  if (!anyServiceAnswered) return EXIT.SERVICE_UNREACHABLE;
  if (!redisAnswered) return EXIT.REDIS_UNREACHABLE;
  return status === 'OK' ? EXIT.OK : status === 'DEGRADED' ? EXIT.REFUSED : EXIT.CRITICAL;
}

/** Redis as `qt` sees it (PING latency) and the ESS from its projection; null ESS when Redis did not answer. */
async function observeRedis(
  ctx: CliContext,
): Promise<{ redis: InfrastructureObservation & { latencyMs: number | null }; ess: EssObservation | null }> {
  const started = performance.now();
  let latencyMs: number;
  try {
    const redis = await ctx.redis();
    const pinged = performance.now();
    await deadline(redis.ping(), CHECK_REDIS_TIMEOUT_MS, 'PING');
    latencyMs = Math.round(performance.now() - pinged);
    const key = ctx.keys.projection('ess');
    const raw = await deadline(redis.get(key), CHECK_REDIS_TIMEOUT_MS, `GET ${key}`);
    // No projection: the ESS never committed a state since its key prefix was new, so armed.
    let ess: EssObservation = { known: true, state: 'armed' };
    if (raw !== null) {
      const projection = parseEssProjection(raw);
      ess = projection
        ? { known: true, state: projection.state, ...(projection.trip ? { trip: projection.trip } : {}) }
        : { known: false, error: `the projection ${key} is unreadable` };
    }
    const slow = latencyMs > REDIS_SLOW_MS;
    return {
      redis: {
        name: 'redis',
        status: slow ? 'DEGRADED' : 'OK',
        latencyMs,
        ...(slow ? { error: `PING took ${latencyMs} ms (over ${REDIS_SLOW_MS} ms)` } : {}),
      },
      ess,
    };
  } catch (err) {
    latencyMs = Math.round(performance.now() - started);
    return { redis: { name: 'redis', status: 'DOWN', latencyMs: null, error: (err as Error).message }, ess: null };
  }
}

/** Runs the check: every observation in parallel, then the verdict. */
export async function runCheck(ctx: CliContext, options: HealthOptions): Promise<CheckOutput> {
  const [services, { redis, ess }] = await Promise.all([probeAll(ctx, options), observeRedis(ctx)]);
  const observation = {
    services: services.map((s) => ({
      service: s.service,
      critical: s.critical,
      status: s.status,
      ...(s.error === null ? {} : { error: s.error }),
      latencyMs: s.reached ? s.latencyMs : null,
    })),
    infrastructure: [redis],
    ess,
  };
  const verdict = systemStatus(observation);
  const { name: _name, ...redisOut } = redis;
  return {
    status: verdict.status,
    exitCode: checkExitCode(
      verdict.status,
      services.some((s) => s.reached),
      redis.status !== 'DOWN',
    ),
    line: statusLine(observation, verdict),
    findings: [...verdict.findings],
    services,
    redis: redisOut,
    ess,
  };
}

/** `qt check`: one line, and the exit code says the status. */
export function registerCheck(program: Command, context: () => CliContext): void {
  withHealthOptions(
    program
      .command('check')
      .description(
        'one line and an exit code for cron: 0 OK, 1 DEGRADED, 6 CRITICAL, 4 no service answered, 3 Redis did not',
      ),
  ).action(async (options: HealthOptions) => {
    const ctx = context();
    const out = await runCheck(ctx, options);
    if (ctx.output.json) printJson(ctx.output, CheckOutputSchema, out);
    else ctx.output.out(out.line);
    process.exitCode = out.exitCode;
  });
}
