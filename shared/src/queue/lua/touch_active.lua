-- Checks that a token holds an active slot and counts the call as a heartbeat.
--
-- KEYS[1] active_seq HASH (user -> seq of the token holding the slot)
-- KEYS[2] active     ZSET (user -> active-until ms)
-- KEYS[3] seen       ZSET (user -> last heartbeat ms)
-- ARGV[1] user id
-- ARGV[2] token sequence number
-- Returns the active-until time in ms, or 0 when the token is not active.
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then
  return 0
end
local active_until = tonumber(redis.call('ZSCORE', KEYS[2], ARGV[1]))
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
if not active_until or active_until <= now then
  return 0
end
redis.call('ZADD', KEYS[3], 'XX', now, ARGV[1])
return active_until
