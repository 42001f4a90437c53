import type { Redis, Result } from 'ioredis';

/**
 * The Lua scripts of the event bus. Each touches only keys of one topic (one
 * Cluster hash tag), so each runs atomically on one node.
 */

/**
 * Appends a batch of one producer's events to a topic stream, idempotently
 * and in order. A batch carries consecutive seqs starting at `first`. The
 * hash `seqs` holds the last seq appended per producer; events at or below
 * it are already in the stream (a replay, or ioredis re-sending after a
 * reconnect) and are skipped. Because the check and the XADDs run in one
 * script, a re-sent batch can never create a duplicate entry.
 *
 * The field `producer@owner` names the process instance that appended last.
 * If a different instance already holds seqs this batch would reuse, two
 * live processes share one producer id: `refused` says so, and `append`
 * appends nothing and returns gap -1, so the caller fails loudly instead of
 * having its events mistaken for duplicates.
 *
 * A batch sent behind another of the same lane that Redis has not answered
 * yet (`follows`) must not open a gap: if the seq right before it is not
 * there (the batch in front was refused or failed), it appends nothing and
 * returns gap -2, and the publisher sends its events again from a fresh seq,
 * as it would have had it waited.
 *
 * `append` returns {lastSeqBefore, gapSize | -1 | -2, id1|0, id2|0, ...} (0
 * marks a duplicate); the events are argv[at], argv[at+1], ... as (type,
 * envelopeJson).
 */
const APPEND_FUNCTIONS = `
local function refused(seqs, producer, instance, first)
  local head = redis.call('HMGET', seqs, producer, producer .. '@owner')
  local before = tonumber(head[1] or '0')
  local owner = head[2]
  return (owner and owner ~= instance and before >= first) or false, before
end
local function append(stream, seqs, gaps, producer, instance, first, n, argv, at, follows)
  local no, before = refused(seqs, producer, instance, first)
  if no then return {before, -1} end
  if follows and before < first - 1 then return {before, -2} end
  local gap = 0
  if before > 0 and first > before + 1 then
    gap = first - before - 1
    redis.call('HINCRBY', gaps, producer, gap)
  end
  local skip = before - first + 1
  local out = {before, gap}
  for i = 0, n - 1 do
    if i < skip then
      out[i + 3] = 0
    else
      out[i + 3] = redis.call('XADD', stream, '*', 'type', argv[at + i * 2], 'env', argv[at + 1 + i * 2])
    end
  end
  local last = first + n - 1
  if last > before then redis.call('HSET', seqs, producer, last, producer .. '@owner', instance) end
  return out
end
`;

/**
 * One batch of a producer (see APPEND_FUNCTIONS).
 *
 * KEYS: stream, producerSeqs, gaps
 * ARGV: producer, instance, firstSeq, n, then n × (type, envelopeJson), then
 *   optionally `follows` ('1': sent behind an unanswered batch)
 */
export const APPEND_LUA = `${APPEND_FUNCTIONS}
local n = tonumber(ARGV[4])
return append(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], tonumber(ARGV[3]), n, ARGV, 5, ARGV[5 + n * 2] == '1')
`;

/**
 * Tells, for a batch of decoded entries, which ones this group has already
 * processed. A group's progress per producer is a low watermark `low` (every
 * seq ≤ low is done) plus marks `producer#seq` for seqs done out of order
 * (reclaimed or concurrent entries); `#marks` counts the marks so the common
 * in-order case costs no mark look-ups.
 *
 * KEYS: groupSeqs
 * ARGV: n, then n × (producer, seq)
 * Returns: n × 1|0 (1 = already processed)
 */
export const SEEN_LUA = `
local n = tonumber(ARGV[1])
local marks = tonumber(redis.call('HGET', KEYS[1], '#marks') or '0')
local out = {}
local lows = {}
for i = 0, n - 1 do
  local p = ARGV[2 + i * 2]
  local seq = tonumber(ARGV[3 + i * 2])
  local low = lows[p]
  if low == nil then
    low = tonumber(redis.call('HGET', KEYS[1], p) or '0')
    lows[p] = low
  end
  if (low > 0 and seq <= low) or (marks > 0 and redis.call('HEXISTS', KEYS[1], p .. '#' .. seq) == 1) then
    out[i + 1] = 1
  else
    out[i + 1] = 0
  end
end
return out
`;

