-- Creates or updates a queue's settings.
--
-- KEYS[1] config HASH
-- ARGV: field, value, field, value, ... (every setting, as QueueConfig writes them)
-- Returns 1 when the queue was created, 0 when it already existed.
local created = redis.call('EXISTS', KEYS[1]) == 0
redis.call('HSET', KEYS[1], unpack(ARGV))
if created then return 1 end
return 0
