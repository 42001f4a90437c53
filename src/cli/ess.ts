/**
 * `qt ess status | trip | reset | flatten` (docs/cli.md): the Emergency
 * Stop System through risk-safety's HTTP API (docs/architecture.md §9.6).
 * Trip and reset act at once: they are the kill switch. A refusal prints
 * its reason and the time left and exits 1; a trip the service recorded but
 * could not apply yet (Redis stalled: `202`) says so and exits 0. Flatten
 * is in `ess-flatten.ts`.
 */
import type { Command } from 'commander';
import { z } from 'zod';
import { EssStateSchema } from '../events/catalog.js';
import { type AdminOptions, attempt, audited, withAdminOptions } from './admin-command.js';
import type { CliContext } from './context.js';
import {
  ESS_COMMAND_TIMEOUT_MS,
  EssActorStatusSchema,
  type EssStatusOutput,
  EssStatusOutputSchema,
  LastResetSchema,
  readEss,
  riskSafety,
} from './ess-api.js';
import { registerEssFlatten } from './ess-flatten.js';
import { CliError, EXIT } from './exit-codes.js';
import {
  callService,
  newCorrelationId,
  parseAnswer,
  type ServiceEndpoint,
  type ServiceRequest,
} from './http-client.js';
import { formatDuration, printJson } from './output.js';

// The `--json` schemas of every `qt ess` command, from this file as for every other command.
export { EssStatusOutputSchema } from './ess-api.js';
export { EssFlattenOutputSchema } from './ess-flatten.js';

/** `qt ess trip --json`: applied (`200`), or recorded and applied when Redis answers (`202`). */
export const EssTripOutputSchema = z.object({
  applied: z.boolean(),
  requestId: z.string(),
  /** With `applied: false`: where the request is durable (`redis`, `disk-buffer`) or `memory` (not yet). */
  recordedIn: z.enum(['redis', 'disk-buffer', 'memory']).nullable(),
  state: EssStateSchema.nullable(),
  cooldownUntil: z.string().nullable(),
  remainingCooldownMs: z.number().nullable(),
  message: z.string().nullable(),
});
export type EssTripOutput = z.infer<typeof EssTripOutputSchema>;

/** `qt ess reset --json`: accepted, or refused with the code (NOT_TRIPPED, COOLDOWN_ACTIVE, CONDITION_ACTIVE) and the time left. */
export const EssResetOutputSchema = z.object({
  accepted: z.boolean(),
  code: z.string().nullable(),
  message: z.string().nullable(),
  cooldownUntil: z.string().nullable(),
  remainingMs: z.number().nullable(),
  /** The ESS state after the request. */
  state: EssStateSchema,
});
export type EssResetOutput = z.infer<typeof EssResetOutputSchema>;

const TripAppliedSchema = EssActorStatusSchema.extend({ applied: z.literal(true), requestId: z.string() });
const TripRecordedSchema = z.object({
  applied: z.literal(false),
  requestId: z.string(),
  recordedIn: z.enum(['redis', 'disk-buffer', 'memory']),
  message: z.string(),
});
const ResetAnswerSchema = LastResetSchema.extend({ status: EssActorStatusSchema });

/** Key-value lines, the keys padded to one width. */
export function keyValueLines(rows: readonly (readonly [string, string])[]): string {
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}

/** When the cooldown ends and how long is left, in words. */
function cooldownText(state: string, until: string | null, remainingMs: number): string {
  if (state === 'awaitingReset') return 'over: a reset is accepted now';
  if (until === null) return '-';
  return `until ${until}, ${formatDuration(remainingMs)} left`;
}

function tripText(trip: EssStatusOutput['trip']): string {
  if (!trip) return '-';
  return trip.operator === undefined
    ? `${trip.trigger}: ${trip.reason}`
    : `operator ${trip.operator}: ${trip.reason} (${trip.trigger})`;
}

function lastResetText(reset: EssStatusOutput['lastReset']): string {
  if (!reset) return '-';
  const when = new Date(reset.at).toISOString();
  if (reset.accepted) return `accepted, by ${reset.operator} at ${when} (from ${reset.from ?? '?'})`;
  return `refused, by ${reset.operator} at ${when}: ${reset.code ?? '?'}: ${reset.message ?? ''}`.trimEnd();
}

/** `qt ess status` as text. */
export function essStatusText(s: EssStatusOutput): string {
  const projection = s.projection
    ? `${s.projection.state}, written ${s.projection.updatedAt}${s.confirmed ? '' : ' (differs from the actor: a commit in flight?)'}`
    : 'none written yet (armed since the start)';
  return keyValueLines([
    ['ESS', s.state],
    ['cooldown', cooldownText(s.state, s.cooldownUntil, s.remainingCooldownMs)],
    ['tripped by', tripText(s.trip)],
    ['last reset', lastResetText(s.lastReset)],
    ['projection', projection],
  ]);
}

/** `refused: COOLDOWN_ACTIVE, 12m 30s left (cooldown runs until …)`. */
export function resetRefusalText(reset: EssResetOutput): string {
  if (reset.code === 'COOLDOWN_ACTIVE' && reset.remainingMs !== null) {
    return `refused: COOLDOWN_ACTIVE, ${formatDuration(reset.remainingMs)} left (${reset.message ?? ''})`;
  }
  return `refused: ${reset.code ?? 'unknown'}: ${reset.message ?? ''}`;
}

