/**
 * `qt dlq replay`: puts dead letters back before the group that
 * dead-lettered them, so its handler sees each once more (docs/cli.md,
 * "qt dlq"). A replay is a NEW entry on the original topic stream carrying
 * the original envelope (same id, type, source, time, data, correlation and
 * causation ids), appended through the append script as the CLI's own
 * producer ({@link cliProducerId}) with its next seq, and marked
 * `replayOf: { group, dlqEntryId, entryId }`: only that group handles it,
 * every other group acks it untouched (src/streams/consumer.ts).
 *
 * Refused, with the reason: a dead letter whose raw entry is not a valid
 * envelope (it cannot be replayed as an event, and re-appending it would
 * only dead-letter it again in every group), one already replayed (unless
 * `--force`), and one whose group no longer exists on the topic.
 */
import { v7 as uuidv7 } from 'uuid';
import { z } from 'zod';
import { isQtError } from '../errors.js';
import { validateEnvelope } from '../events/envelope.js';
import { KEY_PART_PATTERN } from '../events/names.js';
import { type Appender, appendBatch } from '../streams/append.js';
import { FIELD_ENVELOPE } from '../streams/codec.js';
import { cliOperator, cliProducerId } from './audit.js';
import type { CliContext } from './context.js';
import { type DeadLetterView, ENTRY_ID, parseReplayRecord, type ReplayRecord } from './dlq-letters.js';
import { CliError, EXIT } from './exit-codes.js';

/** One dead letter in a replay plan or result. */
export const ReplayItemSchema = z.object({
  dlqEntryId: z.string(),
  topic: z.string(),
  group: z.string(),
  /** The original entry's id in the topic stream. */
  entryId: z.string(),
  /** The event type, when the raw entry is a valid envelope. */
  type: z.string().nullable(),
  action: z.enum(['replay', 'refuse']),
  /** Why it is refused; null for a replay. */
  why: z.string().nullable(),
  /** The stream the replay is (or would be) appended to. */
  stream: z.string().nullable(),
  /** Replays of this dead letter before this one. */
  previousReplays: z.number().int().nonnegative(),
  /** After `--execute`: the replay's seq and entry id. */
  seq: z.number().int().positive().nullable(),
  replayEntryId: z.string().nullable(),
});
/** One dead letter in a replay plan or result. */
export type ReplayItem = z.infer<typeof ReplayItemSchema>;

/** `qt dlq replay --json` (docs/cli.md). */
export const ReplayOutputSchema = z.object({
  /** False for a plan (nothing changed). */
  executed: z.boolean(),
  producer: z.string(),
  operator: z.string(),
  reason: z.string(),
  items: z.array(ReplayItemSchema),
  replayed: z.number().int().nonnegative(),
  refused: z.number().int().nonnegative(),
  /** With `--all` and no `--force`: dead letters left out because they were replayed before. */
  alreadyReplayed: z.number().int().nonnegative(),
  /** The `audit.command_executed` entry id, after `--execute`. */
  auditEntryId: z.string().nullable(),
});
/** `qt dlq replay --json`. */
export type ReplayOutput = z.infer<typeof ReplayOutputSchema>;

/** Replays appended per append-script call (one Lua call blocks Redis while it runs). */
const BATCH = 100;

/** Why `letter` cannot be replayed now, or undefined when it can. */
function refusal(letter: DeadLetterView, groups: ReadonlySet<string>, force: boolean): string | undefined {
  if (!KEY_PART_PATTERN.test(letter.topic) || !KEY_PART_PATTERN.test(letter.group) || !ENTRY_ID.test(letter.entryId)) {
    return `the dead letter is damaged: no usable topic, group or entry id (topic "${letter.topic}", group "${letter.group}", entry "${letter.entryId}")`;
  }
  if (letter.envelope === null) {
    return `its raw entry is not a valid envelope (${letter.invalid}): it cannot be replayed as an event; inspect it with qt dlq show, then purge it`;
  }
  if (letter.replays !== null && !force) {
    const r = letter.replays;
    return `already replayed ${r.count === 1 ? 'once' : `${r.count} times`} (last at ${r.at} by ${r.operator} as entry ${r.entryId ?? '(unfinished)'}); --force replays it again`;
  }
  if (!groups.has(letter.group)) {
    return `group ${letter.group} no longer exists on topic ${letter.topic}: nothing would handle the replay`;
  }
  return undefined;
}