/**
 * Acknowledges a batch and records it as processed, in one step, so a crash
 * can never leave an entry acked but not recorded (or the reverse).
 *
 * The batch is XACKed, then each entry advances its producer's watermark. A
 * seq that is not next in line is either out of order (an older entry of the
 * group is still pending: record a mark) or follows a loss (nothing older is
 * pending: count the gap and move the watermark past it). With no watermark
 * yet (a new group, or a Redis that lost its data) the first seq is the
 * baseline.
 *
 * `commit_record` takes n entries from argv[at] as (entryId, producer, seq);
 * producer '' = ack only. Returns a flat list of gaps: producer, missing,
 * lowBefore, seq, ...
 */
const COMMIT_FUNCTIONS = `
local function commit_record(stream, gs, group, n, argv, at)
  local ids = {}
  for i = 0, n - 1 do
    ids[#ids + 1] = argv[at + i * 3]
    if #ids == 500 then
      redis.call('XACK', stream, group, unpack(ids))
      ids = {}
    end
  end
  if #ids > 0 then redis.call('XACK', stream, group, unpack(ids)) end
  local marks0 = tonumber(redis.call('HGET', gs, '#marks') or '0')
  local marks = marks0
  local lows = {}
  local gaps = {}
  local function clearMarksBelow(p, limit)
    local cursor = '0'
    repeat
      local r = redis.call('HSCAN', gs, cursor, 'MATCH', p .. '#*', 'COUNT', 100)
      cursor = r[1]
      for j = 1, #r[2], 2 do
        local s = tonumber(string.sub(r[2][j], #p + 2))
        if s and s <= limit then
          marks = marks - redis.call('HDEL', gs, r[2][j])
        end
      end
    until cursor == '0'
  end
  for i = 0, n - 1 do
    local id, p, seq = argv[at + i * 3], argv[at + 1 + i * 3], tonumber(argv[at + 2 + i * 3])
    if p ~= '' then
      local low = lows[p]
      if low == nil then
        low = tonumber(redis.call('HGET', gs, p) or '0')
      end
      if low > 0 and seq <= low then
        -- already processed: nothing to record
      elseif low > 0 and seq == low + 1 then
        low = seq
      else
        local older = redis.call('XPENDING', stream, group, '-', '(' .. id, 1)
        if #older > 0 then
          redis.call('HSET', gs, p .. '#' .. seq, 1)
          marks = marks + 1
        else
          if low > 0 then
            gaps[#gaps + 1] = p
            gaps[#gaps + 1] = seq - low - 1
            gaps[#gaps + 1] = low
            gaps[#gaps + 1] = seq
          end
          if marks > 0 then clearMarksBelow(p, seq) end
          low = seq
        end
      end
      while marks > 0 and redis.call('HDEL', gs, p .. '#' .. (low + 1)) == 1 do
        low = low + 1
        marks = marks - 1
      end
      lows[p] = low
    end
  end
  local fields = {}
  for p, low in pairs(lows) do
    fields[#fields + 1] = p
    fields[#fields + 1] = low
  end
  if marks ~= marks0 then
    fields[#fields + 1] = '#marks'
    fields[#fields + 1] = marks
  end
  if #fields > 0 then redis.call('HSET', gs, unpack(fields)) end
  return gaps
end
`;

/**
 * One group's commit (see COMMIT_FUNCTIONS).
 *
 * KEYS: stream, groupSeqs
 * ARGV: group, n, then n × (entryId, producer, seq)
 */
export const COMMIT_LUA = `${COMMIT_FUNCTIONS}
return commit_record(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2]), ARGV, 3)
`;

