-- Issues a place at the back of the line, or returns the caller's current
-- place (waiting or active) so that one user never holds two.
--
-- KEYS[1] config HASH, KEYS[2] state HASH, KEYS[3] line ZSET (user -> seq),
-- KEYS[4] seen ZSET (user -> last heartbeat ms), KEYS[5] batches ZSET
-- ARGV[1] user id
-- Returns {outcome, seq, position, active_until_ms, turnover_micro, heartbeat_ttl_ms,
--          admit_per_second, max_active, active_ttl_ms, free_slots}
--   outcome: 0 queue not configured, 1 already waiting, 2 already active,
--            3 newly issued, 5 newly issued because the caller's active
--            window had run out before the scheduler swept it
--   turnover_micro: how fast slots come free with every slot taken, in
--            millionths of a user per second (see tick.lua); -1 until measured
--   free_slots: active slots free right now
local cfg = redis.call('HMGET', KEYS[1],
  'admit_per_second', 'heartbeat_ttl_ms', 'active_ttl_ms', 'max_active')
if not cfg[1] then
  return {0}
end
local user = ARGV[1]
local now = now_ms()
local active_ttl = tonumber(cfg[3])
local max_active = tonumber(cfg[4])
local turnover = tonumber(redis.call('HGET', KEYS[2], 'turnover'))
local turnover_micro = turnover and math.floor(max_active * turnover * 1000000) or -1
local admitted = admitted_watermark(KEYS[2])

-- `active`: users holding a slot (only the estimate of a waiting user needs it).
local function standing(outcome, seq, position, until_ms, active)
  return {outcome, seq, position, until_ms, turnover_micro, tonumber(cfg[2]),
    tonumber(cfg[1]), max_active, active_ttl, math.max(0, max_active - active)}
end

local seq = tonumber(redis.call('ZSCORE', KEYS[3], user))
if seq and seq > admitted then
  -- Asking again is a sign of life.
  redis.call('ZADD', KEYS[4], 'XX', now, user)
  local active = active_count(KEYS[3], admitted)
  return standing(1, seq, redis.call('ZRANK', KEYS[3], user) + 1 - active, 0, active)
end
local outcome = 3
if seq then
  local until_ms = active_until(KEYS[5], active_ttl, seq)
  if until_ms and until_ms > now then
    redis.call('ZADD', KEYS[4], 'XX', now, user)
    return standing(2, seq, 0, until_ms, max_active)
  end
  -- The active window ran out before the scheduler swept it: an expiry,
  -- counted as the sweep would have counted it. The user starts over.
  redis.call('ZREM', KEYS[3], user)
  redis.call('HINCRBY', KEYS[2], 'evicted_total', 1)
  outcome = 5
end

seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
redis.call('ZADD', KEYS[3], seq, user)
redis.call('ZADD', KEYS[4], now, user)
local active = active_count(KEYS[3], admitted)
return standing(outcome, seq, redis.call('ZCARD', KEYS[3]) - active, 0, active)
