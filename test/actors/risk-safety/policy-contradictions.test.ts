/**
 * policyContradictions (src/actors/risk-safety/policy.ts): the limits that
 * together refuse every order, each naming both fields; a coherent policy
 * has none.
 */
import test from 'ava';
import {
  DEFAULT_RISK_POLICY,
  policyContradictions,
  type RiskPolicy,
  RiskPolicyPatchSchema,
} from '../../../src/actors/risk-safety/policy.js';

const policy = (patch: Partial<RiskPolicy>): RiskPolicy => ({ ...DEFAULT_RISK_POLICY, ...patch });

test('the defaults are coherent, and so is an order size exactly at both caps', (t) => {
  t.deepEqual(policyContradictions(DEFAULT_RISK_POLICY), []);
  t.deepEqual(
    policyContradictions(policy({ orderNotional: 500, maxNotionalPerOrder: 500, maxPositionNotionalPerSymbol: 500 })),
    [],
  );
});

test('an order size above the per-order maximum names orderNotional and maxNotionalPerOrder', (t) => {
  const issues = policyContradictions(policy({ orderNotional: 2_000, maxNotionalPerOrder: 1_500 }));
  t.deepEqual(
    issues.map((i) => i.fields),
    [['orderNotional', 'maxNotionalPerOrder']],
  );
  t.regex(issues[0]?.message ?? '', /orderNotional 2000 is above maxNotionalPerOrder 1500.*NOTIONAL_EXCEEDS_MAX/);
});

test('an order size above the per-symbol position cap names orderNotional and maxPositionNotionalPerSymbol', (t) => {
  const issues = policyContradictions(
    policy({ orderNotional: 8_000, maxNotionalPerOrder: 10_000, maxPositionNotionalPerSymbol: 5_000 }),
  );
  t.deepEqual(
    issues.map((i) => i.fields),
    [['orderNotional', 'maxPositionNotionalPerSymbol']],
  );
  t.regex(issues[0]?.message ?? '', /POSITION_LIMIT/);
});

test('both at once are both reported', (t) => {
  const issues = policyContradictions(
    policy({ orderNotional: 9_000, maxNotionalPerOrder: 1_000, maxPositionNotionalPerSymbol: 2_000 }),
  );
  t.is(issues.length, 2);
});

test('a per-order maximum above the position cap is not a contradiction (reduce-only orders are not capped by it)', (t) => {
  t.deepEqual(policyContradictions(policy({ maxNotionalPerOrder: 80_000, maxPositionNotionalPerSymbol: 50_000 })), []);
});

test('limits that refuse every order on their own are outside the field rules already', (t) => {
  for (const patch of [
    { maxOpenOrders: 0 },
    { minConfidence: 1.01 },
    { maxNotionalPerOrder: 0 },
    { orderNotional: -1 },
  ]) {
    t.false(RiskPolicyPatchSchema.safeParse(patch).success, JSON.stringify(patch));
  }
});
