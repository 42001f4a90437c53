import { createHash } from 'node:crypto';

/** What Binance accepts as `newClientOrderId`: at most 36 of these characters. */
export const BINANCE_CLIENT_ORDER_ID_PATTERN = /^[.A-Z:/a-z0-9_-]{1,36}$/;

/** Starts every id the adapter derives from a longer one. */
export const DERIVED_CLIENT_ORDER_ID_PREFIX = 'qt-';

/**
 * The `newClientOrderId` sent to Binance for the runtime's client order id.
 *
 * Execution's ids (`ord-<signalId>`) can be up to 64 characters; Binance takes
 * 36. An id that fits is sent unchanged. A longer one (or one with characters
 * Binance refuses) is replaced by `qt-` and 33 base64url characters of its
 * SHA-256: deterministic, so the lookup after an `unknown` answer finds the
 * order the first attempt may have created, and 198 bits, so two ids never
 * map to the same venue id in practice.
 */
export function toVenueClientOrderId(clientOrderId: string): string {
  if (BINANCE_CLIENT_ORDER_ID_PATTERN.test(clientOrderId)) return clientOrderId;
  const digest = createHash('sha256').update(clientOrderId).digest('base64url');
  return `${DERIVED_CLIENT_ORDER_ID_PREFIX}${digest.slice(0, 33)}`;
}
