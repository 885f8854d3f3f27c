-- One scheduler step for one queue: evict the silent, expire finished
-- active windows, then admit from the head of the line within both the free
-- slots and a token bucket refilled at admit_per_second. The work is
-- proportional to the users moved; nothing scans a whole set. Every bound is
-- enforced here, atomically, so any number of concurrent tickers is safe.
--
-- KEYS[1] config HASH, KEYS[2] state HASH, KEYS[3] waiting ZSET (user -> seq),
-- KEYS[4] seen ZSET (user -> last heartbeat ms), KEYS[5] active ZSET
-- (user -> active-until ms), KEYS[6] active_seq HASH (user -> seq)
-- ARGV[1] most users evicted per reason in this step
-- ARGV[2] time constant of the admission-rate smoothing, ms
-- Returns {promoted, evicted_silent_waiting, evicted_silent_active,
--          expired_active, waiting, active}, or {-1} if the queue is not configured.

-- Lua's unpack() handles at most ~8000 values; variadic calls go in chunks.
local CHUNK = 1000

local function variadic(cmd, key, items)
  local total = 0
  for i = 1, #items, CHUNK do
    total = total + redis.call(cmd, key, unpack(items, i, math.min(i + CHUNK - 1, #items)))
  end
  return total
end

local cfg = redis.call('HMGET', KEYS[1],
  'max_active', 'admit_per_second', 'active_ttl_ms', 'heartbeat_ttl_ms')
if not cfg[1] then
  return {-1}
end
local max_active = tonumber(cfg[1])
local admit = tonumber(cfg[2])
local active_ttl = tonumber(cfg[3])
local heartbeat_ttl = tonumber(cfg[4])
local batch = tonumber(ARGV[1])
local smoothing_ms = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)

-- 1. Users silent for longer than the heartbeat TTL, waiting or active.
local silent = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', '(' .. (now - heartbeat_ttl),
  'LIMIT', 0, batch)
local silent_waiting, silent_active = 0, 0
if #silent > 0 then
  variadic('ZREM', KEYS[4], silent)
  silent_waiting = variadic('ZREM', KEYS[3], silent)
  silent_active = variadic('ZREM', KEYS[5], silent)
  variadic('HDEL', KEYS[6], silent)
end

-- 2. Active windows that ran out.
local expired = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now, 'LIMIT', 0, batch)
if #expired > 0 then
  variadic('ZREM', KEYS[5], expired)
  variadic('HDEL', KEYS[6], expired)
  variadic('ZREM', KEYS[4], expired)
end

-- 3. Admission. The bucket holds at most one second's worth of admissions.
local state = redis.call('HMGET', KEYS[2], 'bucket', 'bucket_ms', 'rate_ewma', 'rate_ms')
local bucket = tonumber(state[1]) or admit
local last_ms = tonumber(state[2]) or now
if now > last_ms then
  bucket = math.min(admit, bucket + (now - last_ms) * admit / 1000)
end
local waiting = redis.call('ZCARD', KEYS[3])
local active = redis.call('ZCARD', KEYS[5])
local n = math.min(math.floor(bucket), max_active - active, waiting)
local promoted = 0
if n > 0 then
  local popped = redis.call('ZPOPMIN', KEYS[3], n)
  local active_until = now + active_ttl
  for i = 1, #popped, 2 * CHUNK do
    local until_args, seq_args = {}, {}
    for j = i, math.min(i + 2 * CHUNK - 1, #popped), 2 do
      until_args[#until_args + 1] = active_until
      until_args[#until_args + 1] = popped[j]
      seq_args[#seq_args + 1] = popped[j]
      seq_args[#seq_args + 1] = popped[j + 1]
    end
    redis.call('ZADD', KEYS[5], unpack(until_args))
    redis.call('HSET', KEYS[6], unpack(seq_args))
  end
  promoted = #popped / 2
  bucket = bucket - promoted
end

-- 4. Smoothed admission rate, sampled only while people are waiting: an
-- empty line says nothing about how fast it would move.
local rate = tonumber(state[3]) or admit
local rate_ms = tonumber(state[4]) or now
if waiting > 0 and now > rate_ms then
  local dt = now - rate_ms
  local alpha = 1 - math.exp(-dt / smoothing_ms)
  rate = rate + alpha * (promoted * 1000 / dt - rate)
end
redis.call('HSET', KEYS[2], 'bucket', bucket, 'bucket_ms', now, 'rate_ewma', rate, 'rate_ms', now)
if promoted > 0 then
  redis.call('HINCRBY', KEYS[2], 'promoted_total', promoted)
end
local evicted = silent_waiting + silent_active + #expired
if evicted > 0 then
  redis.call('HINCRBY', KEYS[2], 'evicted_total', evicted)
end
return {promoted, silent_waiting, silent_active, #expired, waiting - promoted, active + promoted}
