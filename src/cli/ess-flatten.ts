/**
 * `qt ess flatten` (docs/cli.md): close every open position with reduce-only
 * emergency exits while the ESS stays tripped (docs/architecture.md §9.6).
 *
 * Without `--execute` it changes nothing and prints the plan: the exits
 * pre-trade would decide, computed by pre-trade's own pure decision
 * (`decideFlatten`) from the last `portfolio.updated` on the bus (what
 * pre-trade decides from) and the ESS state from `GET /ess`. The API has no
 * dry run, so the plan cannot see an exit of an earlier flatten still open
 * (pre-trade skips that symbol). With `--execute` it sends `POST
 * /ess/flatten` and prints each exit's outcome.
 */
import type { Command } from 'commander';
import { z } from 'zod';
import { decideFlatten } from '../actors/risk-safety/pretrade-flatten.js';
import { type EssState, EssStateSchema, type EventData } from '../events/catalog.js';
import { decodeEntry } from '../streams/codec.js';
import { idTime } from '../streams/group-lag.js';
import { type AdminOptions, attempt, audited, withAdminOptions } from './admin-command.js';
import type { CliContext } from './context.js';
import { readEss, riskSafety } from './ess-api.js';
import { CliError, EXIT } from './exit-codes.js';
import {
  callService,
  newCorrelationId,
  parseAnswer,
  type ServiceEndpoint,
  type ServiceRequest,
} from './http-client.js';
import { type Column, formatDuration, printJson, renderTable } from './output.js';

/** How long `flatten --execute` waits: the route waits up to 10 s for the exits' outcomes. */
export const FLATTEN_COMMAND_TIMEOUT_MS = 30_000;
/** How many of the newest `portfolio` entries the plan looks through for a `portfolio.updated`. */
const PORTFOLIO_LOOKBACK = 20;

const OrderOutputSchema = z.object({
  symbol: z.string(),
  side: z.enum(['buy', 'sell']),
  quantity: z.number(),
  /** Plan: the mark price and notional of the position. */
  markPrice: z.number().nullable(),
  notional: z.number().nullable(),
  /** Executed: the exit's client order id and how it ended (`pending` when not within the route's wait). */
  orderId: z.string().nullable(),
  outcome: z.enum(['filled', 'failed', 'cancelled', 'pending']).nullable(),
  price: z.number().nullable(),
  filledQuantity: z.number().nullable(),
  reason: z.string().nullable(),
});

/** `qt ess flatten --json`: the plan (`executed: false`) or what the request did. */
export const EssFlattenOutputSchema = z.object({
  executed: z.boolean(),
  essState: EssStateSchema.nullable(),
  /** Plan: the `portfolio.updated` entry the positions come from, and its age; null when there is none. */
  positionsFrom: z.object({ entryId: z.string(), ageMs: z.number().nullable() }).nullable(),
  requestId: z.string().nullable(),
  /** Executed with `202`: where the request is recorded (pre-trade decides when it reads it). */
  recordedIn: z.string().nullable(),
  orders: z.array(OrderOutputSchema),
  skipped: z.array(z.object({ symbol: z.string(), reason: z.string() })),
  /** Why it is (or would be) refused; null when not. */
  refused: z.string().nullable(),
  message: z.string().nullable(),
});
export type EssFlattenOutput = z.infer<typeof EssFlattenOutputSchema>;
type OrderOutput = z.infer<typeof OrderOutputSchema>;

const FlattenAnswerSchema = z.object({
  requestId: z.string(),
  state: EssStateSchema.optional(),
  recordedIn: z.string().optional(),
  message: z.string().optional(),
  orders: z.array(
    z.object({
      orderId: z.string(),
      symbol: z.string(),
      side: z.enum(['buy', 'sell']),
      quantity: z.number(),
      outcome: z.enum(['filled', 'failed', 'cancelled', 'pending']),
      price: z.number().optional(),
      filledQuantity: z.number().optional(),
      reason: z.string().optional(),
    }),
  ),
  skipped: z.array(z.object({ symbol: z.string(), reason: z.string() })).optional(),
});
const RefusalSchema = z.object({ error: z.string(), message: z.string(), state: z.string().optional() });

const EMPTY_ORDER = {
  markPrice: null,
  notional: null,
  orderId: null,
  outcome: null,
  price: null,
  filledQuantity: null,
  reason: null,
} as const;

