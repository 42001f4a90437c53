/**
 * The trading series counted from what actors commit (docs/architecture.md
 * §13): the actor host hands every committed batch of outputs to
 * {@link recordOutputs}, so the pure machines stay free of metrics and a
 * series moves only for events that are durably published.
 *
 * - `trades_executed_total{service,symbol,side}`: `order.filled`
 * - `risk_checks_total{service,outcome}`: pre-trade decisions, `approved` or `rejected`
 * - `policy_violations_total{service,reason}`: rejections by reason code
 * - `emergency_stop_triggered_total{service,trigger}`: `ess.tripped`
 * - `portfolio_value_usd{service}`, `positions_open{service}`,
 *   `portfolio_drawdown_ratio{service}`: the last `portfolio.updated`
 *
 * Label values are bounded: symbols come from the configured feed, sides,
 * outcomes, reasons and triggers from the event catalog's enums (the counters
 * of a service start at 0 for each of those, see {@link primeOutputMetrics}).
 * No order or event id is ever a label.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { EssTriggerSchema, RejectReasonSchema } from '../events/catalog.js';
import { perRegistry } from '../metrics.js';

/** An output as the host committed it (the host's ActorOutput; not imported, host.ts imports this file). */
interface CommittedOutput {
  readonly type: string;
  readonly data: unknown;
}

const outputMetrics = perRegistry((registry: Registry) => {
  const registers = [registry];
  return {
    trades: new Counter({
      name: 'trades_executed_total',
      help: 'Fills reported by execution (order.filled), by symbol and side',
      labelNames: ['service', 'symbol', 'side'],
      registers,
    }),
    checks: new Counter({
      name: 'risk_checks_total',
      help: 'Pre-trade decisions (order.approved / order.rejected), by outcome',
      labelNames: ['service', 'outcome'],
      registers,
    }),
    violations: new Counter({
      name: 'policy_violations_total',
      help: 'Signals refused by the pre-trade checks (order.rejected), by reason code',
      labelNames: ['service', 'reason'],
      registers,
    }),
    trips: new Counter({
      name: 'emergency_stop_triggered_total',
      help: 'ESS trips (ess.tripped), by trigger',
      labelNames: ['service', 'trigger'],
      registers,
    }),
    equity: new Gauge({
      name: 'portfolio_value_usd',
      help: 'Portfolio equity (cash plus positions at their mark) in the quote currency, as last published',
      labelNames: ['service'],
      registers,
    }),
    positions: new Gauge({
      name: 'positions_open',
      help: 'Symbols with a non-zero position, as last published',
      labelNames: ['service'],
      registers,
    }),
    drawdown: new Gauge({
      name: 'portfolio_drawdown_ratio',
      help: 'Drawdown from peak equity (0 to 1), as last published',
      labelNames: ['service'],
      registers,
    }),
  };
});

/**
 * Starts at 0 the counters whose label values are known in advance, so a
 * rate over them exists from the first scrape: risk-safety's outcomes,
 * reasons and triggers.
 */
export function primeOutputMetrics(registry: Registry, service: string): void {
  if (service !== 'risk-safety') return;
  const m = outputMetrics(registry);
  for (const outcome of ['approved', 'rejected']) m.checks.inc({ service, outcome }, 0);
  for (const reason of RejectReasonSchema.options) m.violations.inc({ service, reason }, 0);
  for (const trigger of EssTriggerSchema.options) m.trips.inc({ service, trigger }, 0);
}

/** Counts one committed batch of `service`'s outputs. */
export function recordOutputs(registry: Registry, service: string, outputs: readonly CommittedOutput[]): void {
  if (outputs.length === 0) return;
  const m = outputMetrics(registry);
  for (const { type, data } of outputs) {
    switch (type) {
      case 'order.filled': {
        const fill = data as { symbol: string; side: string };
        m.trades.inc({ service, symbol: fill.symbol, side: fill.side });
        break;
      }
      case 'order.approved':
        m.checks.inc({ service, outcome: 'approved' });
        break;
      case 'order.rejected':
        m.checks.inc({ service, outcome: 'rejected' });
        m.violations.inc({ service, reason: (data as { reason: string }).reason });
        break;
      case 'ess.tripped':
        m.trips.inc({ service, trigger: (data as { trigger: string }).trigger });
        break;
      case 'portfolio.updated': {
        const p = data as { equity: number; drawdown: number; positions: readonly { quantity: number }[] };
        m.equity.set({ service }, p.equity);
        m.drawdown.set({ service }, p.drawdown);
        m.positions.set({ service }, p.positions.filter((x) => x.quantity !== 0).length);
        break;
      }
      default:
        break;
    }
  }
}
