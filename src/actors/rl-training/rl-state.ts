/**
 * The rl-training state and its pure transitions: signals wait for their
 * outcome, outcomes fill a window, and every `evaluateEvery` outcomes the
 * candidate is compared with live on that window (see docs/rl-training.md).
 * The machine in `rl-machine.ts` only routes events to these functions.
 */
import type { EventData } from '../../events/catalog.js';
import type { RlConfig } from './rl-config.js';
import { type Outcome, signalReturn, windowScore } from './score.js';
import { DEFAULT_SIZING_MODEL, proposeCandidate, type SizingModel } from './sizing.js';

/** An event the actor asks to publish. */
export type RlOutput =
  | { readonly type: 'model.evaluated'; readonly data: EventData<'model.evaluated'> }
  | { readonly type: 'model.promoted'; readonly data: EventData<'model.promoted'> };

/** A signal awaiting its outcome; `at` is its envelope time (epoch ms). */
export interface PendingSignal {
  readonly signalId: string;
  readonly symbol: string;
  readonly side: 'buy' | 'sell';
  readonly confidence: number;
  readonly price: number;
  readonly at: number;
}

export interface RlContext {
  /** The policy pre-trade sizes with (as far as this actor has promoted). */
  readonly live: SizingModel;
  /** The policy evaluated in shadow. */
  readonly candidate: SizingModel;
  /** Generation of the candidate: one more for every candidate proposed. */
  readonly generation: number;
  /** Signals awaiting their outcome, oldest first, at most `maxPending`. */
  readonly pending: readonly PendingSignal[];
  /** The latest outcomes since the candidate was proposed, oldest first, at most `windowSize`. */
  readonly window: readonly Outcome[];
  /** Outcomes since the last evaluation. */
  readonly sinceEvaluation: number;
  /** Full-window evaluations the current candidate has lost. */
  readonly failedEvaluations: number;
  /** Outcomes resolved in total. */
  readonly resolved: number;
  /** Signals dropped unresolved because `maxPending` were waiting. */
  readonly droppedSignals: number;
  /** Signals not evaluated: below `minConfidence` or malformed. */
  readonly skippedSignals: number;
  readonly outbox: readonly RlOutput[];
}

/** The state before any event: live is `fixed-1`, the first candidate is generation 1. */
export function initialRlContext(cfg: RlConfig): RlContext {
  return {
    live: DEFAULT_SIZING_MODEL,
    candidate: proposeCandidate(DEFAULT_SIZING_MODEL, 1, cfg.seed, cfg.searchStep),
    generation: 1,
    pending: [],
    window: [],
    sinceEvaluation: 0,
    failedEvaluations: 0,
    resolved: 0,
    droppedSignals: 0,
    skippedSignals: 0,
    outbox: [],
  };
}

const valid = (x: number): boolean => Number.isFinite(x) && x > 0;

/** A new signal waits for its outcome; the oldest pending one is dropped when `maxPending` wait already. */
export function addSignal(context: RlContext, signal: PendingSignal, cfg: RlConfig): Partial<RlContext> {
  const usable = valid(signal.price) && Number.isFinite(signal.at) && signal.confidence >= 0 && signal.confidence <= 1;
  if (!usable || signal.confidence < cfg.minConfidence) return { skippedSignals: context.skippedSignals + 1 };
  const pending = [...context.pending, signal];
  const excess = Math.max(0, pending.length - cfg.maxPending);
  return { pending: pending.slice(excess), droppedSignals: context.droppedSignals + excess };
}

/**
 * A tick resolves every pending signal of its symbol whose horizon it has
 * reached (`at ≥ signal.at + horizonMs`), at its price, oldest first. Each
 * outcome enters the window and may trigger an evaluation.
 */
