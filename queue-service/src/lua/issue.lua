-- Issues a place at the back of the line, or returns the caller's current
-- place (waiting or active) so that one user never holds two.
--
-- KEYS[1] config HASH, KEYS[2] state HASH, KEYS[3] waiting ZSET (user -> seq),
-- KEYS[4] seen ZSET (user -> last heartbeat ms), KEYS[5] active ZSET
-- (user -> active-until ms), KEYS[6] active_seq HASH (user -> seq)
-- ARGV[1] user id
-- Returns {outcome, seq, position, active_until_ms, rate_milli, heartbeat_ttl_ms}
--   outcome: 0 queue not configured, 1 already waiting, 2 already active, 3 newly issued
--   rate_milli: smoothed admissions per second x 1000
local cfg = redis.call('HMGET', KEYS[1], 'admit_per_second', 'heartbeat_ttl_ms')
if not cfg[1] then
  return {0}
end
local user = ARGV[1]
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local rate = tonumber(redis.call('HGET', KEYS[2], 'rate_ewma')) or tonumber(cfg[1])
local rate_milli = math.floor(rate * 1000)
local heartbeat_ttl = tonumber(cfg[2])

local seq = redis.call('ZSCORE', KEYS[3], user)
if seq then
  -- Asking again is a sign of life.
  redis.call('ZADD', KEYS[4], 'XX', now, user)
  return {1, tonumber(seq), redis.call('ZRANK', KEYS[3], user) + 1, 0, rate_milli, heartbeat_ttl}
end

local active_seq = redis.call('HGET', KEYS[6], user)
if active_seq then
  local active_until = tonumber(redis.call('ZSCORE', KEYS[5], user))
  if active_until and active_until > now then
    redis.call('ZADD', KEYS[4], 'XX', now, user)
    return {2, tonumber(active_seq), 0, active_until, rate_milli, heartbeat_ttl}
  end
  -- The active window ran out before the scheduler swept it: start over.
  redis.call('HDEL', KEYS[6], user)
  redis.call('ZREM', KEYS[5], user)
end

seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
redis.call('ZADD', KEYS[3], seq, user)
redis.call('ZADD', KEYS[4], now, user)
return {3, seq, redis.call('ZCARD', KEYS[3]), 0, rate_milli, heartbeat_ttl}