/** The body of trip and reset: who and why, nothing else (the route refuses unknown fields). */
function commandRequest(path: string, options: AdminOptions, token: string, correlationId: string) {
  return {
    method: 'POST' as const,
    path,
    body: { operator: options.operator, reason: options.reason },
    token,
    timeoutMs: ESS_COMMAND_TIMEOUT_MS,
    correlationId,
  };
}

/** The answer of `POST /ess/trip` as `qt ess trip --json` prints it. */
async function sendTrip(endpoint: ServiceEndpoint, request: ServiceRequest): Promise<EssTripOutput> {
  const answer = await callService(endpoint, request, [200, 202]);
  if (answer.status === 200) {
    const applied = parseAnswer(TripAppliedSchema, answer.body, endpoint, 'POST /ess/trip');
    return {
      applied: true,
      requestId: applied.requestId,
      recordedIn: null,
      state: applied.state,
      cooldownUntil: applied.cooldownUntil,
      remainingCooldownMs: applied.remainingCooldownMs,
      message: null,
    };
  }
  const recorded = parseAnswer(TripRecordedSchema, answer.body, endpoint, 'POST /ess/trip');
  return {
    applied: false,
    requestId: recorded.requestId,
    recordedIn: recorded.recordedIn,
    state: null,
    cooldownUntil: null,
    remainingCooldownMs: null,
    message: recorded.message,
  };
}

async function trip(ctx: CliContext, options: AdminOptions): Promise<void> {
  const endpoint = riskSafety(ctx, options.url);
  const token = ctx.adminToken();
  const correlationId = newCorrelationId();
  const record = { command: 'ess trip', args: {}, operator: options.operator, reason: options.reason, correlationId };
  const out = await attempt(ctx, record, () =>
    sendTrip(endpoint, commandRequest('/ess/trip', options, token, correlationId)),
  );
  if (ctx.output.json) printJson(ctx.output, EssTripOutputSchema, out);
  else if (out.applied) {
    ctx.output.out(
      `tripped: the ESS is ${out.state}, ${cooldownText(out.state ?? '', out.cooldownUntil, out.remainingCooldownMs ?? 0)} (request ${out.requestId})`,
    );
  } else {
    ctx.output.out(
      `recorded in ${out.recordedIn}, not applied yet: ${out.message} (request ${out.requestId}; check qt ess status)`,
    );
  }
  await audited(ctx, { ...record, result: 'ok', details: { ...out } });
}

async function reset(ctx: CliContext, options: AdminOptions): Promise<void> {
  const endpoint = riskSafety(ctx, options.url);
  const token = ctx.adminToken();
  const correlationId = newCorrelationId();
  const record = { command: 'ess reset', args: {}, operator: options.operator, reason: options.reason, correlationId };
  const result = await attempt(ctx, record, async () => {
    const answer = await callService(endpoint, commandRequest('/ess/reset', options, token, correlationId), [200, 409]);
    return parseAnswer(ResetAnswerSchema, answer.body, endpoint, 'POST /ess/reset');
  });
  const out: EssResetOutput = {
    accepted: result.accepted,
    code: result.code ?? null,
    message: result.message ?? null,
    cooldownUntil: result.cooldownUntil ?? null,
    remainingMs: result.remainingMs ?? null,
    state: result.status.state,
  };
  if (ctx.output.json) printJson(ctx.output, EssResetOutputSchema, out);
  else if (out.accepted) ctx.output.out(`reset: the ESS is ${out.state} (was ${result.from ?? '?'})`);
  const refusal = out.accepted ? undefined : new CliError(EXIT.REFUSED, resetRefusalText(out));
  await audited(ctx, { ...record, result: refusal ? 'refused' : 'ok', details: { ...out } }, refusal);
}

/** `qt ess`: status, trip, reset, flatten. */
export function registerEss(program: Command, context: () => CliContext): void {
  const ess = program
    .command('ess')
    .description('the Emergency Stop System: status, trip, reset, flatten (risk-safety HTTP API)');
  ess
    .command('status')
    .description('state, cooldown and time left, what tripped it, the last reset')
    .option('--url <url>', 'base URL of risk-safety (a gateway, another host); default as main listens')
    .action(async (options: { url?: string }) => {
      const ctx = context();
      const status = await readEss(riskSafety(ctx, options.url));
      if (ctx.output.json) printJson(ctx.output, EssStatusOutputSchema, status);
      else ctx.output.out(essStatusText(status));
    });
  withAdminOptions(
    ess.command('trip').description('trip the ESS now: trading halts, open orders are cancelled'),
    'risk-safety',
  ).action(async (options: AdminOptions) => trip(context(), options));
  withAdminOptions(
    ess.command('reset').description('re-arm a tripped ESS (refused during the cooldown or while a condition holds)'),
    'risk-safety',
  ).action(async (options: AdminOptions) => reset(context(), options));
  registerEssFlatten(ess, context);
}
