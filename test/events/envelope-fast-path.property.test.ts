/**
 * The envelope head's fast check (`plainEnvelopeHead`) against the schema it
 * stands in for: whatever it accepts, `EnvelopeSchema` accepts with the same
 * output, key order included; and `validateEnvelope`
 * (fast check first, schema otherwise) answers every input exactly as the
 * schema alone does: the same envelope, or the same error code. Inputs are
 * valid envelopes and near misses of every field: the edges of each length,
 * pattern and number, impossible dates, extra, missing and reordered keys,
 * `replayOf`, and a data part that fails its type's schema.
 */
import test from 'ava';
import fc from 'fast-check';
import { isQtError } from '../../src/errors.js';
import { EVENT_CATALOG, isEventType } from '../../src/events/catalog.js';
import { EnvelopeSchema, plainEnvelopeHead, validateEnvelope } from '../../src/events/envelope.js';
import { CaseTally } from '../support/case-tally.js';

/** The reference: the schemas alone, as validateEnvelope worked before the fast check. */
function bySchemaAlone(value: unknown): { ok: true; json: string } | { ok: false; code: string } {
  const head = EnvelopeSchema.safeParse(value);
  if (!head.success) return { ok: false, code: 'QT_ENVELOPE_INVALID' };
  if (!isEventType(head.data.type)) return { ok: false, code: 'QT_UNKNOWN_EVENT_TYPE' };
  const data = EVENT_CATALOG[head.data.type].safeParse(head.data.data);
  if (!data.success) return { ok: false, code: 'QT_ENVELOPE_INVALID' };
  return { ok: true, json: JSON.stringify({ ...head.data, data: data.data }) };
}

function byValidateEnvelope(value: unknown): { ok: true; json: string } | { ok: false; code: string } {
  try {
    return { ok: true, json: JSON.stringify(validateEnvelope(value)) };
  } catch (err) {
    if (isQtError(err)) return { ok: false, code: err.code };
    throw err;
  }
}

const hex = (n: number) =>
  fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'), minLength: n, maxLength: n });
const uuidV7 = fc
  .tuple(hex(8), hex(4), hex(3), fc.constantFrom('8', '9', 'a', 'b', 'A', 'B'), hex(3), hex(12))
  .map(([a, b, c, v, d, e]) => `${a}-${b}-7${c}-${v}${d}-${e}`);
const isoTime = fc
  .date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2999-12-31T23:59:59Z'), noInvalidDate: true })
  .map((d) => d.toISOString());
const producer = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,20}$/);
const tickData = fc.record({
  symbol: fc.constantFrom('BTCUSDT', 'ETHUSDT'),
  price: fc.double({ min: 1, max: 100_000, noNaN: true }),
  volume: fc.double({ min: 0, max: 10, noNaN: true }),
});

const valid = fc.record({
  id: uuidV7,
  type: fc.constant('market.tick'),
  source: fc.string({ minLength: 1, maxLength: 64 }),
  producer,
  seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  time: isoTime,
  correlationId: fc.string({ minLength: 1, maxLength: 128 }),
  causationId: fc.option(fc.string({ minLength: 1, maxLength: 128 }), { nil: undefined }),
  version: fc.integer({ min: 1, max: 3 }),
  data: tickData,
});

/** Values that miss a field's rule by a little (or a lot). */
const nearMisses: Record<string, unknown[]> = {
  id: [
    '0190f2b4-5f0e-4c3a-9c1e-1a2b3c4d5e6f',
    '0190f2b4-5f0e-7c3a-7c1e-1a2b3c4d5e6f',
    '0190f2b4-5f0e-7c3a-9c1e-1a2b3c4d5e6',
    '',
    7,
  ],
  type: ['market.Tick', 'market', 'Market.tick', 'market.tick2', 'nope.tick', '', null],
  source: ['', 'x'.repeat(64), 'x'.repeat(65), 5],
  producer: ['', '-lead', 'has space', 'a:b', 'p'.repeat(128), 'p'.repeat(129), 'ok_1.2-3'],
  seq: [0, -1, 1.5, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 1, 2 ** 60, Number.NaN, '5', null],
  time: [
    '2024-02-29T00:00:00.000Z',
    '2023-02-29T00:00:00.000Z',
    '2026-04-31T00:00:00.000Z',
    '2026-12-01T24:00:00.000Z',
    '2026-12-01T12:00:00Z',
    '2026-12-01T12:00:00.1234567Z',
    '2026-12-01T12:00:00.000+00:00',
    '2026-12-01T12:00:00.000',
    '2026-12-01T12:00Z',
    '2000-02-29T00:00:00.000Z',
    '1900-02-29T00:00:00.000Z',
  ],
  correlationId: ['', 'c'.repeat(128), 'c'.repeat(129), 1],
  causationId: ['', 'c'.repeat(128), 'c'.repeat(129), undefined, null],
  version: [0, 1, 1.5, -2, '1'],
  data: [{ symbol: 'BTCUSDT', price: -1, volume: 1 }, {}, null, undefined],
};

