-- Checks that a token holds an active slot and counts the call as a heartbeat.
--
-- KEYS[1] config HASH, KEYS[2] state HASH, KEYS[3] line ZSET (user -> seq),
-- KEYS[4] seen ZSET (user -> last heartbeat, queue ms), KEYS[5] batches ZSET
-- ARGV[1] user id, ARGV[2] token sequence number
-- Returns the active-until wall time in ms, or 0 when the token is not active.
local seq = tonumber(ARGV[2])
if tonumber(redis.call('ZSCORE', KEYS[3], ARGV[1])) ~= seq or seq > admitted_watermark(KEYS[2]) then
  return 0
end
local active_ttl = tonumber(redis.call('HGET', KEYS[1], 'active_ttl_ms'))
local until_qt = active_ttl and active_until(KEYS[5], active_ttl, seq)
local _, now_qt, paused = clocks(KEYS[2])
if not until_qt or until_qt <= now_qt then
  return 0
end
redis.call('ZADD', KEYS[4], 'XX', now_qt, ARGV[1])
return until_qt + paused
