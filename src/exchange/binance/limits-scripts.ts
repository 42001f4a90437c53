import type { Redis, Result } from 'ioredis';

/**
 * Lua scripts behind the shared Binance budget (`limits.ts`). All three touch
 * only the one `venueLimits` hash, so each runs atomically: two processes can
 * never both pass the check for the last unit of a window.
 *
 * Counter fields are `<counter>:<interval>:<windowStartMs>`. Writing a window
 * deletes older windows of the same counter and interval, and every script
 * extends the key's TTL to the end of the longest window or ban it holds, so
 * the hash stays a handful of fields and disappears once idle.
 */

const HELPERS = `
local function prune(key, field)
  local prefix = string.match(field, '^(.*:)')
  local start = tonumber(string.sub(field, #prefix + 1))
  for _, f in ipairs(redis.call('HKEYS', key)) do
    if f ~= field and string.sub(f, 1, #prefix) == prefix then
      local other = tonumber(string.sub(f, #prefix + 1))
      if other ~= nil and other < start then redis.call('HDEL', key, f) end
    end
  end
end
local function extend(key, now, expireAt)
  local want = math.floor(expireAt - now)
  if want > 0 and redis.call('PTTL', key) < want then
    redis.call('PEXPIRE', key, string.format('%d', want))
  end
end
`;

/**
 * Admits one call or says why not. Checks the ban, then the Retry-After hold,
 * then every window; spends the call's amounts only if all windows have room.
 *
 * KEYS: limits hash
 * ARGV: now, expireAt, n, then n × (field, limit, amount, windowEnd)
 * Returns: {'ok'} | {'banned', until} | {'retry_after', until} | {'budget', windowEnd, field}
 */
export const ACQUIRE_LUA = `${HELPERS}
local key = KEYS[1]
local now = tonumber(ARGV[1])
local banned = redis.call('HGET', key, 'bannedUntil')
if banned and tonumber(banned) > now then return {'banned', banned} end
local hold = redis.call('HGET', key, 'retryAfterUntil')
if hold and tonumber(hold) > now then return {'retry_after', hold} end
local n = tonumber(ARGV[3])
for i = 0, n - 1 do
  local b = 4 + i * 4
  local amount = tonumber(ARGV[b + 2])
  if amount > 0 then
    local used = tonumber(redis.call('HGET', key, ARGV[b]) or '0')
    if used + amount > tonumber(ARGV[b + 1]) then return {'budget', ARGV[b + 3], ARGV[b]} end
  end
end
for i = 0, n - 1 do
  local b = 4 + i * 4
  if tonumber(ARGV[b + 2]) > 0 then
    redis.call('HINCRBY', key, ARGV[b], ARGV[b + 2])
    prune(key, ARGV[b])
  end
end
extend(key, now, tonumber(ARGV[2]))
return {'ok'}
`;

/**
 * Records what the venue reported as used. The venue's count is
 * authoritative but requests of other processes may still be in flight, so a
 * window keeps the larger of its count and the report.
 *
 * KEYS: limits hash
 * ARGV: now, expireAt, n, then n × (field, used)
 */
export const RECORD_LUA = `${HELPERS}
local key = KEYS[1]
local n = tonumber(ARGV[3])
for i = 0, n - 1 do
  local field, used = ARGV[4 + i * 2], tonumber(ARGV[5 + i * 2])
  local current = tonumber(redis.call('HGET', key, field) or '0')
  if used > current then redis.call('HSET', key, field, ARGV[5 + i * 2]) end
  prune(key, field)
end
extend(key, tonumber(ARGV[1]), tonumber(ARGV[2]))
return n
`;

/**
 * Moves a deadline field (`bannedUntil` or `retryAfterUntil`) later, never
 * earlier: two processes reporting the same 429 must not shorten each other's
 * wait.
 *
 * KEYS: limits hash
 * ARGV: field, until, now
 * Returns: the deadline now in force
 */
export const HOLD_LUA = `${HELPERS}
local key = KEYS[1]
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current and tonumber(current) >= tonumber(ARGV[2]) then return current end
redis.call('HSET', key, ARGV[1], ARGV[2])
extend(key, tonumber(ARGV[3]), tonumber(ARGV[2]))
return ARGV[2]
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    qtVenueAcquire(key: string, ...args: (string | number)[]): Result<string[], Context>;
    qtVenueRecord(key: string, ...args: (string | number)[]): Result<number, Context>;
    qtVenueHold(key: string, field: string, until: number, now: number): Result<string, Context>;
  }
}

const defined = new WeakSet<Redis>();

/** Registers the venue-limit scripts on a connection (idempotent); returns it. */
export function withLimitScripts(redis: Redis): Redis {
  if (defined.has(redis)) return redis;
  redis.defineCommand('qtVenueAcquire', { numberOfKeys: 1, lua: ACQUIRE_LUA });
  redis.defineCommand('qtVenueRecord', { numberOfKeys: 1, lua: RECORD_LUA });
  redis.defineCommand('qtVenueHold', { numberOfKeys: 1, lua: HOLD_LUA });
  defined.add(redis);
  return redis;
}
