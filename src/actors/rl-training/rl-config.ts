/**
 * Settings of the rl-training actor: named defaults, validated once when the
 * machine is built (QT_CONFIG_INVALID on a bad value), then frozen.
 */

import {
  DEFAULT_RL_EVALUATE_EVERY,
  DEFAULT_RL_HORIZON_MS,
  DEFAULT_RL_PROMOTION_MARGIN,
  DEFAULT_RL_WINDOW_SIZE,
} from '../../config/defaults.js';
import { QtError } from '../../errors.js';
import { DEFAULT_MIN_CONFIDENCE, DEFAULT_ORDER_NOTIONAL } from '../risk-safety/policy.js';
import { MAX_SLOPE } from './sizing.js';

/** Full-window evaluations a candidate may lose before it is dropped for a new one. */
export const DEFAULT_REJECT_AFTER = 5;
/** Signals awaiting their outcome at most; beyond it the oldest is dropped (and counted). */
export const DEFAULT_MAX_PENDING = 500;
/** Seed of the policy search. */
export const DEFAULT_SEARCH_SEED = 1;
/** How far (at most) a candidate's slope moves from live's. */
export const DEFAULT_SEARCH_STEP = 0.5;

/** Settings of {@link createRlMachine}; every field has a default. */
export interface RlConfig {
  /** Outcomes in the window (integer ≥ 2); promotion needs a full window. */
  readonly windowSize: number;
  /** Outcome horizon in ms of event time (> 0). */
  readonly horizonMs: number;
  /** Resolved outcomes between evaluations (integer ≥ 1). */
  readonly evaluateEvery: number;
  /** Candidate score must be > live score + margin to promote (≥ 0). */
  readonly margin: number;
  /** Full-window evaluations without a win before the candidate is replaced (integer ≥ 1). */
  readonly rejectAfter: number;
  /** Cap on signals awaiting their outcome (integer ≥ 1). */
  readonly maxPending: number;
  /**
   * Signals below this confidence are not evaluated: pre-trade rejects them
   * (LOW_CONFIDENCE) whatever the sizing. Keep it equal to the risk policy's
   * `minConfidence` (default the same, 0.6).
   */
  readonly minConfidence: number;
  /** Notional one signal is sized from, to express PnL in quote currency (> 0); the score does not depend on it. */
  readonly orderNotional: number;
  /** Seed of the deterministic policy search (integer). */
  readonly seed: number;
  /** Largest slope move of a proposal (0.001..MAX_SLOPE). */
  readonly searchStep: number;
}

/** The defaults, frozen. */
export const DEFAULT_RL_CONFIG: RlConfig = Object.freeze({
  windowSize: DEFAULT_RL_WINDOW_SIZE,
  horizonMs: DEFAULT_RL_HORIZON_MS,
  evaluateEvery: DEFAULT_RL_EVALUATE_EVERY,
  margin: DEFAULT_RL_PROMOTION_MARGIN,
  rejectAfter: DEFAULT_REJECT_AFTER,
  maxPending: DEFAULT_MAX_PENDING,
  minConfidence: DEFAULT_MIN_CONFIDENCE,
  orderNotional: DEFAULT_ORDER_NOTIONAL,
  seed: DEFAULT_SEARCH_SEED,
  searchStep: DEFAULT_SEARCH_STEP,
});

const isInt = (x: number, min: number): boolean => Number.isSafeInteger(x) && x >= min;

/** The config with defaults filled in, frozen; throws QT_CONFIG_INVALID on a bad value. */
export function resolveRlConfig(config: Partial<RlConfig> = {}): RlConfig {
  const c: RlConfig = { ...DEFAULT_RL_CONFIG, ...stripUndefined(config) };
  const fail = (name: keyof RlConfig, rule: string): never => {
    throw new QtError('QT_CONFIG_INVALID', `rl-training: ${name} must be ${rule}, got ${c[name]}`);
  };
  if (!isInt(c.windowSize, 2)) fail('windowSize', 'an integer >= 2');
  if (!(Number.isFinite(c.horizonMs) && c.horizonMs > 0)) fail('horizonMs', 'positive');
  if (!isInt(c.evaluateEvery, 1)) fail('evaluateEvery', 'an integer >= 1');
  if (!(Number.isFinite(c.margin) && c.margin >= 0)) fail('margin', '>= 0');
  if (!isInt(c.rejectAfter, 1)) fail('rejectAfter', 'an integer >= 1');
  if (!isInt(c.maxPending, 1)) fail('maxPending', 'an integer >= 1');
  if (!(c.minConfidence >= 0 && c.minConfidence <= 1)) fail('minConfidence', 'in 0..1');
  if (!(Number.isFinite(c.orderNotional) && c.orderNotional > 0)) fail('orderNotional', 'positive');
  if (!Number.isSafeInteger(c.seed)) fail('seed', 'an integer');
  if (!(c.searchStep >= 0.001 && c.searchStep <= MAX_SLOPE)) fail('searchStep', `in 0.001..${MAX_SLOPE}`);
  return Object.freeze(c);
}

/** `{ x: undefined }` means "default", as an absent key does. */
function stripUndefined(config: Partial<RlConfig>): Partial<RlConfig> {
  return Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined)) as Partial<RlConfig>;
}
