-- Reads a queue's size and settings (no writes).
--
-- KEYS[1] config HASH, KEYS[2] state HASH, KEYS[3] line ZSET
-- Returns {max_active, admit_per_second, waiting, active}, or {} if the
-- queue is not configured.
local cfg = redis.call('HMGET', KEYS[1], 'max_active', 'admit_per_second')
if not cfg[1] then
  return {}
end
local active = active_count(KEYS[3], admitted_watermark(KEYS[2]))
return {tonumber(cfg[1]), tonumber(cfg[2]), redis.call('ZCARD', KEYS[3]) - active, active}