/** The newest `portfolio.updated` on the bus, with its entry id; undefined when there is none. */
async function lastPortfolio(
  ctx: CliContext,
): Promise<{ entryId: string; data: EventData<'portfolio.updated'> } | undefined> {
  const redis = await ctx.redis();
  const entries = await redis.xrevrange(ctx.keys.stream('portfolio'), '+', '-', 'COUNT', PORTFOLIO_LOOKBACK);
  for (const [entryId, fields] of entries) {
    try {
      const event = decodeEntry(fields);
      if (event.type === 'portfolio.updated') return { entryId, data: event.data as EventData<'portfolio.updated'> };
    } catch {
      // A malformed entry is the consumers' to dead-letter; the plan looks at the one before.
    }
  }
  return undefined;
}

/** The plan: what pre-trade would decide now, from the ESS state and the last portfolio update. */
export async function flattenPlan(ctx: CliContext, essState: EssState, now = Date.now()): Promise<EssFlattenOutput> {
  const portfolio = await lastPortfolio(ctx);
  const positions = Object.fromEntries(
    (portfolio?.data.positions ?? []).map((p) => [p.symbol, { quantity: p.quantity, markPrice: p.markPrice }]),
  );
  const { decision } = decideFlatten({
    requestId: 'plan',
    decidedAt: now,
    essState,
    positions,
    openOrderIds: [],
    flattens: [],
  });
  const entryTime = portfolio ? idTime(portfolio.entryId) : null;
  return {
    executed: false,
    essState,
    positionsFrom: portfolio
      ? { entryId: portfolio.entryId, ageMs: entryTime === null ? null : Math.max(0, now - entryTime) }
      : null,
    requestId: null,
    recordedIn: null,
    orders: decision.orders.map((o) => {
      const markPrice = positions[o.symbol]?.markPrice ?? null;
      return {
        ...EMPTY_ORDER,
        symbol: o.symbol,
        side: o.side,
        quantity: o.quantity,
        markPrice,
        notional: markPrice === null ? null : o.quantity * markPrice,
      };
    }),
    skipped: [],
    refused: decision.refused ?? null,
    message: null,
  };
}

const PLAN_COLUMNS: Column<OrderOutput>[] = [
  { header: 'SYMBOL', value: (o) => o.symbol },
  { header: 'SIDE', value: (o) => o.side },
  { header: 'QUANTITY', value: (o) => o.quantity, right: true },
  { header: 'MARK', value: (o) => o.markPrice, right: true },
  { header: 'NOTIONAL', value: (o) => (o.notional === null ? null : o.notional.toFixed(2)), right: true },
];

const RESULT_COLUMNS: Column<OrderOutput>[] = [
  { header: 'SYMBOL', value: (o) => o.symbol },
  { header: 'SIDE', value: (o) => o.side },
  { header: 'QUANTITY', value: (o) => o.quantity, right: true },
  { header: 'OUTCOME', value: (o) => o.outcome },
  { header: 'PRICE', value: (o) => o.price, right: true },
  { header: 'REASON', value: (o) => o.reason, flexible: true },
  { header: 'ORDER', value: (o) => o.orderId, flexible: true },
];

function planText(ctx: CliContext, plan: EssFlattenOutput): string {
  const from = plan.positionsFrom
    ? `the positions of portfolio.updated ${plan.positionsFrom.entryId}, ${formatDuration(plan.positionsFrom.ageMs)} old`
    : 'no portfolio.updated on the bus: no known positions';
  const head =
    plan.orders.length === 0
      ? `plan: nothing to close (${from})`
      : `plan: ${plan.orders.length} emergency exit${plan.orders.length === 1 ? '' : 's'} (reduce-only market orders), from ${from}`;
  const table = plan.orders.length > 0 ? `\n${renderTable(ctx.output, PLAN_COLUMNS, plan.orders).trimEnd()}` : '';
  return `${head}${table}\nnothing sent: add --execute to close them (the ESS stays ${plan.essState})`;
}

