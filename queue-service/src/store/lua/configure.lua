-- Creates or updates a queue's settings. A queue that gets an opening for
-- the first time also gets its draw seed and the seed's commitment, kept
-- from then on: the commitment is published before anyone joins, so the
-- seed must never change afterwards.
--
-- KEYS[1] config HASH, KEYS[2] state HASH
-- ARGV[1] a fresh draw seed (hex), ARGV[2] its commitment (hex SHA-256),
-- both '-' when the queue has no opening; ARGV[3..]: field, value, field,
-- value, ... (every setting, as QueueConfig writes them)
-- Returns 1 when the queue was created, 0 when it already existed.
local created = redis.call('EXISTS', KEYS[1]) == 0
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
if ARGV[1] ~= '-' and not redis.call('HGET', KEYS[2], 'draw_commitment') then
  redis.call('HSET', KEYS[2], 'draw_seed', ARGV[1], 'draw_commitment', ARGV[2])
end
if created then return 1 end
return 0
