-- Records a sign of life from a token and reports where it stands.
--
-- KEYS[1] config HASH, KEYS[2] state HASH, KEYS[3] line ZSET, KEYS[4] seen ZSET,
-- KEYS[5] batches ZSET
-- ARGV[1] user id, ARGV[2] token sequence number
-- Returns {outcome, seq, position, active_until_ms, rate_milli, heartbeat_ttl_ms}
--   outcome: 0 queue not configured, 1 waiting, 2 active, 4 the token has left the queue
local cfg = redis.call('HMGET', KEYS[1], 'admit_per_second', 'heartbeat_ttl_ms', 'active_ttl_ms')
if not cfg[1] then
  return {0}
end
local user = ARGV[1]
local seq = tonumber(ARGV[2])
if tonumber(redis.call('ZSCORE', KEYS[3], user)) ~= seq then
  return {4}
end
local now = now_ms()
local admitted = admitted_watermark(KEYS[2])
if seq > admitted then
  redis.call('ZADD', KEYS[4], 'XX', now, user)
  local rate = tonumber(redis.call('HGET', KEYS[2], 'rate_ewma')) or tonumber(cfg[1])
  local position = redis.call('ZRANK', KEYS[3], user) + 1 - active_count(KEYS[3], admitted)
  return {1, seq, position, 0, math.floor(rate * 1000), tonumber(cfg[2])}
end
local until_ms = active_until(KEYS[5], tonumber(cfg[3]), seq)
if until_ms and until_ms > now then
  redis.call('ZADD', KEYS[4], 'XX', now, user)
  return {2, seq, 0, until_ms, 0, tonumber(cfg[2])}
end
return {4}
