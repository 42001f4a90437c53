/**
 * Helpers for the rl-training tests: a driver that feeds signals and their
 * resolving ticks to a machine and collects its outbox the way a host does.
 */
import { type Actor, createActor, type Snapshot } from 'xstate';
import type { RlConfig } from '../../../src/actors/rl-training/rl-config.js';
import {
  createRlMachine,
  type RlEvent,
  type RlMachine,
  takeRlOutbox,
} from '../../../src/actors/rl-training/rl-machine.js';
import type { RlContext, RlOutput } from '../../../src/actors/rl-training/rl-state.js';

export const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);
export const HORIZON_MS = 60_000;

/** Small numbers so scenarios stay short: window 10, evaluation every 5, wide search steps. */
export const TEST_CONFIG = {
  windowSize: 10,
  evaluateEvery: 5,
  horizonMs: HORIZON_MS,
  margin: 0.01,
  rejectAfter: 2,
  searchStep: 2,
} as const satisfies Partial<RlConfig>;

/** One signal and how it turned out. */
export interface Trade {
  readonly confidence: number;
  /** Signed return the signal makes over the horizon (the tick price is set to produce it). */
  readonly ret: number;
  readonly side?: 'buy' | 'sell';
  readonly symbol?: string;
}

/** A machine actor with an outbox collector and an event clock. */
export class RlDriver {
  readonly actor: Actor<RlMachine>;
  readonly outputs: RlOutput[] = [];
  #n = 0;

  constructor(config: Partial<RlConfig> = TEST_CONFIG, snapshot?: Snapshot<unknown>) {
    this.actor = createActor(createRlMachine(config), snapshot ? { snapshot } : {}).start();
  }

  get context(): RlContext {
    return this.actor.getSnapshot().context;
  }

  /** Sends an event and returns what it asked to publish. */
  send(event: RlEvent): RlOutput[] {
    this.actor.send(event);
    const out = [...takeRlOutbox(this.actor)];
    this.outputs.push(...out);
    return out;
  }

  /** A signal at price 100 and, one horizon later, the tick that gives it `ret`. Returns the outputs. */
  trade(trade: Trade): RlOutput[] {
    const i = this.#n++;
    const side = trade.side ?? 'buy';
    const symbol = trade.symbol ?? 'BTCUSDT';
    const at = T0 + i * 1000;
    const out = this.send({
      type: 'SIGNAL',
      signalId: `sig-${i}`,
      symbol,
      side,
      confidence: trade.confidence,
      price: 100,
      at,
    });
    const exit = 100 * (1 + (side === 'buy' ? trade.ret : -trade.ret));
    out.push(...this.send({ type: 'TICK', symbol, price: exit, at: at + HORIZON_MS }));
    return out;
  }

  trades(trades: readonly Trade[]): RlOutput[] {
    return trades.flatMap((t) => this.trade(t));
  }

  /** The outputs of one type. */
  of<T extends RlOutput['type']>(type: T): Extract<RlOutput, { type: T }>[] {
    return this.outputs.filter((o): o is Extract<RlOutput, { type: T }> => o.type === type);
  }
}

/**
 * Trades where confidence pays when `slope > 0` (high-confidence signals win,
 * low-confidence ones lose) and the reverse when `slope < 0`: a candidate
 * whose slope has the same sign sizes up the winners and beats `fixed-1`,
 * whose score on them is 0.
 */
export function confidencePays(n: number, slope: number): Trade[] {
  const s = Math.sign(slope);
  return Array.from({ length: n }, (_, i) =>
    i % 2 === 0 ? { confidence: 0.9, ret: 0.01 * s } : { confidence: 0.6, ret: -0.01 * s },
  );
}