/** `POST /ess/flatten` and its answer as `qt ess flatten --json` prints it (a `409` as `refused`). */
async function sendFlatten(endpoint: ServiceEndpoint, request: ServiceRequest): Promise<EssFlattenOutput> {
  const answer = await callService(endpoint, request, [200, 202, 409]);
  if (answer.status === 409) {
    const refusal = parseAnswer(RefusalSchema, answer.body, endpoint, 'POST /ess/flatten');
    return {
      executed: true,
      essState: EssStateSchema.safeParse(refusal.state).data ?? null,
      positionsFrom: null,
      requestId: null,
      recordedIn: null,
      orders: [],
      skipped: [],
      refused: `${refusal.error}: ${refusal.message}`,
      message: null,
    };
  }
  const body = parseAnswer(FlattenAnswerSchema, answer.body, endpoint, 'POST /ess/flatten');
  return {
    executed: true,
    essState: body.state ?? null,
    positionsFrom: null,
    requestId: body.requestId,
    recordedIn: body.recordedIn ?? null,
    orders: body.orders.map((o) => ({
      ...EMPTY_ORDER,
      symbol: o.symbol,
      side: o.side,
      quantity: o.quantity,
      orderId: o.orderId,
      outcome: o.outcome,
      price: o.price ?? null,
      filledQuantity: o.filledQuantity ?? null,
      reason: o.reason ?? null,
    })),
    skipped: body.skipped ?? [],
    refused: null,
    message: body.message ?? null,
  };
}

/** Runs the flatten, printed and audited once it answered. */
async function execute(ctx: CliContext, options: AdminOptions): Promise<void> {
  const endpoint = riskSafety(ctx, options.url);
  const token = ctx.adminToken();
  const correlationId = newCorrelationId();
  const record = {
    command: 'ess flatten',
    args: { execute: true },
    operator: options.operator,
    reason: options.reason,
    correlationId,
  };
  const out = await attempt(ctx, record, () =>
    sendFlatten(endpoint, {
      method: 'POST',
      path: '/ess/flatten',
      body: { operator: options.operator, reason: options.reason },
      token,
      timeoutMs: FLATTEN_COMMAND_TIMEOUT_MS,
      correlationId,
    }),
  );
  if (ctx.output.json) printJson(ctx.output, EssFlattenOutputSchema, out);
  else if (out.refused === null) ctx.output.out(resultText(ctx, out));
  const refusal = out.refused === null ? undefined : new CliError(EXIT.REFUSED, `refused: ${out.refused}`);
  const details = {
    requestId: out.requestId,
    recordedIn: out.recordedIn,
    refused: out.refused,
    orders: out.orders.map((o) => ({ symbol: o.symbol, side: o.side, quantity: o.quantity, outcome: o.outcome })),
  };
  await audited(ctx, { ...record, result: refusal ? 'refused' : 'ok', details }, refusal);
}

function resultText(ctx: CliContext, out: EssFlattenOutput): string {
  if (out.recordedIn !== null) return `recorded in ${out.recordedIn}, exits not decided yet: ${out.message ?? ''}`;
  const head =
    out.orders.length === 0
      ? 'flatten: nothing to close'
      : `flatten: ${out.orders.length} emergency exit${out.orders.length === 1 ? '' : 's'}`;
  const table = out.orders.length > 0 ? `\n${renderTable(ctx.output, RESULT_COLUMNS, out.orders).trimEnd()}` : '';
  const skipped = out.skipped.map((s) => `\nskipped ${s.symbol}: ${s.reason}`).join('');
  return `${head} (request ${out.requestId}; the ESS stays ${out.essState ?? 'tripped'})${table}${skipped}`;
}

/** `qt ess flatten`: the plan, or with `--execute` the exits and their outcomes. */
export function registerEssFlatten(ess: Command, context: () => CliContext): void {
  withAdminOptions(
    ess
      .command('flatten')
      .description('close every open position with reduce-only emergency exits (prints the plan unless --execute)')
      .option('--execute', 'send it: without, nothing changes'),
    'risk-safety',
  ).action(async (options: AdminOptions & { execute?: boolean }) => {
    const ctx = context();
    if (!options.execute) {
      const status = await readEss(riskSafety(ctx, options.url));
      const plan = await flattenPlan(ctx, status.state);
      if (ctx.output.json) printJson(ctx.output, EssFlattenOutputSchema, plan);
      if (plan.refused !== null) throw new CliError(EXIT.REFUSED, `would be refused: ${plan.refused}`);
      if (!ctx.output.json) ctx.output.out(planText(ctx, plan));
      return;
    }
    await execute(ctx, options);
  });
}
