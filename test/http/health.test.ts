import test from 'ava';
import { bearerMatches } from '../../src/http/auth.js';
import { computeStatus, type DependencyHealth } from '../../src/http/health.js';

const dep = (status: DependencyHealth['status'], critical: boolean): DependencyHealth => ({
  status,
  critical,
  latency_ms: 1,
});

test('status: a critical dependency DOWN is DOWN; any other trouble is DEGRADED; else OK', (t) => {
  t.is(computeStatus({}), 'OK');
  t.is(computeStatus({ redis: dep('OK', true), buffer: dep('OK', false) }), 'OK');
  t.is(computeStatus({ redis: dep('DOWN', true), buffer: dep('OK', false) }), 'DOWN');
  t.is(computeStatus({ redis: dep('OK', true), buffer: dep('DOWN', false) }), 'DEGRADED');
  t.is(computeStatus({ redis: dep('DEGRADED', true) }), 'DEGRADED');
});

test('bearer tokens: only the exact token with the Bearer scheme passes', (t) => {
  const token = 'a-long-enough-admin-token';
  t.true(bearerMatches(`Bearer ${token}`, token));
  t.false(bearerMatches(undefined, token));
  t.false(bearerMatches(token, token), 'scheme required');
  t.false(bearerMatches(`Bearer ${token}x`, token));
  t.false(bearerMatches(`Bearer ${token.slice(1)}`, token));
  t.false(bearerMatches('Basic abc', token));
});
