-- Reads a queue's size, settings and sale (no writes).
--
-- KEYS[1] config HASH, KEYS[2] state HASH, KEYS[3] line ZSET, KEYS[4] seats HASH
-- Returns {max_active, admit_per_second, waiting, active, effective_admit_milli,
--          seats_left, seats_held, opens_at_ms, opened_ms, draw_entrants},
--          seats_* -1 without a seat feed, opens_at_ms 0 without an opening,
--          opened_ms 0 and draw_entrants -1 until it; or {} if the queue is
--          not configured.
local cfg = redis.call('HMGET', KEYS[1], 'max_active', 'admit_per_second', 'opens_at_ms')
if not cfg[1] then
  return {}
end
local active = active_count(KEYS[3], admitted_watermark(KEYS[2]))
local seats_left, seats_held = seat_counts(KEYS[4], KEYS[1])
local opening = redis.call('HMGET', KEYS[2], 'opened_ms', 'draw_entrants')
return {tonumber(cfg[1]), tonumber(cfg[2]), redis.call('ZCARD', KEYS[3]) - active, active,
  math.floor(effective_admit(KEYS[2], tonumber(cfg[2])) * 1000), seats_left, seats_held,
  tonumber(cfg[3]) or 0, tonumber(opening[1]) or 0, tonumber(opening[2]) or -1}
