-- Gives up a token's place: its spot in line, or its active slot. Leaving
-- before the opening also leaves the draw (its record lists the entrants
-- who were still there when it was drawn).
--
-- KEYS[1] state HASH, KEYS[2] line ZSET, KEYS[3] seen ZSET, KEYS[4] draw ZSET
-- ARGV[1] user id, ARGV[2] token sequence number
-- Returns 1 when a place was given up, 0 when the token held none.
if tonumber(redis.call('ZSCORE', KEYS[2], ARGV[1])) ~= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
if not redis.call('HGET', KEYS[1], 'opened_ms') then
  redis.call('ZREM', KEYS[4], ARGV[1])
end
redis.call('HINCRBY', KEYS[1], 'left_total', 1)
return 1
