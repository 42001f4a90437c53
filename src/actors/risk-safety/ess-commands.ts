/**
 * The body of the ESS operator commands (`POST /ess/trip`, `/ess/reset`,
 * `/ess/flatten`): one schema for the three, validated at the HTTP edge.
 * `operator` and `reason` go into the audit trail (the `ess` stream) and the
 * logs, so they must be plain text that cannot forge or hide anything there.
 */
import { z } from 'zod';

/**
 * Characters refused in `operator` and `reason`: control characters (C0, DEL,
 * C1: a newline would start a fake log line), lone surrogates (not valid
 * Unicode; they turn into U+FFFD or break encoders downstream), the line and
 * paragraph separators U+2028/U+2029 (line breaks to some log readers), and
 * the bidirectional embeddings, overrides and isolates U+202A–U+202E and
 * U+2066–U+2069 (they make text display in an order other than it is stored).
 */
const UNSAFE_TEXT = /[\p{Cc}\p{Cs}\u2028\u2029\u202A-\u202E\u2066-\u2069]/u;

/** The first unsafe character of `text` as `U+XXXX`, or undefined when there is none. */
export function unsafeCharacter(text: string): string | undefined {
  const m = UNSAFE_TEXT.exec(text);
  if (!m) return undefined;
  return `U+${(m[0].codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
}

/** Audit text: no unsafe character (checked before trimming, so a trailing newline is refused too), then trimmed. */
function auditText(max: number) {
  return z
    .string()
    .refine((s) => unsafeCharacter(s) === undefined, {
      error: (issue) =>
        `must not contain control, bidirectional-override or invalid characters (found ${unsafeCharacter(String(issue.input))})`,
    })
    .trim()
    .min(1)
    .max(max);
}

/** The body of every ESS command: who asks and why, nothing else (unknown fields are refused). */
export const EssCommandBodySchema = z.strictObject({
  operator: auditText(64),
  reason: auditText(500),
});

/** A validated ESS command body. */
export type EssCommandBody = z.infer<typeof EssCommandBodySchema>;

/** The `400` answer to a body that does not validate: the zod issues, and the unknown fields by name. */
export interface InvalidBodyAnswer {
  readonly error: 'invalid_body';
  readonly message: string;
  readonly unknownFields: readonly string[];
  readonly issues: readonly z.core.$ZodIssue[];
}

/** Parses an ESS command body: the body, or the `400` answer naming what is wrong. */
export function parseEssCommand(
  body: unknown,
): { ok: true; body: EssCommandBody } | { ok: false; answer: InvalidBodyAnswer } {
  const parsed = EssCommandBodySchema.safeParse(body);
  if (parsed.success) return { ok: true, body: parsed.data };
  const issues = parsed.error.issues;
  const unknownFields = issues.flatMap((i) => (i.code === 'unrecognized_keys' ? i.keys : []));
  const fields = issues
    .filter((i) => i.code !== 'unrecognized_keys')
    .map((i) => `${i.path.join('.') || 'body'}: ${i.message}`);
  const parts = [...(unknownFields.length > 0 ? [`unknown field(s): ${unknownFields.join(', ')}`] : []), ...fields];
  return {
    ok: false,
    answer: { error: 'invalid_body', message: parts.join('; '), unknownFields, issues },
  };
}
