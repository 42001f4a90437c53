import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The correlation id of the work in hand: an HTTP request, or an event being
 * handled. Set by the HTTP server (from `X-Correlation-ID` or generated) and
 * by the stream consumer (from the event's envelope); read by the logger, so
 * every line written meanwhile carries it, and by the publisher, so every
 * event published meanwhile carries it. One id follows a request across
 * services.
 */
const store = new AsyncLocalStorage<{ readonly correlationId: string }>();

/** Runs `fn` with `correlationId` as the current correlation id. */
export function withCorrelation<T>(correlationId: string, fn: () => T): T {
  return store.run({ correlationId }, fn);
}

/** The current correlation id, or undefined outside a request or handler. */
export function currentCorrelationId(): string | undefined {
  return store.getStore()?.correlationId;
}