/**
 * An actor's whole commit, all or nothing: its outputs appended (one batch
 * per topic, as `append`), the consumed entries acked and recorded (as
 * `commit_record`), its snapshot and projections written, and its version
 * raised. Nothing is written when
 * - the stored version is not the one this host loaded or last wrote
 *   (another live process committed this actor meanwhile): {'stale', version};
 * - an output batch would be refused (another live instance owns the
 *   producer id): {'refused', topicIndex, lastSeqBefore}.
 * - `checkSeen` is '1' (the events were handled without asking SEEN_LUA
 *   first) and the group has already processed one of them:
 *   {'seen', ackIndex}.
 * All checks run before the first write, so a refused commit leaves no
 * trace. Otherwise returns {'ok', newVersion, gaps, {append reply per topic}}.
 *
 * KEYS: version, snapshot, consumed stream, groupSeqs, then 3 per output
 *   topic (stream, producerSeqs, gaps), then one per projection
 * ARGV: expectedVersion, snapshotJson, group, nAcks, nAcks × (entryId,
 *   producer, seq), nTopics, per topic (producer, instance, firstSeq, n,
 *   n × (type, envelopeJson)), nProjections, one value per projection,
 *   then optionally checkSeen ('1')
 */
export const ACTOR_COMMIT_LUA = `${APPEND_FUNCTIONS}${COMMIT_FUNCTIONS}
local expected = tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current ~= expected then return {'stale', current} end
local nAcks = tonumber(ARGV[4])
local at = 5 + nAcks * 3
local nTopics = tonumber(ARGV[at])
at = at + 1
local batches = {}
for t = 1, nTopics do
  local b = {producer = ARGV[at], instance = ARGV[at + 1], first = tonumber(ARGV[at + 2]), n = tonumber(ARGV[at + 3]), at = at + 4}
  batches[t] = b
  at = at + 4 + b.n * 2
  local no, before = refused(KEYS[4 + (t - 1) * 3 + 2], b.producer, b.instance, b.first)
  if no then return {'refused', t, before} end
end
local nProjections = tonumber(ARGV[at])
if ARGV[at + nProjections + 1] == '1' and nAcks > 0 then
  local marks = tonumber(redis.call('HGET', KEYS[4], '#marks') or '0')
  for i = 0, nAcks - 1 do
    local p, seq = ARGV[6 + i * 3], tonumber(ARGV[7 + i * 3])
    if p ~= '' then
      local low = tonumber(redis.call('HGET', KEYS[4], p) or '0')
      if (low > 0 and seq <= low) or (marks > 0 and redis.call('HEXISTS', KEYS[4], p .. '#' .. seq) == 1) then
        return {'seen', i + 1}
      end
    end
  end
end
local appended = {}
for t = 1, nTopics do
  local b, k = batches[t], 4 + (t - 1) * 3
  appended[t] = append(KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], b.producer, b.instance, b.first, b.n, ARGV, b.at, false)
end
local gaps = {}
if nAcks > 0 then gaps = commit_record(KEYS[3], KEYS[4], ARGV[3], nAcks, ARGV, 5) end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('SET', KEYS[1], expected + 1)
for p = 1, nProjections do redis.call('SET', KEYS[4 + nTopics * 3 + p], ARGV[at + p]) end
return {'ok', expected + 1, gaps, appended}
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    qtAppend(
      stream: string,
      seqs: string,
      gaps: string,
      ...args: (string | number)[]
    ): Result<(string | number)[], Context>;
    qtSeen(groupSeqs: string, ...args: (string | number)[]): Result<number[], Context>;
    qtCommit(stream: string, groupSeqs: string, ...args: (string | number)[]): Result<(string | number)[], Context>;
    qtActorCommit(numberOfKeys: number, ...keysAndArgs: (string | number)[]): Result<unknown[], Context>;
  }
}

const defined = new WeakSet<Redis>();

/** Registers the bus scripts on a connection (idempotent); returns it. */
export function withScripts(redis: Redis): Redis {
  if (defined.has(redis)) return redis;
  redis.defineCommand('qtAppend', { numberOfKeys: 3, lua: APPEND_LUA });
  redis.defineCommand('qtSeen', { numberOfKeys: 1, lua: SEEN_LUA });
  redis.defineCommand('qtCommit', { numberOfKeys: 2, lua: COMMIT_LUA });
  // Its number of keys varies with the outputs: given first on each call.
  redis.defineCommand('qtActorCommit', { lua: ACTOR_COMMIT_LUA });
  defined.add(redis);
  return redis;
}
