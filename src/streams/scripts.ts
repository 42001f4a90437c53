import type { Redis, Result } from 'ioredis';

/**
 * The Lua scripts of the event bus. Each touches only keys of one topic (one
 * Cluster hash tag), so each runs atomically on one node.
 */

/**
 * Appends a batch of one producer's events to a topic stream, idempotently
 * and in order. A batch carries consecutive seqs starting at `firstSeq`. The
 * hash `producerSeqs` holds the last seq appended per producer; events at or
 * below it are already in the stream (a replay, or ioredis re-sending after a
 * reconnect) and are skipped. Because the check and the XADDs run in one
 * script, a re-sent batch can never create a duplicate entry.
 *
 * The field `producer@owner` names the process instance that appended last.
 * If a different instance already holds seqs this batch would reuse, two
 * live processes share one producer id: the script appends nothing and
 * returns gap -1 so the publisher fails loudly instead of having its events
 * mistaken for duplicates.
 *
 * KEYS: stream, producerSeqs, gaps
 * ARGV: producer, instance, firstSeq, n, then n × (type, envelopeJson)
 * Returns: [lastSeqBefore, gapSize | -1, id1|0, id2|0, ...] (0 marks a duplicate)
 */
export const APPEND_LUA = `
local producer, instance = ARGV[1], ARGV[2]
local first, n = tonumber(ARGV[3]), tonumber(ARGV[4])
local head = redis.call('HMGET', KEYS[2], producer, producer .. '@owner')
local before = tonumber(head[1] or '0')
local owner = head[2]
if owner and owner ~= instance and before >= first then
  return {before, -1}
end
local gap = 0
if before > 0 and first > before + 1 then
  gap = first - before - 1
  redis.call('HINCRBY', KEYS[3], producer, gap)
end
local skip = before - first + 1
local out = {before, gap}
for i = 0, n - 1 do
  if i < skip then
    out[i + 3] = 0
  else
    out[i + 3] = redis.call('XADD', KEYS[1], '*', 'type', ARGV[5 + i * 2], 'env', ARGV[6 + i * 2])
  end
end
local last = first + n - 1
if last > before then redis.call('HSET', KEYS[2], producer, last, producer .. '@owner', instance) end
return out
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
 * KEYS: stream, groupSeqs
 * ARGV: group, n, then n × (entryId, producer, seq); producer '' = ack only
 * Returns: flat list of gaps: producer, missing, lowBefore, seq, ...
 */
export const COMMIT_LUA = `
local stream, gs, group = KEYS[1], KEYS[2], ARGV[1]
local n = tonumber(ARGV[2])
local ids = {}
for i = 0, n - 1 do
  ids[#ids + 1] = ARGV[3 + i * 3]
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
  local id, p, seq = ARGV[3 + i * 3], ARGV[4 + i * 3], tonumber(ARGV[5 + i * 3])
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
  }
}

const defined = new WeakSet<Redis>();

/** Registers the bus scripts on a connection (idempotent); returns it. */
export function withScripts(redis: Redis): Redis {
  if (defined.has(redis)) return redis;
  redis.defineCommand('qtAppend', { numberOfKeys: 3, lua: APPEND_LUA });
  redis.defineCommand('qtSeen', { numberOfKeys: 1, lua: SEEN_LUA });
  redis.defineCommand('qtCommit', { numberOfKeys: 2, lua: COMMIT_LUA });
  defined.add(redis);
  return redis;
}
