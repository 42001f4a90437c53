import { QtError } from '../errors.js';
import { type Envelope, validateEnvelope } from '../events/envelope.js';

/**
 * How an envelope is laid out in a stream entry: `type` for cheap filtering
 * (CLI tail, redis-cli) and `env` holding the whole envelope as JSON.
 */
export const FIELD_TYPE = 'type';
export const FIELD_ENVELOPE = 'env';

/** The flat field list XADD takes for an envelope. */
export function encodeEntry(env: Envelope): [string, string, string, string] {
  return [FIELD_TYPE, env.type, FIELD_ENVELOPE, JSON.stringify(env)];
}

/**
 * Decodes and validates a stream entry. Throws QT_ENVELOPE_INVALID (or
 * QT_UNKNOWN_EVENT_TYPE) for anything that is not a valid envelope; the
 * consumer sends such entries to the DLQ with the message as the reason.
 */
export function decodeEntry(fields: readonly string[]): Envelope {
  let raw: string | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === FIELD_ENVELOPE) {
      raw = fields[i + 1];
      break;
    }
  }
  if (raw === undefined) {
    throw new QtError('QT_ENVELOPE_INVALID', `entry has no "${FIELD_ENVELOPE}" field`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (cause) {
    throw new QtError('QT_ENVELOPE_INVALID', `"${FIELD_ENVELOPE}" is not JSON: ${(cause as Error).message}`, { cause });
  }
  return validateEnvelope(parsed);
}
