-- Records a sign of life from a token and reports where it stands.
--
-- KEYS[1] config HASH, KEYS[2] state HASH, KEYS[3] line ZSET, KEYS[4] seen ZSET,
-- KEYS[5] batches ZSET, KEYS[6] seats HASH
-- ARGV[1] user id, ARGV[2] token sequence number
-- Returns {outcome, seq, position, active_until_ms, turnover_micro, heartbeat_ttl_ms,
--          admit_milli, max_active, active_ttl_ms, free_slots,
--          since_last_poll_ms, min_poll_percent, seats_left, seats_held,
--          opens_at_ms, spread_ms, now_ms, waiting, poll_budget}
--   outcome: 0 queue not configured (deleted, or lost with Redis's data),
--            1 waiting, 2 active, 4 the token has left the queue
--   turnover_micro, free_slots, admit_milli, seats_*, opens_at_ms, spread_ms,
--            now_ms: as issue.lua returns them
--   since_last_poll_ms: queue time since this user's previous sign of life
--            (-1 when active or unknown); the caller refuses polls that come
--            much sooner than it advised
--   waiting: users waiting in line; poll_budget: config poll_budget (0: none)
local cfg = redis.call('HMGET', KEYS[1],
  'admit_per_second', 'heartbeat_ttl_ms', 'active_ttl_ms', 'max_active', 'min_poll_percent',
  'opens_at_ms', 'prequeue_spread_ms', 'poll_budget')
if not cfg[1] then
  return {0}
end
local user = ARGV[1]
local seq = tonumber(ARGV[2])
if tonumber(redis.call('ZSCORE', KEYS[3], user)) ~= seq then
  return {4}
end
local now, now_qt, paused = clocks(KEYS[2])
local admit_milli = math.floor(effective_admit(KEYS[2], tonumber(cfg[1])) * 1000)
local heartbeat_ttl = tonumber(cfg[2])
local active_ttl = tonumber(cfg[3])
local max_active = tonumber(cfg[4])
local min_poll_percent = tonumber(cfg[5]) or 0
local opens_at = tonumber(cfg[6]) or 0
local prequeue = before_opening(opens_at, KEYS[2])
local spread = tonumber(cfg[7]) or 0
local budget = tonumber(cfg[8]) or 0
local seats_left, seats_held = seat_counts(KEYS[6], KEYS[1])
local admitted = admitted_watermark(KEYS[2])
local active = active_count(KEYS[3], admitted)
local waiting = redis.call('ZCARD', KEYS[3]) - active
if seq > admitted then
  local previous = tonumber(redis.call('ZSCORE', KEYS[4], user))
  local turnover = tonumber(redis.call('HGET', KEYS[2], 'turnover'))
  local turnover_micro = turnover and math.floor(max_active * turnover * 1000000) or -1
  local position = 0
  if prequeue then
    spread = prequeue_window(KEYS[2], spread, waiting, budget)
  else
    position = redis.call('ZRANK', KEYS[3], user) + 1 - active
  end
  seen_waiting(KEYS[4], user, now_qt, 'XX', position, waiting, budget, heartbeat_ttl)
  local since_last = previous and math.max(0, now_qt - last_seen(previous)) or -1
  return {1, seq, position, 0, turnover_micro, heartbeat_ttl,
    admit_milli, max_active, active_ttl, math.max(0, max_active - active), since_last,
    min_poll_percent, seats_left, seats_held, prequeue and opens_at or 0, spread, now,
    waiting, budget}
end
local until_qt = active_until(KEYS[5], active_ttl, seq)
if until_qt and until_qt > now_qt then
  redis.call('ZADD', KEYS[4], 'XX', now_qt, user)
  return {2, seq, 0, until_qt + paused, -1, heartbeat_ttl, admit_milli, max_active, active_ttl,
    0, -1, min_poll_percent, seats_left, seats_held, 0, spread, now, waiting, budget}
end
return {4}
