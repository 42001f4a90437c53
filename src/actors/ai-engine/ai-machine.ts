/**
 * The ai-engine actor (docs/architecture.md §11.2): a pure XState v5 machine that keeps a
 * bounded window of closes per symbol, asks the strategy ensemble about every
 * tick, and puts a `signal.generated` into its outbox when the ensemble is
 * confident enough AND flood control lets it through:
 *
 * - at most one signal per symbol per `minIntervalMs` of event time;
 * - never the same side twice in a row for a symbol unless
 *   `minIntervalMs × 3` has passed since the previous signal.
 *
 * Time is the event's (`at`), never the wall clock, so replay is exact. The
 * context holds plain numbers only (indicators are recomputed from the
 * windows), so the host can persist the snapshot as JSON.
 */
import { type Actor, assign, setup } from 'xstate';
import { QtError } from '../../errors.js';
import type { EventData } from '../../events/catalog.js';
import type { Envelope } from '../../events/envelope.js';
import type { ActorSpec } from '../host.js';
import { takeOutbox } from '../outbox.js';
import { ACTOR_TOPICS } from '../services.js';
import { DEFAULT_WEIGHTS, decide, type EnsembleWeights } from './ensemble.js';

export const DEFAULT_CONFIDENCE_FLOOR = 0.5;
export const DEFAULT_MIN_INTERVAL_MS = 5000;
export const DEFAULT_WINDOW_SIZE = 100;
/** A window shorter than this could not feed EMA(20)/Bollinger(20). */
export const MIN_WINDOW_SIZE = 21;

/** Settings of {@link createAiMachine}; every field has a default. */
export interface AiConfig {
  /** Minimum ensemble confidence for a signal (0..1). */
  readonly confidenceFloor: number;
  /** Minimum event time between two signals of one symbol. */
  readonly minIntervalMs: number;
  /** Closes kept per symbol. */
  readonly windowSize: number;
  readonly weights: EnsembleWeights;
}

/** A `signal.generated` the actor asks to publish. */
export interface SignalOutput {
  readonly type: 'signal.generated';
  readonly data: EventData<'signal.generated'>;
}

export interface AiContext {
  /** Latest closes per symbol, oldest first, at most `windowSize`. */
  readonly windows: Record<string, number[]>;
  /** The last signal emitted per symbol (event time). */
  readonly lastSignal: Record<string, { side: 'buy' | 'sell'; at: number }>;
  readonly outbox: SignalOutput[];
  /** Sequence number for signal ids (monotonic across symbols). */
  readonly nextId: number;
}

export type AiEvent = { type: 'TICK'; symbol: string; price: number; at: number } | { type: 'OUTBOX_TAKEN' };

const SYMBOL = /^[A-Z0-9]{2,20}$/;

const invalid = (message: string) => new QtError('QT_CONFIG_INVALID', `ai-engine: ${message}`);

/** The config with defaults filled in; throws QT_CONFIG_INVALID on a bad value. */
export function resolveAiConfig(config: Partial<AiConfig> = {}): AiConfig {
  const resolved: AiConfig = {
    confidenceFloor: config.confidenceFloor ?? DEFAULT_CONFIDENCE_FLOOR,
    minIntervalMs: config.minIntervalMs ?? DEFAULT_MIN_INTERVAL_MS,
    windowSize: config.windowSize ?? DEFAULT_WINDOW_SIZE,
    weights: { ...DEFAULT_WEIGHTS, ...config.weights },
  };
  if (!(resolved.confidenceFloor >= 0 && resolved.confidenceFloor <= 1)) {
    throw invalid(`confidenceFloor must be in 0..1, got ${resolved.confidenceFloor}`);
  }
  if (!(Number.isFinite(resolved.minIntervalMs) && resolved.minIntervalMs > 0)) {
    throw invalid(`minIntervalMs must be positive, got ${resolved.minIntervalMs}`);
  }
  if (!(Number.isInteger(resolved.windowSize) && resolved.windowSize >= MIN_WINDOW_SIZE)) {
    throw invalid(`windowSize must be an integer >= ${MIN_WINDOW_SIZE}, got ${resolved.windowSize}`);
  }
  for (const [name, w] of Object.entries(resolved.weights)) {
    if (!(Number.isFinite(w) && w >= 0)) throw invalid(`weight of ${name} must be >= 0, got ${w}`);
  }
  return resolved;
}

