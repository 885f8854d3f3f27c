-- Creates or updates a queue's admission settings.
--
-- KEYS[1] config HASH
-- ARGV[1] max_active, ARGV[2] admit_per_second, ARGV[3] active_ttl_ms, ARGV[4] heartbeat_ttl_ms
-- Returns 1 when the queue was created, 0 when it already existed.
local created = redis.call('EXISTS', KEYS[1]) == 0
redis.call('HSET', KEYS[1],
  'max_active', ARGV[1],
  'admit_per_second', ARGV[2],
  'active_ttl_ms', ARGV[3],
  'heartbeat_ttl_ms', ARGV[4])
if created then return 1 end
return 0
