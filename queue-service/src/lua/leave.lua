-- Gives up a token's place: its spot in line, or its active slot.
--
-- KEYS[1] waiting ZSET, KEYS[2] seen ZSET, KEYS[3] active ZSET,
-- KEYS[4] active_seq HASH, KEYS[5] state HASH
-- ARGV[1] user id, ARGV[2] token sequence number
-- Returns 1 when a place was given up, 0 when the token held none.
local user = ARGV[1]
local seq = tonumber(ARGV[2])
if tonumber(redis.call('ZSCORE', KEYS[1], user)) == seq then
  redis.call('ZREM', KEYS[1], user)
elseif tonumber(redis.call('HGET', KEYS[4], user)) == seq then
  redis.call('HDEL', KEYS[4], user)
  redis.call('ZREM', KEYS[3], user)
else
  return 0
end
redis.call('ZREM', KEYS[2], user)
redis.call('HINCRBY', KEYS[5], 'left_total', 1)
return 1
