-- Completes an active token after its purchase: frees the slot at once so
-- the next tick can admit the next user in line.
--
-- KEYS[1] state HASH, KEYS[2] line ZSET, KEYS[3] seen ZSET
-- ARGV[1] user id, ARGV[2] token sequence number
-- Returns 1 when the slot was freed, 0 when the token held none.
local seq = tonumber(ARGV[2])
if tonumber(redis.call('ZSCORE', KEYS[2], ARGV[1])) ~= seq or seq > admitted_watermark(KEYS[1]) then
  return 0
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HINCRBY', KEYS[1], 'completed_total', 1)
return 1
