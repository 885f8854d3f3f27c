-- Completes an active token after its purchase: frees the slot at once so
-- the next tick can admit the next user in line.
--
-- KEYS[1] active_seq HASH, KEYS[2] active ZSET, KEYS[3] seen ZSET, KEYS[4] state HASH
-- ARGV[1] user id
-- ARGV[2] token sequence number
-- Returns 1 when the slot was freed, 0 when the token held none.
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then
  return 0
end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HINCRBY', KEYS[4], 'completed_total', 1)
return 1
