/**
 * The trading state a crash must not change, as the platform reports it:
 * execution's positions and working orders (its actor snapshot), the
 * venue's balances through execution (`GET /balances`), the portfolio's
 * positions and cash (its last `portfolio.updated`), the orders open at the
 * venue, and the ESS state. {@link stateChange} turns two captures into the
 * numbers that moved, so a crashed order's change can be held against a
 * crash-free one's.
 */
import { readBalances, readEssState, readExecutionState } from '../../src/ops/restart/state-capture.js';
import { isOpen } from '../fake-binance/orders.js';
import type { FakeBinance } from '../fake-binance/server.js';
import type { Cluster } from './cluster.js';
import { latest } from './probes.js';

/** One capture of the state. */
export interface PlatformState {
  /** Every figure that can move, by name (`execution BTCUSDT quantity`, `balance USDT free`, ...). */
  readonly figures: Readonly<Record<string, number>>;
  /** Orders in execution's book (working, not final). */
  readonly workingOrders: number;
  readonly venueOpenOrders: number;
  readonly ess: string;
}

interface PortfolioData {
  readonly cash: number;
  readonly positions: readonly { symbol: string; quantity: number; avgPrice: number }[];
}

/** Captures the state now. */
export async function captureState(cluster: Cluster, rest: FakeBinance): Promise<PlatformState> {
  const redis = cluster.redis.client();
  const execution = await readExecutionState(redis, cluster.keys);
  const balances = (await readBalances(cluster.url('execution'))) as Record<string, { free: number; locked: number }>;
  const portfolio = await latest(cluster, 'portfolio', (e) =>
    e.type === 'portfolio.updated' ? (e.data as PortfolioData) : undefined,
  );
  const ess = await readEssState(redis, cluster.keys);
  const figures: Record<string, number> = {};
  for (const [symbol, p] of Object.entries(execution.positions)) {
    figures[`execution ${symbol} quantity`] = p.quantity;
    figures[`execution ${symbol} average price`] = p.avgPrice;
  }
  for (const [asset, b] of Object.entries(balances)) {
    figures[`balance ${asset} free`] = b.free;
    figures[`balance ${asset} locked`] = b.locked;
  }
  if (portfolio) {
    figures['portfolio cash'] = portfolio.cash;
    for (const p of portfolio.positions) {
      figures[`portfolio ${p.symbol} quantity`] = p.quantity;
      figures[`portfolio ${p.symbol} average price`] = p.avgPrice;
    }
  }
  return {
    figures,
    workingOrders: execution.orders.length,
    venueOpenOrders: rest.orders.filter(isOpen).length,
    ess: `${ess.state}${ess.cooldownUntil ? ` until ${ess.cooldownUntil}` : ''}`,
  };
}

/** What moved from `before` to `after`: quantities, balances and cash by how much; average prices as where they ended. */
export function stateChange(before: PlatformState, after: PlatformState): Record<string, number> {
  const names = new Set([...Object.keys(before.figures), ...Object.keys(after.figures)]);
  const out: Record<string, number> = {};
  for (const name of names) {
    const a = before.figures[name] ?? 0;
    const b = after.figures[name] ?? 0;
    // Two fills at one price leave the average where one fill put it: compare the level, not the move.
    out[name] = name.endsWith('average price') ? b : b - a;
  }
  return out;
}

/**
 * Venue figures come with 8 decimals (Binance's precision); a change read
 * from two of them is off by up to two roundings.
 */
const VENUE_ROUNDING = 2e-8;

/** The figures on which `actual` differs from `expected` by more than rounding (a billionth, or the venue's 8 decimals). */
export function differences(
  actual: Record<string, number>,
  expected: Record<string, number>,
): { name: string; actual: number; expected: number }[] {
  const names = new Set([...Object.keys(actual), ...Object.keys(expected)]);
  return [...names]
    .map((name) => ({ name, actual: actual[name] ?? 0, expected: expected[name] ?? 0 }))
    .filter((d) => Math.abs(d.actual - d.expected) > Math.max(VENUE_ROUNDING, 1e-9 * Math.abs(d.expected)));
}
