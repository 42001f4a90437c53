/**
 * Parsers for the raw replies ioredis returns for stream commands, which it
 * leaves as nested arrays.
 */

/** One stream entry; `fields` is null for a pending entry that was deleted. */
export interface RawEntry {
  readonly id: string;
  readonly fields: string[] | null;
}

/** Entries of the first stream in an XREAD/XREADGROUP/XAUTOCLAIM-shaped reply. */
export function parseEntries(reply: unknown): RawEntry[] {
  if (!Array.isArray(reply) || reply.length === 0) return [];
  const first = reply[0] as [string, [string, string[] | null][]] | undefined;
  const entries = first?.[1] ?? [];
  return entries.map(([id, fields]) => ({ id, fields: fields ?? null }));
}

/** A flat `[k1, v1, k2, v2, ...]` reply (XINFO) as an object. */
export function parseFlatRecord(flat: readonly unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = flat[i + 1];
  return out;
}

/** True for Redis's "NOGROUP" error (the stream or its group does not exist). */
export function isNoGroupError(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOGROUP');
}
