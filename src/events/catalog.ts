import { z } from 'zod';

/**
 * The event catalog v1: one zod schema for the `data` of every event type.
 * An event's topic (and so its stream) is the first segment of its type.
 * Add a type here and it is publishable and decodable everywhere; the table
 * in `docs/events.md` describes each one.
 */

const symbol = z.string().regex(/^[A-Z0-9]{2,20}$/, 'symbol like BTCUSDT');
const price = z.number().positive().finite();
const qty = z.number().positive().finite();
const money = z.number().finite();
const side = z.enum(['buy', 'sell']);
const isoTime = z.iso.datetime({ offset: false });
const id = z.string().min(1).max(64);

/** Why risk-safety refused an order. */
export const RejectReasonSchema = z.enum([
  'TRADING_HALTED',
  'REDUCE_ONLY',
  'RATE_LIMIT_EXCEEDED',
  'NOTIONAL_EXCEEDS_MAX',
  'POSITION_LIMIT',
  'MAX_OPEN_ORDERS',
  'LOW_CONFIDENCE',
  'STALE_SIGNAL',
  'INVALID_ORDER',
  'SHORT_NOT_ALLOWED',
  'ENTRIES_PAUSED',
]);
export type RejectReason = z.infer<typeof RejectReasonSchema>;

/** States of the Emergency Stop System. */
export const EssStateSchema = z.enum(['armed', 'reducing', 'tripped', 'awaitingReset']);
export type EssState = z.infer<typeof EssStateSchema>;

/** What tripped or reduced the ESS. */
export const EssTriggerSchema = z.enum([
  'drawdown_soft',
  'drawdown_hard',
  'flash_crash',
  'daily_loss',
  'health_critical',
  'manual',
]);

const orderRef = { orderId: id, symbol, side };

/**
 * The rules of each field of the pre-trade risk policy (the defaults live
 * with the policy, in src/actors/risk-safety/policy.ts).
 */
export const RISK_POLICY_FIELDS = {
  maxOrdersPerSecond: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  maxNotionalPerOrder: z.number().positive().finite(),
  maxPositionNotionalPerSymbol: z.number().positive().finite(),
  maxOpenOrders: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  minConfidence: z.number().min(0).max(1),
  maxSignalAgeMs: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  orderNotional: z.number().positive().finite(),
  allowShortSelling: z.boolean(),
};

/**
 * What a pre-trade decision was decided on, so a replay of the streams can
 * reproduce it (docs/actors.md, pre-trade): the decision time, and per input
 * topic the id of the last event of that topic the actor had applied (absent:
 * none yet). Optional because approvals and rejections from before they were
 * recorded are still in the `order` stream, and its consumers read it from
 * the start.
 */
const decisionInputs = {
  decidedAt: isoTime.optional(),
  asOf: z.strictObject({ portfolio: id, order: id, model: id, ess: id, risk: id }).partial().optional(),
};

/**
 * An operator's ESS command as recorded on the `ess` stream: `requestId`
 * names the request (the ESS applies a trip request once, however many
 * times it arrives), `requestedAt` is when the operator asked.
 */
const essCommand = z.object({
  requestId: id,
  operator: z.string().min(1).max(64),
  reason: z.string().min(1).max(500),
  requestedAt: isoTime,
});

/** What every `model.promoted` carries besides the model's kind and params. */
const modelPromoted = {
  modelId: id,
  previousModelId: id,
  reason: z.string(),
  outcomes: z.number().int().positive(),
  candidateScore: z.number().finite(),
  liveScore: z.number().finite(),
};

const healthLevel = z.enum(['OK', 'DEGRADED', 'DOWN']);
const systemLevel = z.enum(['OK', 'DEGRADED', 'CRITICAL']);
/** A service or a piece of infrastructure in a health snapshot; latency null when it did not answer. */
const componentHealth = z.object({
  status: healthLevel,
  latencyMs: z.number().nonnegative().nullable(),
  error: z.string().optional(),
});