/** Whether flood control lets a `side` signal for a symbol through at `at`. */
export function floodControlPasses(
  last: { side: 'buy' | 'sell'; at: number } | undefined,
  side: 'buy' | 'sell',
  at: number,
  minIntervalMs: number,
): boolean {
  if (last === undefined) return true;
  const elapsed = at - last.at;
  if (elapsed < minIntervalMs) return false;
  return side !== last.side || elapsed >= minIntervalMs * 3;
}

function own<T>(record: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/** The ai-engine machine for a config (defaults: floor 0.5, 5000 ms, 100 closes). */
export function createAiMachine(config: Partial<AiConfig> = {}) {
  const cfg = resolveAiConfig(config);
  return setup({
    types: { context: {} as AiContext, events: {} as AiEvent },
  }).createMachine({
    id: 'ai-engine',
    context: { windows: {}, lastSignal: {}, outbox: [], nextId: 1 },
    on: {
      TICK: {
        guard: ({ event }) =>
          SYMBOL.test(event.symbol) && Number.isFinite(event.price) && event.price > 0 && Number.isFinite(event.at),
        actions: assign(({ context, event }) => {
          const { symbol, price, at } = event;
          const window = [...(own(context.windows, symbol) ?? []), price].slice(-cfg.windowSize);
          const windows = { ...context.windows, [symbol]: window };
          const decision = decide(window, cfg.weights);
          if (
            decision.side === 'hold' ||
            decision.confidence < cfg.confidenceFloor ||
            !floodControlPasses(own(context.lastSignal, symbol), decision.side, at, cfg.minIntervalMs)
          ) {
            return { windows };
          }
          const signal: SignalOutput = {
            type: 'signal.generated',
            data: {
              signalId: `${symbol}-${at}-${context.nextId}`.slice(0, 64),
              symbol,
              side: decision.side,
              confidence: decision.confidence,
              price,
              strategies: decision.strategies.map((s) => ({ name: s.name, side: s.side, score: s.score })),
            },
          };
          return {
            windows,
            lastSignal: { ...context.lastSignal, [symbol]: { side: decision.side, at } },
            outbox: [...context.outbox, signal],
            nextId: context.nextId + 1,
          };
        }),
      },
      OUTBOX_TAKEN: { actions: assign({ outbox: () => [] }) },
    },
  });
}

export type AiMachine = ReturnType<typeof createAiMachine>;

/** Machine events for a consumed envelope: a `market.tick` is a TICK at its envelope time. */
export function aiToEvents(envelope: Envelope): AiEvent[] {
  if (envelope.type !== 'market.tick') return [];
  const at = Date.parse(envelope.time);
  if (!Number.isFinite(at)) return [];
  return [{ type: 'TICK', symbol: envelope.data.symbol, price: envelope.data.price, at }];
}

/** The signals the actor asked to publish since the last call, emptying its outbox. */
export function takeAiOutbox(actor: Actor<AiMachine>): readonly SignalOutput[] {
  return takeOutbox(actor);
}

/** The host spec of the ai-engine: consumes `market`, publishes `signal.generated`. */
export function createAiSpec(config: Partial<AiConfig> = {}): ActorSpec<AiMachine> {
  return {
    name: 'ai-engine',
    machine: createAiMachine(config),
    topics: ACTOR_TOPICS['ai-engine'],
    toEvents: aiToEvents,
    takeOutputs: takeAiOutbox,
  };
}