type Shape = 'as_is' | 'near_miss' | 'extra_key' | 'missing_key' | 'reordered' | 'replay_of' | 'not_plain';
const candidate = fc
  .tuple(
    valid,
    fc.constantFrom<Shape>(
      'as_is',
      'as_is',
      'near_miss',
      'near_miss',
      'near_miss',
      'extra_key',
      'missing_key',
      'reordered',
      'replay_of',
      'not_plain',
    ),
    fc.constantFrom(...Object.keys(nearMisses)),
    fc.nat(),
  )
  .map(([base, shape, field, pick]): { shape: Shape; value: unknown } => {
    const env: Record<string, unknown> = Object.fromEntries(Object.entries(base).filter(([, v]) => v !== undefined));
    switch (shape) {
      case 'near_miss': {
        const options = nearMisses[field] as unknown[];
        return { shape, value: { ...env, [field]: options[pick % options.length] } };
      }
      case 'extra_key':
        return { shape, value: { ...env, extra: pick } };
      case 'missing_key': {
        const { [field]: _dropped, ...rest } = env;
        return { shape, value: rest };
      }
      case 'reordered':
        return { shape, value: Object.fromEntries(Object.entries(env).reverse()) };
      case 'replay_of':
        return {
          shape,
          value: {
            ...env,
            replayOf: pick % 2 ? { group: 'g1', dlqEntryId: '1-1', entryId: '2-0' } : { group: 'g1', dlqEntryId: 'x' },
          },
        };
      case 'not_plain':
        return { shape, value: pick % 2 ? Object.assign(Object.create({ inherited: 1 }), env) : [env] };
      default:
        return { shape, value: env };
    }
  });

const tally = new CaseTally('envelope fast path', {
  fast_accepted: 0.2,
  schema_accepted_fast_declined: 0.03,
  rejected: 0.2,
  rejected_unknown_type: 0.001,
});

test('the fast check accepts only what the schema accepts unchanged, and validateEnvelope answers as the schema alone', (t) => {
  fc.assert(
    fc.property(candidate, ({ value }) => {
      const seen = tally.run();
      const fast = plainEnvelopeHead(value);
      const head = EnvelopeSchema.safeParse(value);
      if (fast !== undefined) {
        seen('fast_accepted');
        if (!head.success) return false;
        // Exactly the schema's output, key order included, in an object of its own.
        if (JSON.stringify(head.data) !== JSON.stringify(fast) || fast === value) return false;
        if (JSON.stringify(Object.keys(fast)) !== JSON.stringify(Object.keys(head.data))) return false;
      } else if (head.success) seen('schema_accepted_fast_declined');
      const expected = bySchemaAlone(value);
      const actual = byValidateEnvelope(value);
      if (!expected.ok) seen(expected.code === 'QT_UNKNOWN_EVENT_TYPE' ? 'rejected_unknown_type' : 'rejected');
      return JSON.stringify(actual) === JSON.stringify(expected);
    }),
    { numRuns: 2_000 },
  );
  t.pass('the property held over 2,000 inputs');
});

test('an envelope the platform publishes takes the fast path', (t) => {
  const schemaOut = EnvelopeSchema.parse({
    id: '0190f2b4-5f0e-7c3a-9c1e-1a2b3c4d5e6f',
    type: 'market.tick',
    source: 'marketdata',
    producer: 'marketdata-1',
    seq: 1,
    time: '2026-12-01T12:00:00.000Z',
    correlationId: '0190f2b4-5f0e-7c3a-9c1e-1a2b3c4d5e6f',
    version: 1,
    data: { symbol: 'BTCUSDT', price: 1, volume: 1 },
  });
  // Decoded from JSON as a consumer decodes it.
  const decoded = JSON.parse(JSON.stringify(schemaOut)) as unknown;
  t.deepEqual(plainEnvelopeHead(decoded), schemaOut);
  t.deepEqual(validateEnvelope(decoded), schemaOut);
  // As the publisher writes it: seq last.
  const { seq, ...rest } = schemaOut;
  const seqLast = JSON.parse(JSON.stringify({ ...rest, seq })) as unknown;
  t.deepEqual(plainEnvelopeHead(seqLast), schemaOut);
  t.is(JSON.stringify(validateEnvelope(seqLast)), JSON.stringify(schemaOut), "in the schema's key order");
});
