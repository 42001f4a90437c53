/**
 * A small pure machine for actor-host tests: its state is order-sensitive (a
 * rolling hash over every price), so a lost, repeated or reordered event
 * shows. Every 10th event it asks to publish a `health.alert_raised`.
 */
import { assign, setup } from 'xstate';
import type { ActorSpec } from '../../src/actors/host.js';
import { takeOutbox } from '../../src/actors/outbox.js';
import type { Envelope } from '../../src/events/envelope.js';

export interface LedgerContext {
  count: number;
  sum: number;
  hash: number;
  outbox: {
    type: 'health.alert_raised';
    data: { alertId: string; severity: 'warning'; source: string; message: string };
  }[];
}

type LedgerEvent = { type: 'TICK'; price: number } | { type: 'OUTBOX_TAKEN' };

export const ledgerMachine = setup({
  types: { context: {} as LedgerContext, events: {} as LedgerEvent },
}).createMachine({
  id: 'ledger',
  context: { count: 0, sum: 0, hash: 7, outbox: [] },
  on: {
    TICK: {
      actions: assign(({ context, event }) => {
        const count = context.count + 1;
        return {
          count,
          sum: context.sum + event.price,
          hash: (context.hash * 31 + event.price) % 2_147_483_647,
          outbox:
            count % 10 === 0
              ? [
                  ...context.outbox,
                  {
                    type: 'health.alert_raised' as const,
                    data: {
                      alertId: `ledger-${count}`,
                      severity: 'warning' as const,
                      source: 'ledger',
                      message: `count ${count}`,
                    },
                  },
                ]
              : context.outbox,
        };
      }),
    },
    OUTBOX_TAKEN: { actions: assign({ outbox: () => [] }) },
  },
});

export const ledgerSpec: ActorSpec<typeof ledgerMachine> = {
  name: 'ledger',
  machine: ledgerMachine,
  topics: ['market'],
  toEvents: (event: Envelope) =>
    event.type === 'market.tick' ? [{ type: 'TICK', price: (event.data as { price: number }).price }] : [],
  takeOutputs: takeOutbox,
};

/** The ledger's context after the given prices, computed without any actor. */
export function replayLedger(prices: readonly number[]): Omit<LedgerContext, 'outbox'> {
  let count = 0;
  let sum = 0;
  let hash = 7;
  for (const p of prices) {
    count++;
    sum += p;
    hash = (hash * 31 + p) % 2_147_483_647;
  }
  return { count, sum, hash };
}
