import type { Redis } from 'ioredis';
import { z } from 'zod';
import { QtError } from '../../errors.js';
import { RISK_POLICY_FIELDS } from '../../events/catalog.js';
import type { Keys } from '../../streams/keys.js';

/** Default cap on approved orders within any 1000 ms window. */
export const DEFAULT_MAX_ORDERS_PER_SECOND = 10;
/** Default cap on the notional (quote currency) of one order. */
export const DEFAULT_MAX_NOTIONAL_PER_ORDER = 10_000;
/** Default cap on |position notional| per symbol after an order fills. */
export const DEFAULT_MAX_POSITION_NOTIONAL_PER_SYMBOL = 50_000;
/** Default cap on orders open at the venue at once. */
export const DEFAULT_MAX_OPEN_ORDERS = 20;
/** Default lowest signal confidence that may become an order. */
export const DEFAULT_MIN_CONFIDENCE = 0.6;
/** Default oldest signal (ms since it was generated) that may become an order. */
export const DEFAULT_MAX_SIGNAL_AGE_MS = 5_000;
/** Default notional the risk step sizes an order to. */
export const DEFAULT_ORDER_NOTIONAL = 1_000;

/** The setting name of the policy: its Redis key is `keys.setting(RISK_POLICY_SETTING)`. */
export const RISK_POLICY_SETTING = 'risk-policy';

/** Each field's rule without its default (shared with `risk.policy_updated`); used by the full policy and a patch of it. */
const POLICY_FIELDS = RISK_POLICY_FIELDS;

/**
 * The pre-trade risk policy (docs/actors.md, pre-trade), stored as JSON in Redis. Strict: an
 * unknown key is an error, not silently dropped, so a typo cannot leave a
 * limit at its default unnoticed. A missing field takes its named default,
 * which lets a policy stored before a field existed still load.
 */
export const RiskPolicySchema = z.strictObject({
  maxOrdersPerSecond: POLICY_FIELDS.maxOrdersPerSecond.default(DEFAULT_MAX_ORDERS_PER_SECOND),
  maxNotionalPerOrder: POLICY_FIELDS.maxNotionalPerOrder.default(DEFAULT_MAX_NOTIONAL_PER_ORDER),
  maxPositionNotionalPerSymbol: POLICY_FIELDS.maxPositionNotionalPerSymbol.default(
    DEFAULT_MAX_POSITION_NOTIONAL_PER_SYMBOL,
  ),
  maxOpenOrders: POLICY_FIELDS.maxOpenOrders.default(DEFAULT_MAX_OPEN_ORDERS),
  minConfidence: POLICY_FIELDS.minConfidence.default(DEFAULT_MIN_CONFIDENCE),
  maxSignalAgeMs: POLICY_FIELDS.maxSignalAgeMs.default(DEFAULT_MAX_SIGNAL_AGE_MS),
  orderNotional: POLICY_FIELDS.orderNotional.default(DEFAULT_ORDER_NOTIONAL),
  // Spot venues (the paper exchange, Binance spot) cannot sell what is not held.
  allowShortSelling: POLICY_FIELDS.allowShortSelling.default(false),
});
export type RiskPolicy = z.infer<typeof RiskPolicySchema>;

/**
 * A change to some fields of the policy (the `policy` of `PUT /policy`).
 * Built from the same field rules without defaults, so an absent field means
 * "unchanged", never "reset to default".
 */
export const RiskPolicyPatchSchema = z.strictObject(POLICY_FIELDS).partial();
export type RiskPolicyPatch = z.infer<typeof RiskPolicyPatchSchema>;

/** Two fields of a policy that contradict each other, and why (a `PUT /policy` refusal names both). */
export interface PolicyContradiction {
  readonly fields: readonly [keyof RiskPolicy, keyof RiskPolicy];
  readonly message: string;
}

/**
 * The contradictions in a policy: limits that, together, refuse every order
 * pre-trade sizes (docs/actors.md, pre-trade). Orders are sized to
 * `orderNotional` (times the sizing model's multiplier, 1 by default), so
 * - `orderNotional > maxNotionalPerOrder` rejects every order at the
 *   policy's own size (NOTIONAL_EXCEEDS_MAX);
 * - `orderNotional > maxPositionNotionalPerSymbol` rejects every order that
 *   opens a position (POSITION_LIMIT: from flat the position after is the
 *   order).
 * The limits that refuse everything on their own (no open orders allowed,
 * a minimum confidence above 1, a zero or negative limit) are already
 * outside the field rules. A sized-up order above a cap is not a
 * contradiction: the cap is meant to stop it. Empty when the policy is
 * coherent.
 */
