/**
 * The portfolio-intelligence actor (docs/architecture.md §11.4): a pure machine over the
 * ledger in `ledger.ts`. It consumes `order.filled` (FILL) and `market.tick`
 * (MARK) and asks to publish `portfolio.updated`: after every FILL, and after
 * a MARK at most once every `publishEveryMs` of event time, so a tick flood
 * does not become a `portfolio.updated` flood. A throttled mark still moves
 * the book; the next published update carries it.
 */
import { type Actor, assign, setup } from 'xstate';
import type { EventData } from '../../events/catalog.js';
import type { Envelope } from '../../events/envelope.js';
import type { ActorSpec } from '../host.js';
import { takeOutbox } from '../outbox.js';
import { ACTOR_TOPICS } from '../services.js';
import { applyFill, applyMark, type Book, createBook, type Fill, markOf, rollDay, valuation } from './ledger.js';

/** Default starting cash (quote currency). */
export const DEFAULT_STARTING_CASH = 100_000;
/** Default minimum event-time interval between mark-driven updates. */
export const DEFAULT_PUBLISH_EVERY_MS = 1000;

/** An event the portfolio asks to publish. */
export interface PortfolioOutput {
  readonly type: 'portfolio.updated';
  readonly data: EventData<'portfolio.updated'>;
}

export interface PortfolioContext {
  readonly book: Book;
  readonly outbox: readonly PortfolioOutput[];
  /** Event time (epoch ms) of the last `portfolio.updated`, null before the first. */
  readonly lastPublishedAt: number | null;
}

/** Machine events; `at` is event time in epoch ms. */
export type PortfolioEvent =
  | { type: 'FILL'; fill: Fill; at: number }
  | { type: 'MARK'; symbol: string; price: number; at: number }
  | { type: 'OUTBOX_TAKEN' };

/** Machine input (overrides the factory's starting cash). */
export interface PortfolioInput {
  readonly startingCash?: number;
}

export interface PortfolioOptions {
  /** Cash at start, default {@link DEFAULT_STARTING_CASH}. */
  readonly startingCash?: number;
  /** Minimum event time between mark-driven updates, default {@link DEFAULT_PUBLISH_EVERY_MS}. */
  readonly publishEveryMs?: number;
}

/** The `portfolio.updated` data of a book; positions sorted by symbol. */
export function portfolioUpdated(book: Book): EventData<'portfolio.updated'> {
  const v = valuation(book);
  return {
    equity: v.equity,
    cash: book.cash,
    peakEquity: book.peakEquity,
    drawdown: v.drawdown,
    realizedPnl: book.realizedPnl,
    unrealizedPnl: v.unrealizedPnl,
    dailyRealizedPnl: book.dailyRealizedPnl,
    exposure: v.exposure,
    positions: Object.keys(book.positions)
      .sort()
      .map((symbol) => {
        const p = book.positions[symbol]!;
        return { symbol, quantity: p.quantity, avgPrice: p.avgPrice, markPrice: markOf(book, symbol) };
      }),
  };
}

/** A portfolio machine with the given starting cash and publish interval. */
export function createPortfolioMachine(options: PortfolioOptions = {}) {
  const startingCash = options.startingCash ?? DEFAULT_STARTING_CASH;
  const publishEveryMs = options.publishEveryMs ?? DEFAULT_PUBLISH_EVERY_MS;
  const publish = (context: PortfolioContext, book: Book, at: number): Partial<PortfolioContext> => ({
    book,
    outbox: [...context.outbox, { type: 'portfolio.updated', data: portfolioUpdated(book) }],
    lastPublishedAt: at,
  });

  return setup({
    types: {
      context: {} as PortfolioContext,
      events: {} as PortfolioEvent,
    },
  }).createMachine({
    id: 'portfolio',
    // Input is left untyped so the host can create the actor without one.
    context: ({ input }) => ({
      book: createBook((input as PortfolioInput | undefined)?.startingCash ?? startingCash),
      outbox: [],
      lastPublishedAt: null,
    }),
    on: {
      FILL: {
        actions: assign(({ context, event }) =>
          publish(context, applyFill(context.book, event.fill, event.at), event.at),
        ),
      },
      MARK: {
        actions: assign(({ context, event }) => {
          const book = applyMark(rollDay(context.book, event.at), event.symbol, event.price);
          const due = context.lastPublishedAt === null || event.at - context.lastPublishedAt >= publishEveryMs;
          return due ? publish(context, book, event.at) : { book };
        }),
      },
      OUTBOX_TAKEN: { actions: assign({ outbox: () => [] }) },
    },
  });
}

/** The default portfolio machine (100 000 starting cash, 1 s mark throttle). */
export const portfolioMachine = createPortfolioMachine();
export type PortfolioMachine = typeof portfolioMachine;

/** Machine events for one envelope: `order.filled` → FILL, `market.tick` → MARK, else none. */
export function portfolioToEvents(envelope: Envelope): PortfolioEvent[] {
  const at = Date.parse(envelope.time);
  switch (envelope.type) {
    case 'order.filled': {
      const { symbol, side, quantity, price, fee } = envelope.data;
      return [{ type: 'FILL', fill: { symbol, side, quantity, price, fee }, at }];
    }
    case 'market.tick':
      return [{ type: 'MARK', symbol: envelope.data.symbol, price: envelope.data.price, at }];
    default:
      return [];
  }
}

/** The outbox of the actor, emptied. */
export function takePortfolioOutbox(actor: Actor<PortfolioMachine>): readonly PortfolioOutput[] {
  return takeOutbox(actor);
}

/** The host spec of a portfolio machine. */
export function createPortfolioSpec(options: PortfolioOptions = {}): ActorSpec<PortfolioMachine> {
  return {
    name: 'portfolio',
    machine: createPortfolioMachine(options),
    topics: ACTOR_TOPICS.portfolio,
    toEvents: portfolioToEvents,
    takeOutputs: takePortfolioOutbox,
  };
}

/** The host spec with default options. */
export const portfolioSpec: ActorSpec<PortfolioMachine> = {
  name: 'portfolio',
  machine: portfolioMachine,
  topics: ACTOR_TOPICS.portfolio,
  toEvents: portfolioToEvents,
  takeOutputs: takePortfolioOutbox,
};
