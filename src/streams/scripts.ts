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
 * ARGV: the number of runs, then per run (producer, firstSeq, count): the
 *   events in order, a run's seqs rising by one (as \`seqRuns\` lays them out)
 * Returns: one 1|0 per event (1 = already processed)
 */
export const SEEN_LUA = `
local marks = tonumber(redis.call('HGET', KEYS[1], '#marks') or '0')
local out = {}
local lows = {}
for r = 0, tonumber(ARGV[1]) - 1 do
  local p, first, count = ARGV[2 + r * 3], tonumber(ARGV[3 + r * 3]), tonumber(ARGV[4 + r * 3])
  local low = lows[p]
  if low == nil then
    low = tonumber(redis.call('HGET', KEYS[1], p) or '0')
    lows[p] = low
  end
  for seq = first, first + count - 1 do
    if (low > 0 and seq <= low) or (marks > 0 and redis.call('HEXISTS', KEYS[1], p .. '#' .. seq) == 1) then
      out[#out + 1] = 1
    else
      out[#out + 1] = 0
    end
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
 * The acks arrive compact (\`read_acks\`, laid out by \`commitRecordArgs\`):
 * n, the n entry ids joined by ',', then runs of (producer, firstSeq, count)
 * giving each entry's producer and seq in order (a run's seqs rise by one);
 * producer '' = ack only. One batch of one producer is then five arguments
 * whatever its size, where one per entry and field cost the client more
 * than the rest of the commit. \`commit_record\` returns a flat list of gaps:
 * producer, missing, lowBefore, seq, ...
 */
const COMMIT_FUNCTIONS = `
local function read_acks(argv, at)
  local n = tonumber(argv[at])
  local ids, ps, seqs = {}, {}, {}
  for id in string.gmatch(argv[at + 1], '[^,]+') do ids[#ids + 1] = id end
  local k = at + 3
  for r = 1, tonumber(argv[at + 2]) do
    local p, first, count = argv[k], tonumber(argv[k + 1]), tonumber(argv[k + 2])
    for j = 0, count - 1 do
      ps[#ps + 1] = p
      seqs[#seqs + 1] = first + j
    end
    k = k + 3
  end
  if #ids ~= n or #ps ~= n then error('acks: ' .. n .. ' expected, ' .. #ids .. ' ids and ' .. #ps .. ' seqs given') end
  return n, ids, ps, seqs, k
end
local function commit_record(stream, gs, group, n, ids, ps, seqs)
  for i = 1, n, 500 do
    redis.call('XACK', stream, group, unpack(ids, i, math.min(i + 499, n)))
  end
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
  for i = 1, n do
    local id, p, seq = ids[i], ps[i], seqs[i]
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
 * ARGV: group, then the acks (see read_acks)
 */
export const COMMIT_LUA = `${COMMIT_FUNCTIONS}
local n, ids, ps, seqs = read_acks(ARGV, 2)
return commit_record(KEYS[1], KEYS[2], ARGV[1], n, ids, ps, seqs)
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
 * ARGV: expectedVersion, snapshotJson, group, the acks (see read_acks),
 *   nTopics, per topic (producer, instance, firstSeq, n,
 *   n × (type, envelopeJson)), nProjections, one value per projection,
 *   then optionally checkSeen ('1')
 */
export const ACTOR_COMMIT_LUA = `${APPEND_FUNCTIONS}${COMMIT_FUNCTIONS}
local expected = tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current ~= expected then return {'stale', current} end
local nAcks, ids, ps, seqs, at = read_acks(ARGV, 4)
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
  for i = 1, nAcks do
    local p, seq = ps[i], seqs[i]
    if p ~= '' then
      local low = tonumber(redis.call('HGET', KEYS[4], p) or '0')
      if (low > 0 and seq <= low) or (marks > 0 and redis.call('HEXISTS', KEYS[4], p .. '#' .. seq) == 1) then
        return {'seen', i}
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
if nAcks > 0 then gaps = commit_record(KEYS[3], KEYS[4], ARGV[3], nAcks, ids, ps, seqs) end
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
