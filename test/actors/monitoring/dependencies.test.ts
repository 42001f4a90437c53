/** The dependency graph (src/actors/monitoring/dependencies.ts) and the split of failures into root causes and victims. */
import test from 'ava';
import { analyseFailures, DEPENDENCIES } from '../../../src/actors/monitoring/dependencies.js';
import { SERVICE_NAMES } from '../../../src/actors/services.js';

test('every service is in the graph, every dependency is a node, and Redis is under every service', (t) => {
  for (const s of SERVICE_NAMES) {
    t.true(Object.hasOwn(DEPENDENCIES, s), s);
    t.true(DEPENDENCIES[s]?.includes('redis'), s);
  }
  for (const deps of Object.values(DEPENDENCIES)) for (const d of deps) t.true(Object.hasOwn(DEPENDENCIES, d), d);
});

test('the trading chain: exchange down through execution is one root with every failing dependent', (t) => {
  const failing = new Set(['exchange', 'marketdata', 'ai-engine', 'risk-safety', 'execution', 'rl-training']);
  const { roots, blastRadius } = analyseFailures(failing);
  t.deepEqual([...roots], ['exchange']);
  t.deepEqual(blastRadius.get('exchange'), ['ai-engine', 'execution', 'marketdata', 'risk-safety', 'rl-training']);
});

test('two independent roots each get their own radius; a component under both is in both', (t) => {
  const { roots, blastRadius } = analyseFailures(new Set(['redis', 'exchange', 'marketdata', 'postgres']));
  t.deepEqual([...roots].sort(), ['exchange', 'postgres', 'redis']);
  t.deepEqual(blastRadius.get('redis'), ['marketdata']);
  t.deepEqual(blastRadius.get('exchange'), ['marketdata']);
  t.deepEqual(blastRadius.get('postgres'), []);
});
