/**
 * The alert engine's promises over any sequence of evaluations and operator
 * clears: per alert id, raises and clears alternate starting with a raise
 * (never raised twice while active, each occurrence cleared at most once);
 * only a root cause raises; and at the end exactly the alerts whose
 * condition still holds are active, every other one cleared.
 */
import test from 'ava';
import fc from 'fast-check';
import {
  type AlertCheck,
  type AlertInput,
  alertId,
  INITIAL_ALERT_STATE,
  stepAlerts,
} from '../../../src/actors/monitoring/alerts.js';
import { dependenciesOf } from '../../../src/actors/monitoring/dependencies.js';
import { CaseTally } from '../../support/case-tally.js';

const COMPONENTS = ['redis', 'exchange', 'marketdata', 'ai-engine', 'execution', 'ess'] as const;
const CONDITIONS = ['health', 'lag'] as const;
const IDS = COMPONENTS.flatMap((c) => CONDITIONS.map((k) => `${c}:${k}`));

const check: fc.Arbitrary<AlertCheck> = fc.record({
  component: fc.constantFrom(...COMPONENTS),
  condition: fc.constantFrom(...CONDITIONS),
  level: fc.constantFrom(null, null, 'WARNING' as const, 'CRITICAL' as const),
  message: fc.constant('m'),
});
const input = (step: number): fc.Arbitrary<AlertInput> =>
  fc.oneof(
    {
      weight: 4,
      arbitrary: fc
        .array(check, { maxLength: 6 })
        .map((checks) => ({ type: 'evaluation' as const, at: at(step), checks })),
    },
    {
      weight: 1,
      arbitrary: fc
        .record({ alertId: fc.constantFrom(...IDS), operator: fc.constantFrom('alice', 'bob') })
        .map((c) => ({ type: 'operator_clear' as const, at: at(step), ...c })),
    },
  );
const at = (step: number) => new Date(Date.UTC(2025, 0, 1) + step * 1_000).toISOString();
const sequence = fc
  .integer({ min: 1, max: 40 })
  .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => input(i))));

const tally = new CaseTally('alert engine', {
  dedup: 0.3,
  auto_resolved: 0.3,
  root_with_blast_radius: 0.2,
  victim_not_raised: 0.2,
  operator_clear_then_resolved: 0.05,
  escalated: 0.05,
  active_at_end: 0.2,
});

test('raises and clears alternate per id, only root causes raise, and at the end exactly the holding conditions are active', (t) => {
  fc.assert(
    fc.property(sequence, (inputs) => {
      const seen = tally.run();
      let state = INITIAL_ALERT_STATE;
      const open = new Map<string, boolean>(); // id → raised and not cleared
      const lastKnown = new Map<string, AlertCheck>();
      const operatorCleared = new Set<string>();
      for (const inp of inputs) {
        const before = state;
        const out = stepAlerts(state, inp);
        state = out.state;
        if (inp.type === 'operator_clear') {
          if (!out.refused) operatorCleared.add(inp.alertId);
          continue;
        }
        for (const c of inp.checks) lastKnown.set(alertId(c), c);
        const failing = new Set([...lastKnown.values()].filter((c) => c.level !== null).map((c) => c.component));
        for (const e of out.events) {
          const id = e.data.alertId;
          if (e.type === 'health.alert_raised') {
            if (open.get(id)) return false; // raised twice while active
            const component = id.split(':')[0] as string;
            if (dependenciesOf(component).some((d) => failing.has(d))) return false; // a victim raised
            if (e.data.blastRadius.length > 0) seen('root_with_blast_radius');
            open.set(id, true);
          } else {
            if (!open.get(id)) return false; // cleared twice, or never raised
            if (e.data.reason === 'escalated') seen('escalated');
            else seen('auto_resolved');
            if (operatorCleared.has(id)) seen('operator_clear_then_resolved');
            operatorCleared.delete(id);
            open.set(id, false);
          }
        }
        for (const id of Object.keys(before.active))
          if (state.active[id] && !out.events.some((e) => e.data.alertId === id)) seen('dedup');
        for (const [id, c] of lastKnown)
          if (c.level !== null && !state.active[id] && dependenciesOf(c.component).some((d) => failing.has(d)))
            seen('victim_not_raised');
      }
      const active = Object.keys(state.active).sort();
      if (active.length > 0) seen('active_at_end');
      // Open by the events ⇔ active in the state; and nothing whose condition no longer holds is left open.
      const openIds = [...open]
        .filter(([, o]) => o)
        .map(([id]) => id)
        .sort();
      if (openIds.join() !== active.join()) return false;
      return active.every((id) => (lastKnown.get(id)?.level ?? null) !== null);
    }),
    { numRuns: 400 },
  );
  t.pass();
});
