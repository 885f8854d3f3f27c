-- Issues a place at the back of the line, or returns the caller's current
-- place (waiting or active) so that one user never holds two.
--
-- KEYS[1] config HASH, KEYS[2] state HASH, KEYS[3] line ZSET (user -> seq),
-- KEYS[4] seen ZSET (user -> last heartbeat ms), KEYS[5] batches ZSET
-- ARGV[1] user id
-- Returns {outcome, seq, position, active_until_ms, rate_milli, heartbeat_ttl_ms}
--   outcome: 0 queue not configured, 1 already waiting, 2 already active, 3 newly issued
--   rate_milli: smoothed admissions per second x 1000
local cfg = redis.call('HMGET', KEYS[1], 'admit_per_second', 'heartbeat_ttl_ms', 'active_ttl_ms')
if not cfg[1] then
  return {0}
end
local user = ARGV[1]
local now = now_ms()
local rate = tonumber(redis.call('HGET', KEYS[2], 'rate_ewma')) or tonumber(cfg[1])
local rate_milli = math.floor(rate * 1000)
local heartbeat_ttl = tonumber(cfg[2])
local admitted = admitted_watermark(KEYS[2])

local seq = tonumber(redis.call('ZSCORE', KEYS[3], user))
if seq and seq > admitted then
  -- Asking again is a sign of life.
  redis.call('ZADD', KEYS[4], 'XX', now, user)
  local position = redis.call('ZRANK', KEYS[3], user) + 1 - active_count(KEYS[3], admitted)
  return {1, seq, position, 0, rate_milli, heartbeat_ttl}
end
if seq then
  local until_ms = active_until(KEYS[5], tonumber(cfg[3]), seq)
  if until_ms and until_ms > now then
    redis.call('ZADD', KEYS[4], 'XX', now, user)
    return {2, seq, 0, until_ms, rate_milli, heartbeat_ttl}
  end
  -- The active window ran out before the scheduler swept it: start over.
  redis.call('ZREM', KEYS[3], user)
end

seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
redis.call('ZADD', KEYS[3], seq, user)
redis.call('ZADD', KEYS[4], now, user)
local position = redis.call('ZCARD', KEYS[3]) - active_count(KEYS[3], admitted)
return {3, seq, position, 0, rate_milli, heartbeat_ttl}