/** The consumer groups of each topic's stream (none when the stream does not exist). */
async function groupsOf(ctx: CliContext, topics: readonly string[]): Promise<Map<string, Set<string>>> {
  const redis = await ctx.redis();
  const out = new Map<string, Set<string>>();
  for (const topic of new Set(topics)) {
    if (!KEY_PART_PATTERN.test(topic)) continue;
    try {
      const groups = (await redis.xinfo('GROUPS', ctx.keys.stream(topic))) as unknown[][];
      out.set(topic, new Set(groups.map((g) => String(g[g.indexOf('name') + 1]))));
    } catch (err) {
      if (!/no such key/i.test((err as Error).message)) throw err;
      out.set(topic, new Set());
    }
  }
  return out;
}

/** What a replay of `letters` would do: one item per dead letter, each to replay or refused with its reason. */
export async function planReplay(
  ctx: CliContext,
  letters: readonly DeadLetterView[],
  force: boolean,
): Promise<ReplayItem[]> {
  const groups = await groupsOf(
    ctx,
    letters.map((l) => l.topic),
  );
  return letters.map((letter) => {
    const why = refusal(letter, groups.get(letter.topic) ?? new Set(), force);
    return {
      dlqEntryId: letter.id,
      topic: letter.topic,
      group: letter.group,
      entryId: letter.entryId,
      type: letter.envelope?.type ?? null,
      action: why === undefined ? 'replay' : 'refuse',
      why: why ?? null,
      stream: why === undefined ? ctx.keys.stream(letter.topic) : null,
      previousReplays: letter.replays?.count ?? 0,
      seq: null,
      replayEntryId: null,
    };
  });
}

/** One planned replay on its way: its item, dead letter, and the record it replaces. */
interface Claim {
  readonly item: ReplayItem;
  readonly letter: DeadLetterView;
  readonly previous: string | null;
  readonly record: ReplayRecord;
}

/**
 * Carries out a plan's replays, topic by topic in batches, and fills in each
 * item's seq and replay entry id (or refuses it when another run replayed it
 * meanwhile). Each dead letter is first claimed in the replay record
 * (HSETNX, or HSET with `--force`), then appended, then its record
 * completed; a failed append gives the claims back. Throws CliError: exit 1
 * when another `qt` of this producer id kept appending to the topic, exit 3
 * when Redis failed; items done before that keep their results.
 */
export async function executeReplay(
  ctx: CliContext,
  items: ReplayItem[],
  letters: ReadonlyMap<string, DeadLetterView>,
  options: { reason: string; force: boolean },
): Promise<void> {
  const redis = await ctx.redis();
  const appender: Appender = {
    redis,
    keys: ctx.keys,
    producer: cliProducerId(),
    instance: uuidv7(),
    minReplicasAck: ctx.config.redis.minReplicasAck,
    waitTimeoutMs: ctx.config.redis.waitTimeoutMs,
  };
  const todo = items.filter((i) => i.action === 'replay');
  const topics = [...new Set(todo.map((i) => i.topic))];
  for (const topic of topics) {
    const ofTopic = todo.filter((i) => i.topic === topic);
    for (let at = 0; at < ofTopic.length; at += BATCH) {
      const claims = await claim(ctx, ofTopic.slice(at, at + BATCH), letters, options);
      if (claims.length === 0) continue;
      let appended: { firstSeq: number; entryIds: (string | undefined)[] };
      try {
        appended = await appendReplays(appender, topic, claims);
      } catch (err) {
        await release(ctx, claims).catch(() => undefined);
        if (isQtError(err, 'QT_PUBLISH_OUT_OF_ORDER')) {
          throw new CliError(
            EXIT.REFUSED,
            `another qt run as producer ${appender.producer} kept appending to topic ${topic} (QT_PUBLISH_OUT_OF_ORDER, twice); the replays of this batch were not appended: run again`,
            { cause: err },
          );
        }
        throw new CliError(
          EXIT.REDIS_UNREACHABLE,
          `appending replays to ${ctx.keys.stream(topic)} failed: ${(err as Error).message}`,
          { cause: err },
        );
      }
      const done: string[] = [];
      claims.forEach((c, i) => {
        c.item.seq = appended.firstSeq + i;
        c.item.replayEntryId = appended.entryIds[i] ?? null;
        const record: ReplayRecord = {
          ...c.record,
          state: 'appended',
          seq: c.item.seq,
          entryId: c.item.replayEntryId,
        };
        done.push(c.item.dlqEntryId, JSON.stringify(record));
      });
      await redis.hset(ctx.keys.dlqReplays(), ...done);
    }
  }
}