export function policyContradictions(policy: RiskPolicy): PolicyContradiction[] {
  const found: PolicyContradiction[] = [];
  if (policy.orderNotional > policy.maxNotionalPerOrder) {
    found.push({
      fields: ['orderNotional', 'maxNotionalPerOrder'],
      message: `orderNotional ${policy.orderNotional} is above maxNotionalPerOrder ${policy.maxNotionalPerOrder}: every order would be rejected (NOTIONAL_EXCEEDS_MAX)`,
    });
  }
  if (policy.orderNotional > policy.maxPositionNotionalPerSymbol) {
    found.push({
      fields: ['orderNotional', 'maxPositionNotionalPerSymbol'],
      message: `orderNotional ${policy.orderNotional} is above maxPositionNotionalPerSymbol ${policy.maxPositionNotionalPerSymbol}: every order opening a position would be rejected (POSITION_LIMIT)`,
    });
  }
  return found;
}

/** The policy in force when none is stored. */
export const DEFAULT_RISK_POLICY: RiskPolicy = Object.freeze(RiskPolicySchema.parse({}));

/**
 * The risk policy in Redis at `keys.setting('risk-policy')`. An absent key
 * means the defaults; a stored value that is not valid JSON or fails the
 * schema is an error (QT_CONFIG_INVALID, naming the key), never replaced by
 * defaults, since silently loosening limits is the worse failure.
 */
export class PolicyStore {
  readonly #redis: Redis;
  readonly #key: string;
  /** The tail of in-process updates, so two read-merge-writes never interleave. */
  #updating: Promise<unknown> = Promise.resolve();

  constructor(options: { redis: Redis; keys: Keys }) {
    this.#redis = options.redis;
    this.#key = options.keys.setting(RISK_POLICY_SETTING);
  }

  /** The Redis key of the policy. */
  get key(): string {
    return this.#key;
  }

  /** The stored policy, or {@link DEFAULT_RISK_POLICY} when none is stored. */
  async load(): Promise<RiskPolicy> {
    const raw = await this.#redis.get(this.#key);
    if (raw === null) return { ...DEFAULT_RISK_POLICY };
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch (cause) {
      throw new QtError('QT_CONFIG_INVALID', `risk policy at "${this.#key}" is not JSON: ${(cause as Error).message}`, {
        cause,
        details: { key: this.#key },
      });
    }
    const parsed = RiskPolicySchema.safeParse(json);
    if (!parsed.success) {
      throw new QtError(
        'QT_CONFIG_INVALID',
        `risk policy at "${this.#key}" is invalid: ${z.prettifyError(parsed.error)}`,
        { details: { key: this.#key, issues: parsed.error.issues } },
      );
    }
    return parsed.data;
  }

  /**
   * Validates and stores a whole policy; nothing is written when it is
   * invalid (QT_CONFIG_INVALID) or contradicts itself
   * (QT_POLICY_CONTRADICTORY, `details.issues` the
   * {@link policyContradictions}). A stored policy from before a rule
   * existed still loads.
   */
  async save(policy: RiskPolicy): Promise<void> {
    const parsed = RiskPolicySchema.safeParse(policy);
    if (!parsed.success) {
      throw new QtError(
        'QT_CONFIG_INVALID',
        `refusing to store an invalid risk policy: ${z.prettifyError(parsed.error)}`,
        {
          details: { key: this.#key, issues: parsed.error.issues },
        },
      );
    }
    const issues = policyContradictions(parsed.data);
    if (issues.length > 0) {
      throw new QtError(
        'QT_POLICY_CONTRADICTORY',
        `refusing to store a contradictory risk policy: ${issues.map((i) => i.message).join('; ')}`,
        { details: { key: this.#key, issues } },
      );
    }
    await this.#redis.set(this.#key, JSON.stringify(parsed.data));
  }

  /**
   * Applies a patch to the stored policy and stores the result, which it
   * resolves with. `announce` (the route's `risk.policy_updated`) runs right
   * after the write, in the same turn: updates made through this store run one
   * at a time, announcement included, so the events follow the writes in
   * order and a concurrent change is never lost or announced out of order. The
   * runtime has one risk-safety process, the policy's only writer.
   */
  update(patch: RiskPolicyPatch, announce?: (policy: RiskPolicy) => Promise<unknown>): Promise<RiskPolicy> {
    return this.#inTurn(async () => {
      const next = { ...(await this.load()), ...patch };
      await this.save(next);
      await announce?.(next);
      return next;
    });
  }

  /** Runs `fn` after every earlier turn of this store has settled. */
  #inTurn<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#updating.then(fn);
    this.#updating = run.catch(() => undefined);
    return run;
  }
}
