import test from 'ava';
import { backoffDelay } from '../src/backoff.js';

const fixed = (value: number) => () => value;

test('no jitter: attempt 1 is the base, each attempt doubles, the cap holds', (t) => {
  const policy = { baseMs: 100, maxMs: 1_000 };
  t.deepEqual(
    [1, 2, 3, 4, 5, 6].map((attempt) => backoffDelay(policy, attempt)),
    [100, 200, 400, 800, 1_000, 1_000],
  );
  t.is(backoffDelay({ ...policy, jitter: 'none' }, 3, fixed(0.99)), 400, 'random is not used without jitter');
});

test('attempt 0, negative or fractional attempts count as attempt 1 (or their whole part)', (t) => {
  const policy = { baseMs: 100, maxMs: 1_000 };
  t.is(backoffDelay(policy, 0), 100);
  t.is(backoffDelay(policy, -5), 100);
  t.is(backoffDelay(policy, 2.9), 200);
});

test('equal jitter: half the step fixed, half scaled by random', (t) => {
  const policy = { baseMs: 1_000, maxMs: 8_000, jitter: 'equal' } as const;
  t.is(backoffDelay(policy, 1, fixed(0)), 500);
  t.is(backoffDelay(policy, 1, fixed(0.5)), 750);
  t.is(backoffDelay(policy, 3, fixed(0.25)), 2_500);
  t.is(backoffDelay(policy, 9, fixed(0)), 4_000, 'the cap applies before the jitter');
  t.is(backoffDelay(policy, 9, fixed(0.999_999)), 8_000);
});

test('spread jitter: the step scaled by a factor in [1 - spread, 1 + spread)', (t) => {
  const policy = { baseMs: 1_000, maxMs: 30_000, jitter: { spread: 0.2 } } as const;
  t.is(backoffDelay(policy, 1, fixed(0)), 800);
  t.is(backoffDelay(policy, 1, fixed(0.5)), 1_000);
  t.is(backoffDelay(policy, 1, fixed(1)), 1_200);
  t.is(backoffDelay(policy, 2, fixed(0.75)), 2_200);
  t.is(backoffDelay(policy, 20, fixed(0)), 24_000, 'the jitter spreads around the cap, too');
});

test('large attempts do not overflow: the delay stays the cap, finite', (t) => {
  for (const jitter of ['none', 'equal', { spread: 0.2 }] as const) {
    for (const attempt of [60, 1_024, 1e9, Number.MAX_SAFE_INTEGER, Number.POSITIVE_INFINITY]) {
      const delay = backoffDelay({ baseMs: 250, maxMs: 10_000, jitter }, attempt, fixed(0.5));
      t.true(Number.isFinite(delay), `attempt ${attempt}`);
      t.true(delay > 0 && delay <= 12_000, `attempt ${attempt}: ${delay}`);
    }
  }
  t.is(backoffDelay({ baseMs: 250, maxMs: 10_000 }, Number.MAX_SAFE_INTEGER), 10_000);
});
