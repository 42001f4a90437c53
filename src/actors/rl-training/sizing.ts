/**
 * Sizing policies (rl-training, docs/architecture.md §11.5): how much of the risk policy's
 * `orderNotional` a signal gets, as a multiplier of it. A model is plain
 * JSON, so it travels in `model.promoted` and lives in actor snapshots.
 * Everything here is pure and deterministic: the machines that use it stay
 * replayable.
 */
import type { EventData } from '../../events/catalog.js';

/** The largest multiplier any model can give: a promoted policy at most doubles the configured order size. */
export const MAX_SIZE_MULTIPLIER = 2;
/** The confidence at which a confidence-scaled model gives exactly its level `a`. */
export const CONFIDENCE_PIVOT = 0.5;
/** Bound on the slope `b` the policy search may reach. */
export const MAX_SLOPE = 4;
/** The smallest share of `searchStep` a proposal moves the slope by, so a candidate is never ~ live. */
export const MIN_STEP_SHARE = 0.25;

/** A sizing model: every order gets the same multiplier. */
export interface FixedSizingModel {
  readonly modelId: string;
  readonly kind: 'fixed';
  readonly params: { readonly multiplier: number };
}

/** A sizing model whose multiplier is `a + b × (confidence − 0.5)`, clamped to `[0, MAX_SIZE_MULTIPLIER]`. */
export interface ConfidenceScaledSizingModel {
  readonly modelId: string;
  readonly kind: 'confidence-scaled';
  readonly params: { readonly a: number; readonly b: number };
}

/** A sizing policy as it is evaluated, promoted and applied. */
export type SizingModel = FixedSizingModel | ConfidenceScaledSizingModel;

/** The live model before any promotion: multiplier 1, i.e. exactly the policy's `orderNotional`. */
export const DEFAULT_SIZING_MODEL: SizingModel = Object.freeze({
  modelId: 'fixed-1',
  kind: 'fixed',
  params: Object.freeze({ multiplier: 1 }),
});

/** `x` clamped to `[min, max]`; NaN becomes `min` (the safe side: size nothing). */
export function clamp(x: number, min: number, max: number): number {
  if (Number.isNaN(x)) return min;
  return Math.min(max, Math.max(min, x));
}

/**
 * The multiplier a model gives a signal of `confidence`, in
 * `[0, MAX_SIZE_MULTIPLIER]`. The default model gives exactly 1, so sizing
 * with it is bit-for-bit the unscaled size.
 */
export function sizeMultiplier(model: SizingModel, confidence: number): number {
  switch (model.kind) {
    case 'fixed':
      return clamp(model.params.multiplier, 0, MAX_SIZE_MULTIPLIER);
    case 'confidence-scaled':
      return clamp(model.params.a + model.params.b * (confidence - CONFIDENCE_PIVOT), 0, MAX_SIZE_MULTIPLIER);
  }
}

/** The sizing model a `model.promoted` carries. */
export function sizingModelOf(data: EventData<'model.promoted'>): SizingModel {
  switch (data.kind) {
    case 'fixed':
      return { modelId: data.modelId, kind: 'fixed', params: { multiplier: data.params.multiplier } };
    case 'confidence-scaled':
      return { modelId: data.modelId, kind: 'confidence-scaled', params: { a: data.params.a, b: data.params.b } };
  }
}

/**
 * A deterministic number in `[0, 1)` for `(seed, generation)`: a 32-bit
 * integer hash (murmur3's finalizer). The policy search draws from it instead
 * of `Math.random`, so replaying the same events proposes the same candidates.
 */
export function searchNoise(seed: number, generation: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(generation + 0x632be5ab, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 2 ** 32;
}

/**
 * The candidate of a generation: the live model's level `a` (a fixed model's
 * multiplier) with its slope `b` moved by `±(0.25..1) × step`, the direction
 * and size drawn from {@link searchNoise}. At the slope bound it moves the
 * other way. Only the slope moves because the window score is scale-invariant
 * (see `score.ts`): a change of level alone can never win, and letting it
 * drift would change risk with no evidence for it.
 */
export function proposeCandidate(live: SizingModel, generation: number, seed: number, step: number): SizingModel {
  const { a, b } = live.kind === 'fixed' ? { a: live.params.multiplier, b: 0 } : live.params;
  const u = searchNoise(seed, generation);
  const direction = u < 0.5 ? -1 : 1;
  const delta = step * (MIN_STEP_SHARE + (1 - MIN_STEP_SHARE) * ((u * 2) % 1));
  let next = round6(clamp(b + direction * delta, -MAX_SLOPE, MAX_SLOPE));
  if (next === b) next = round6(clamp(b - direction * delta, -MAX_SLOPE, MAX_SLOPE));
  return {
    modelId: `cs-g${generation}`,
    kind: 'confidence-scaled',
    params: { a: round6(clamp(a, 0, MAX_SIZE_MULTIPLIER)), b: next },
  };
}

/** Six decimals keep params readable in events and exact across JSON round trips. */
const round6 = (x: number): number => Math.round(x * 1e6) / 1e6;