/** Claims each item's dead letter in the replay record; an item someone else claimed meanwhile is refused. */
async function claim(
  ctx: CliContext,
  items: readonly ReplayItem[],
  letters: ReadonlyMap<string, DeadLetterView>,
  options: { reason: string; force: boolean },
): Promise<Claim[]> {
  const redis = await ctx.redis();
  const key = ctx.keys.dlqReplays();
  const claims: Claim[] = [];
  for (const item of items) {
    const letter = letters.get(item.dlqEntryId) as DeadLetterView;
    const previous = await redis.hget(key, item.dlqEntryId);
    const before = parseReplayRecord(previous);
    const record: ReplayRecord = {
      count: (before?.count ?? 0) + 1,
      state: 'appending',
      at: new Date().toISOString(),
      operator: cliOperator(),
      reason: options.reason,
      producer: cliProducerId(),
      seq: null,
      entryId: null,
    };
    let won = true;
    if (options.force) await redis.hset(key, item.dlqEntryId, JSON.stringify(record));
    else won = previous === null && (await redis.hsetnx(key, item.dlqEntryId, JSON.stringify(record))) === 1;
    if (!won) {
      item.action = 'refuse';
      item.why = 'replayed meanwhile by another qt run; --force replays it again';
      item.stream = null;
      continue;
    }
    claims.push({ item, letter, previous, record });
  }
  return claims;
}

/** Gives back claims whose replays were not appended. */
async function release(ctx: CliContext, claims: readonly Claim[]): Promise<void> {
  const redis = await ctx.redis();
  for (const c of claims) {
    if (c.previous === null) await redis.hdel(ctx.keys.dlqReplays(), c.item.dlqEntryId);
    else await redis.hset(ctx.keys.dlqReplays(), c.item.dlqEntryId, c.previous);
  }
}

/** The original envelope as stored (not as decoded, so `data` is exactly what was published). */
function storedEnvelope(letter: DeadLetterView): Record<string, unknown> {
  const i = letter.raw.indexOf(FIELD_ENVELOPE);
  return JSON.parse(letter.raw[i + 1] as string) as Record<string, unknown>;
}

/**
 * Appends one batch of replays with the producer's next seqs, read from
 * Redis's record (so seqs continue across runs). Refused because another run
 * of this producer id appended meanwhile: read the seq again and retry once.
 */
async function appendReplays(
  appender: Appender,
  topic: string,
  claims: readonly Claim[],
): Promise<{ firstSeq: number; entryIds: (string | undefined)[] }> {
  for (let attempt = 1; ; attempt++) {
    const last = await appender.redis.hget(appender.keys.producerSeqs(topic), appender.producer);
    const firstSeq = (last === null ? 0 : Number(last)) + 1;
    const envelopes = claims.map((c, i) => {
      const { producer: _producer, seq: _seq, replayOf: _replayOf, ...original } = storedEnvelope(c.letter);
      const replay = {
        ...original,
        producer: appender.producer,
        seq: firstSeq + i,
        replayOf: { group: c.letter.group, dlqEntryId: c.letter.id, entryId: c.letter.entryId },
      };
      // Checked against the catalog like any publish: nothing invalid reaches the stream.
      return { type: validateEnvelope(replay).type, payload: JSON.stringify(replay) };
    });
    try {
      const outcome = await appendBatch(appender, {
        topic,
        firstSeq,
        types: envelopes.map((e) => e.type),
        payloads: envelopes.map((e) => e.payload),
      });
      return { firstSeq, entryIds: outcome.entryIds };
    } catch (err) {
      if (attempt === 1 && isQtError(err, 'QT_PUBLISH_OUT_OF_ORDER')) continue;
      throw err;
    }
  }
}
