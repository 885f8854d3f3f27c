-- Records a sign of life from a token and reports where it stands.
--
-- KEYS[1] config HASH, KEYS[2] state HASH, KEYS[3] waiting ZSET, KEYS[4] seen ZSET,
-- KEYS[5] active ZSET, KEYS[6] active_seq HASH
-- ARGV[1] user id, ARGV[2] token sequence number
-- Returns {outcome, seq, position, active_until_ms, rate_milli, heartbeat_ttl_ms}
--   outcome: 0 queue not configured, 1 waiting, 2 active, 4 the token has left the queue
local cfg = redis.call('HMGET', KEYS[1], 'admit_per_second', 'heartbeat_ttl_ms')
if not cfg[1] then
  return {0}
end
local user = ARGV[1]
local seq = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)

local waiting_seq = tonumber(redis.call('ZSCORE', KEYS[3], user))
if waiting_seq == seq then
  redis.call('ZADD', KEYS[4], 'XX', now, user)
  local rate = tonumber(redis.call('HGET', KEYS[2], 'rate_ewma')) or tonumber(cfg[1])
  return {1, seq, redis.call('ZRANK', KEYS[3], user) + 1, 0, math.floor(rate * 1000), tonumber(cfg[2])}
end

if tonumber(redis.call('HGET', KEYS[6], user)) == seq then
  local active_until = tonumber(redis.call('ZSCORE', KEYS[5], user))
  if active_until and active_until > now then
    redis.call('ZADD', KEYS[4], 'XX', now, user)
    return {2, seq, 0, active_until, 0, tonumber(cfg[2])}
  end
end
return {4}