export function applyTick(
  context: RlContext,
  tick: { symbol: string; price: number; at: number },
  cfg: RlConfig,
): Partial<RlContext> {
  if (!valid(tick.price) || !Number.isFinite(tick.at)) return {};
  const due = context.pending.filter((p) => p.symbol === tick.symbol && tick.at >= p.at + cfg.horizonMs);
  if (due.length === 0) return {};
  const resolved = new Set(due);
  let next: RlContext = { ...context, pending: context.pending.filter((p) => !resolved.has(p)) };
  for (const p of due) {
    next = addOutcome(
      next,
      { signalId: p.signalId, confidence: p.confidence, ret: signalReturn(p.side, p.price, tick.price) },
      cfg,
    );
  }
  return next;
}

function addOutcome(context: RlContext, outcome: Outcome, cfg: RlConfig): RlContext {
  const next: RlContext = {
    ...context,
    window: [...context.window, outcome].slice(-cfg.windowSize),
    sinceEvaluation: context.sinceEvaluation + 1,
    resolved: context.resolved + 1,
  };
  return next.sinceEvaluation >= cfg.evaluateEvery ? evaluate(next, cfg) : next;
}

/**
 * Scores both policies on the window and decides:
 * - `filling`: fewer than `windowSize` outcomes, never promotes;
 * - `promoted`: full window and candidate > live + margin: the candidate
 *   becomes live (`model.promoted`), a new one is proposed, the window restarts;
 * - `rejected`: full window, no win, the `rejectAfter`-th loss: a new
 *   candidate is proposed and the window restarts;
 * - `holding`: full window, no win yet: the window keeps sliding.
 */
export function evaluate(context: RlContext, cfg: RlConfig): RlContext {
  const { live, candidate, window } = context;
  const liveScore = windowScore(live, window, cfg.orderNotional);
  const candidateScore = windowScore(candidate, window, cfg.orderNotional);
  const full = window.length >= cfg.windowSize;
  const wins = candidateScore.score > liveScore.score + cfg.margin;
  const decision = !full
    ? 'filling'
    : wins
      ? 'promoted'
      : context.failedEvaluations + 1 >= cfg.rejectAfter
        ? 'rejected'
        : 'holding';
  const outputs: RlOutput[] = [
    {
      type: 'model.evaluated',
      data: {
        modelId: candidate.modelId,
        liveModelId: live.modelId,
        windowSize: cfg.windowSize,
        outcomes: window.length,
        candidateScore: candidateScore.score,
        liveScore: liveScore.score,
        candidatePnl: candidateScore.pnl,
        livePnl: liveScore.pnl,
        margin: cfg.margin,
        decision,
      },
    },
  ];
  if (decision === 'promoted') {
    outputs.push({
      type: 'model.promoted',
      data: {
        ...candidate,
        previousModelId: live.modelId,
        reason:
          `score ${candidateScore.score.toFixed(4)} beat live ${liveScore.score.toFixed(4)} ` +
          `by more than ${cfg.margin} over ${window.length} outcomes`,
        outcomes: window.length,
        candidateScore: candidateScore.score,
        liveScore: liveScore.score,
      },
    });
  }
  const evaluated: RlContext = { ...context, outbox: [...context.outbox, ...outputs], sinceEvaluation: 0 };
  switch (decision) {
    case 'filling':
      return evaluated;
    case 'holding':
      return { ...evaluated, failedEvaluations: context.failedEvaluations + 1 };
    case 'rejected':
      return nextCandidate(evaluated, live, cfg);
    case 'promoted':
      return nextCandidate(evaluated, candidate, cfg);
  }
}

/** `live` is (or stays) live; the next generation's candidate starts on an empty window. */
function nextCandidate(context: RlContext, live: SizingModel, cfg: RlConfig): RlContext {
  const generation = context.generation + 1;
  return {
    ...context,
    live,
    candidate: proposeCandidate(live, generation, cfg.seed, cfg.searchStep),
    generation,
    window: [],
    sinceEvaluation: 0,
    failedEvaluations: 0,
  };
}