/** Data schemas by event type. */
export const EVENT_CATALOG = {
  'market.tick': z.object({ symbol, price, volume: z.number().nonnegative().finite().default(0) }),
  'market.candle': z.object({
    symbol,
    interval: z.string().regex(/^\d+[smhd]$/),
    openTime: isoTime,
    open: price,
    high: price,
    low: price,
    close: price,
    volume: z.number().nonnegative().finite(),
  }),
  'signal.generated': z.object({
    signalId: id,
    symbol,
    side,
    confidence: z.number().min(0).max(1),
    price,
    strategies: z.array(z.object({ name: z.string(), side: z.enum(['buy', 'sell', 'hold']), score: z.number() })),
  }),
  'order.approved': z.object({
    ...orderRef,
    signalId: id.optional(),
    type: z.enum(['market', 'limit']),
    quantity: qty,
    price: price.optional(),
    reduceOnly: z.boolean(),
    // An operator's flatten after a trip: the one kind of order a tripped ESS lets through (with reduceOnly).
    emergencyExit: z.boolean().optional(),
    notional: z.number().nonnegative().finite(),
    ...decisionInputs,
  }),
  'order.rejected': z.object({
    ...orderRef,
    signalId: id.optional(),
    reason: RejectReasonSchema,
    detail: z.string(),
    ...decisionInputs,
  }),
  'order.placed': z.object({
    ...orderRef,
    venue: z.string(),
    venueOrderId: z.string(),
    quantity: qty,
    price: price.optional(),
  }),
  'order.filled': z.object({
    ...orderRef,
    venue: z.string(),
    venueOrderId: z.string(),
    quantity: qty,
    price,
    fee: z.number().nonnegative().finite(),
    feeAsset: z.string(),
  }),
  // The venue's whole answer about an order as execution applied it: what the trade store records (docs/trade-store.md).
  // Loose on purpose: any answer an adapter returns must pass, or execution could not commit it.
  'order.reported': z.object({
    ...orderRef,
    venue: z.string().min(1),
    venueOrderId: z.string(),
    type: z.enum(['market', 'limit']),
    status: z.enum(['new', 'partially_filled', 'filled', 'cancelled', 'rejected', 'expired']),
    quantity: z.number().nonnegative().finite(),
    price: z.number().nonnegative().finite().optional(),
    executedQuantity: z.number().nonnegative().finite(),
    averagePrice: z.number().nonnegative().finite().optional(),
    fills: z.array(
      z.object({
        tradeId: z.string(),
        price: z.number().nonnegative().finite(),
        quantity: z.number().nonnegative().finite(),
        fee: z.number().finite(),
        feeAsset: z.string(),
      }),
    ),
    purpose: z.string().min(1),
    /** Epoch ms: the record time of its rows (the clock of the runner that got the answer). */
    reportedAt: z.number().int().nonnegative(),
  }),
  'order.cancelled': z.object({ ...orderRef, reason: z.string() }),
  'order.failed': z.object({ ...orderRef, reason: z.string(), retryable: z.boolean() }),
  'portfolio.updated': z.object({
    equity: money,
    cash: money,
    peakEquity: money,
    drawdown: z.number().min(0).max(1),
    realizedPnl: money,
    unrealizedPnl: money,
    dailyRealizedPnl: money,
    exposure: z.number().nonnegative().finite(),
    positions: z.array(
      z.object({ symbol, quantity: money, avgPrice: z.number().nonnegative(), markPrice: z.number().nonnegative() }),
    ),
  }),
  'ess.tripped': z.object({
    trigger: EssTriggerSchema,
    reason: z.string(),
    cooldownUntil: isoTime,
    operator: z.string().optional(),
  }),
  'ess.state_changed': z.object({
    from: EssStateSchema,
    to: EssStateSchema,
    trigger: EssTriggerSchema.optional(),
    reason: z.string(),
    cooldownUntil: isoTime.optional(),
  }),
  'ess.reset': z.object({ operator: z.string().min(1), reason: z.string().min(1) }),
  // Operator commands recorded before they are applied: durable even while Redis stalls (disk buffer).
  'ess.trip_requested': essCommand,
  'ess.flatten_requested': essCommand,
  // "Pause entries" (docs/operations.md, the daily restart): new entries stop, exits and cancels go on. Not the ESS.
  'risk.entries_paused': z.object({ operator: z.string().min(1), reason: z.string().min(1) }),
  'risk.entries_resumed': z.object({ operator: z.string().min(1), reason: z.string().min(1) }),
  // The whole policy in force after the change: pre-trade decides by it. `allowShortSelling` came later; absent is its default.
  'risk.policy_updated': z.object({
    operator: z.string().min(1),
    policy: z.strictObject({
      ...RISK_POLICY_FIELDS,
      allowShortSelling: RISK_POLICY_FIELDS.allowShortSelling.default(false),
    }),
  }),
  // monitoring-health's verdict each cycle (docs/monitoring.md); the optional fields came with the collection loop.
  'health.snapshot_updated': z.object({
    status: systemLevel,
    // The verdict without the ESS's own state: what the ESS judges, so its own trip cannot keep it from a reset.
    statusExcludingEss: systemLevel.optional(),
    services: z.record(z.string(), componentHealth),
    infrastructure: z.record(z.string(), componentHealth).optional(),
    probes: z
      .array(z.object({ component: z.string(), condition: z.string(), status: healthLevel, reason: z.string() }))
      .optional(),
    findings: z
      .array(z.object({ level: z.enum(['DEGRADED', 'CRITICAL']), source: z.string(), message: z.string() }))
      .optional(),
    criticalFailures: z.number().int().nonnegative().optional(),
    averageLatencyMs: z.number().nonnegative().nullable().optional(),
    maxLatencyMs: z.number().nonnegative().nullable().optional(),
  }),
  // `source` is the alerting component; the optional fields came with the alert engine (docs/monitoring.md).
  'health.alert_raised': z.object({
    alertId: id,
    severity: z.enum(['warning', 'critical']),
    source: z.string(),
    message: z.string(),
    title: z.string().optional(),
    raisedAt: isoTime.optional(),
    rootCause: z.string().nullable().optional(),
    blastRadius: z.array(z.string()).optional(),
    details: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).optional(),
  }),
  // `reason`: resolved (its condition no longer holds) or escalated (raised again at a higher level).
  'health.alert_cleared': z.object({
    alertId: id,
    clearedBy: z.string().optional(),
    reason: z.enum(['resolved', 'escalated']).optional(),
    clearedAt: isoTime.optional(),
    operatorClearedBy: z.string().optional(),
  }),
  'model.evaluated': z.object({
    modelId: id,
    liveModelId: id,
    windowSize: z.number().int().positive(),
    /** Outcomes in the window at this evaluation (promotion needs `windowSize`). */
    outcomes: z.number().int().positive(),
    candidateScore: z.number().finite(),
    liveScore: z.number().finite(),
    /** Total PnL (quote currency) of each policy over the window. */
    candidatePnl: money,
    livePnl: money,
    margin: z.number().nonnegative().finite(),
    decision: z.enum(['filling', 'holding', 'promoted', 'rejected']),
  }),
  // Flat, with the promoted sizing model's kind and params, so a consumer can apply it from the event alone.
  'model.promoted': z.discriminatedUnion('kind', [
    z.object({
      ...modelPromoted,
      kind: z.literal('fixed'),
      params: z.object({ multiplier: z.number().finite() }),
    }),
    z.object({
      ...modelPromoted,
      kind: z.literal('confidence-scaled'),
      params: z.object({ a: z.number().finite(), b: z.number().finite() }),
    }),
  ]),
  // An operator's changing `qt` command (dlq replay/purge, ess trip/reset/flatten, policy set), written by src/cli/audit.ts.
  // One step of the daily restart (`qt restart`, docs/operations.md): started, done or failed, in order.
  'ops.restart_step': z.object({
    runId: id,
    step: z.string().min(1).max(64),
    status: z.enum(['started', 'done', 'failed', 'skipped']),
    detail: z.string().max(2_000),
  }),
  'audit.command_executed': z.object({
    command: z.string().min(1).max(64),
    args: z.record(z.string(), z.unknown()),
    operator: z.string().min(1).max(256),
    reason: z.string().min(1).max(500),
    result: z.enum(['ok', 'refused', 'failed']),
    details: z.record(z.string(), z.unknown()),
  }),
} as const satisfies Record<string, z.ZodType>;

/** Every event type of the catalog. */
export type EventType = keyof typeof EVENT_CATALOG;
/** The `data` of an event type. */
export type EventData<T extends EventType> = z.infer<(typeof EVENT_CATALOG)[T]>;
/** Schema version of every v1 type; bump per type when its data changes shape. */
export const EVENT_SCHEMA_VERSION = 1;

/** All event types, in catalog order. */
export const EVENT_TYPES = Object.keys(EVENT_CATALOG) as EventType[];

/** True when `type` is in the catalog. */
export function isEventType(type: string): type is EventType {
  return Object.hasOwn(EVENT_CATALOG, type);
}

/** The topic (stream) of an event type: its first dotted segment. */
export function topicOf(type: string): string {
  const dot = type.indexOf('.');
  return dot === -1 ? type : type.slice(0, dot);
}

/** Every topic that has at least one event type in the catalog. */
export const TOPICS = [...new Set(EVENT_TYPES.map(topicOf))];
