import type { Redis, Result } from 'ioredis';

/**
 * The Lua scripts of the event bus. Each touches only keys of one topic (one
 * Cluster hash tag), so each runs atomically on one node.
 */

/**
 * Appends a batch of one producer's events to a topic stream, idempotently
 * and in order. The hash `producerSeqs` holds the last seq appended per
 * producer; an event whose seq is not above it is already in the stream (a
 * replay, or ioredis re-sending after a reconnect) and is skipped. Because
 * the check and the XADD happen in one script, a retried batch can never
 * create a duplicate entry.
 *
 * The field `producer@owner` names the process instance that appended last.
 * If a different instance already holds seqs this batch would reuse, two
 * live processes share one producer id: the script appends nothing and
 * returns gap -1 so the publisher can fail loudly instead of having its
 * events mistaken for duplicates.
 *
 * KEYS: stream, producerSeqs, gaps
 * ARGV: producer, instance, n, then n × (seq, type, envelopeJson)
 * Returns: [lastSeqBefore, gapSize | -1, id1|0, id2|0, ...] (0 marks a duplicate)
 */
export const APPEND_LUA = `
local producer, instance = ARGV[1], ARGV[2]
local n = tonumber(ARGV[3])
local before = tonumber(redis.call('HGET', KEYS[2], producer) or '0')
local owner = redis.call('HGET', KEYS[2], producer .. '@owner')
if owner and owner ~= instance and before >= tonumber(ARGV[4]) then
  return {before, -1}
end
local last = before
local gap = 0
local out = {before, 0}
for i = 0, n - 1 do
  local seq = tonumber(ARGV[4 + i * 3])
  if seq <= last then
    out[#out + 1] = 0
  else
    if last > 0 and seq > last + 1 then gap = gap + (seq - last - 1) end
    out[#out + 1] = redis.call('XADD', KEYS[1], '*', 'type', ARGV[5 + i * 3], 'env', ARGV[6 + i * 3])
    last = seq
  end
end
if last > before then redis.call('HSET', KEYS[2], producer, last, producer .. '@owner', instance) end
if gap > 0 then redis.call('HINCRBY', KEYS[3], producer, gap) end
out[2] = gap
return out
`;

/**
 * Tells, for a batch of decoded entries, which ones this group has already
 * processed. A group's progress per producer is a low watermark `low` (every
 * seq ≤ low is done) plus marks `producer#seq` for seqs done out of order
 * (reclaimed or concurrent entries).
 *
 * KEYS: groupSeqs
 * ARGV: n, then n × (producer, seq)
 * Returns: n × 1|0 (1 = already processed)
 */
export const SEEN_LUA = `
local n = tonumber(ARGV[1])
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
  if (low > 0 and seq <= low) or redis.call('HEXISTS', KEYS[1], p .. '#' .. seq) == 1 then
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
 * For each entry: XACK, then advance the producer's watermark. A seq that is
 * not next in line is either out of order (an older entry of the group is
 * still pending: record a mark) or follows a loss (nothing older is pending:
 * count the gap and move the watermark past it). With no watermark yet (a new
 * group, or a Redis that lost its data) the first seq is the baseline.
 *
 * KEYS: stream, groupSeqs
 * ARGV: group, n, then n × (entryId, producer, seq); producer '' = ack only
 * Returns: flat list of gaps: producer, missing, lowBefore, seq, ...
 */
export const COMMIT_LUA = `
local stream, gs, group = KEYS[1], KEYS[2], ARGV[1]
local n = tonumber(ARGV[2])
local lows = {}
local dirty = {}
local gaps = {}
local function clearMarksBelow(p, limit)
  local cursor = '0'
  repeat
    local r = redis.call('HSCAN', gs, cursor, 'MATCH', p .. '#*', 'COUNT', 100)
    cursor = r[1]
    for j = 1, #r[2], 2 do
      local s = tonumber(string.sub(r[2][j], #p + 2))
      if s and s <= limit then redis.call('HDEL', gs, r[2][j]) end
    end
  until cursor == '0'
end
for i = 0, n - 1 do
  local id, p, seq = ARGV[3 + i * 3], ARGV[4 + i * 3], tonumber(ARGV[5 + i * 3])
  redis.call('XACK', stream, group, id)
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
      else
        if low > 0 then
          gaps[#gaps + 1] = p
          gaps[#gaps + 1] = seq - low - 1
          gaps[#gaps + 1] = low
          gaps[#gaps + 1] = seq
        end
        clearMarksBelow(p, seq)
        low = seq
      end
    end
    while low > 0 and redis.call('HDEL', gs, p .. '#' .. (low + 1)) == 1 do low = low + 1 end
    lows[p] = low
    dirty[p] = true
  end
end
for p, _ in pairs(dirty) do redis.call('HSET', gs, p, lows[p]) end
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
