-- One scheduler step for one queue: evict the silent, sweep admission
-- batches whose window ran out, then admit from the head of the line within
-- both the free slots and a token bucket refilled at admit_per_second.
-- Admitting k users moves the watermark once: O(log n) whatever k is.
-- Evictions cost O(log n) per user removed and are capped per step. Every
-- bound is enforced here, atomically, so any number of concurrent tickers
-- is safe.
--
-- Before any of that, the step credits an outage: when the previous step
-- ran longer ago than the outage threshold, the queue was not being served
-- in between (Redis was unreachable, or no scheduler ran), so that time
-- beyond one period is added to state.paused_ms and queue time (see
-- prelude.lua) stands still over it.
--
-- A queue with an opening admits nobody before it. The first step at or
-- after it opens the queue: it records the time and the number of draw
-- entrants, O(1) whatever their number, since the line is already in draw
-- order (see prelude.lua). Nobody is evicted as silent until the pre-queue
-- pages, told to come back within the spread window after the opening
-- (stretched under a poll budget, see prequeue_window), have had their time.
--
-- Admission also follows the sale and the origin. With a seat feed, active
-- users never exceed ceil(seats_left x admit_per_seat) (no seat left:
-- nobody new). The rate is the effective rate, which the origin's health
-- drives: halved at most once a second while the origin is unhealthy, down
-- to origin_min_admit_fraction of admit_per_second; raised by a fifteenth
-- of admit_per_second a second while it is healthy; left alone while no
-- replica reports.
--
-- KEYS[1] config HASH, KEYS[2] state HASH, KEYS[3] line ZSET (user -> seq),
-- KEYS[4] seen ZSET (user -> last heartbeat, queue ms), KEYS[5] batches ZSET,
-- KEYS[6] seats HASH, KEYS[7] draw ZSET, KEYS[8] estimates ZSET (a sample of
-- waiting users: seq -> "user joined_ms estimate_s")
-- ARGV[1] most users evicted per reason in this step
-- ARGV[2] time constant of the slot-turnover smoothing, ms
-- ARGV[3] the scheduler's period, ms; ARGV[4] the outage threshold, ms
-- ARGV[5] the origin's health against this queue's thresholds: 0 unknown,
--         1 healthy, 2 unhealthy
-- Returns {promoted, evicted_silent_waiting, evicted_silent_active,
--          expired_active, waiting, active, credited_ms, effective_admit_milli,
--          opened (1 when this step opened the queue), draw_entrants (-1
--          unless it did), then for each sampled user this step admitted,
--          the wait they had minus the estimate they were given at join,
--          in ms}, or {-1} if the queue is not configured.

-- Lua's unpack() handles at most ~8000 values; variadic calls go in chunks.
local CHUNK = 1000

local function remove_all(key, items)
  for i = 1, #items, CHUNK do
    redis.call('ZREM', key, unpack(items, i, math.min(i + CHUNK - 1, #items)))
  end
end

local cfg = redis.call('HMGET', KEYS[1],
  'max_active', 'admit_per_second', 'active_ttl_ms', 'heartbeat_ttl_ms', 'opens_at_ms',
  'prequeue_spread_ms', 'admit_per_seat', 'origin_min_admit_fraction')
if not cfg[1] then
  return {-1}
end
local max_active = tonumber(cfg[1])
local admit = tonumber(cfg[2])
local active_ttl = tonumber(cfg[3])
local heartbeat_ttl = tonumber(cfg[4])
local limit = tonumber(ARGV[1])
local smoothing_ms = tonumber(ARGV[2])
local period_ms = tonumber(ARGV[3])
local outage_ms = tonumber(ARGV[4])
local verdict = tonumber(ARGV[5])
local opens_at = tonumber(cfg[5]) or 0
local spread = tonumber(cfg[6]) or 0
local admit_per_seat = tonumber(cfg[7]) or 2
local min_fraction = tonumber(cfg[8]) or 0.1
local wall, _, paused = clocks(KEYS[2])
local last_tick = tonumber(redis.call('HGET', KEYS[2], 'last_tick_ms'))
local credited = 0
if last_tick and wall - last_tick > outage_ms then
  credited = wall - last_tick - period_ms
  paused = paused + credited
  redis.call('HSET', KEYS[2], 'paused_ms', paused)
end
redis.call('HSET', KEYS[2], 'last_tick_ms', wall)
-- Everything below is on queue time.
local now = wall - paused
local admitted = admitted_watermark(KEYS[2])

-- 0. The opening.
local closed, opened, entrants = false, 0, -1
if before_opening(opens_at, KEYS[2]) then
  if wall < opens_at then
    closed = true
  else
    entrants = redis.call('ZCARD', KEYS[7])
    redis.call('HSET', KEYS[2], 'opened_ms', wall, 'draw_entrants', entrants)
    opened = 1
  end
end
local opened_ms = tonumber(redis.call('HGET', KEYS[2], 'opened_ms'))
local window = math.max(spread, tonumber(redis.call('HGET', KEYS[2], 'prequeue_window_ms')) or 0)
local grace = closed or (opened_ms and wall < opened_ms + window)

-- 1. Users silent for longer than the heartbeat TTL, waiting or active.
local silent = {}
if not grace then
  silent = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', '(' .. (now - heartbeat_ttl),
    'LIMIT', 0, limit)
end
local silent_waiting, silent_active = 0, 0
if #silent > 0 then
  local active_before = active_count(KEYS[3], admitted)
  local line_before = redis.call('ZCARD', KEYS[3])
  remove_all(KEYS[4], silent)
  remove_all(KEYS[3], silent)
  silent_active = active_before - active_count(KEYS[3], admitted)
  silent_waiting = line_before - redis.call('ZCARD', KEYS[3]) - silent_active
end

-- 2. Admission batches whose active window ran out, oldest first.
local expired = 0
while expired < limit do
  local oldest = redis.call('ZRANGE', KEYS[5], 0, 0, 'WITHSCORES')
  if #oldest == 0 or tonumber(string.match(oldest[1], '^(%d+):')) + active_ttl > now then
    break
  end
  local users = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', oldest[2], 'LIMIT', 0, limit - expired)
  remove_all(KEYS[4], users)
  remove_all(KEYS[3], users)
  expired = expired + #users
  if expired >= limit then
    break -- the rest of this batch goes next step
  end
  redis.call('ZREM', KEYS[5], oldest[1])
end

-- 3. Admission. The bucket holds at most one second's worth of admissions
-- (and at least one admission).
local state = redis.call('HMGET', KEYS[2], 'bucket', 'bucket_ms',
  'occupied', 'occupied_ms', 'freed', 'exposure', 'effective_admit', 'slowed_ms')
local last_ms = tonumber(state[2]) or now
local floor_rate = admit * min_fraction
local rate = math.min(admit, math.max(floor_rate, tonumber(state[7]) or admit))
if verdict == 2 then
  if wall - (tonumber(state[8]) or 0) >= 1000 then
    rate = math.max(floor_rate, rate / 2)
    redis.call('HSET', KEYS[2], 'slowed_ms', wall)
  end
elseif verdict == 1 and now > last_ms then
  rate = math.min(admit, rate + admit / 15 * math.min(now - last_ms, 2000) / 1000)
end
local capacity = math.max(rate, 1)
local bucket = math.min(capacity, tonumber(state[1]) or capacity)
if now > last_ms then
  bucket = math.min(capacity, bucket + (now - last_ms) * rate / 1000)
end
local active = active_count(KEYS[3], admitted)
local waiting = redis.call('ZCARD', KEYS[3]) - active
local room = max_active - active
local seats_left = seat_counts(KEYS[6], KEYS[1])
if seats_left >= 0 then
  room = math.min(room, math.ceil(seats_left * admit_per_seat) - active)
end
if closed then
  room = 0
end
local promoted = math.max(0, math.min(math.floor(bucket), room, waiting))
local estimate_errors = {}
if promoted > 0 then
  -- Ranks below `active` are the active users; the next `promoted` follow.
  local last = redis.call('ZRANGE', KEYS[3], active + promoted - 1, active + promoted - 1, 'WITHSCORES')
  local before = admitted
  admitted = tonumber(last[2])
  -- The sampled users among them: how honest was the estimate they got?
  -- (Samples of users who left before their turn are dropped unread.)
  local range_from, range_to = '(' .. string.format('%d', before), string.format('%d', admitted)
  local samples = redis.call('ZRANGEBYSCORE', KEYS[8], range_from, range_to, 'WITHSCORES')
  for i = 1, #samples, 2 do
    local user, joined, estimate = string.match(samples[i], '^(%S+) (%d+) (%d+)$')
    if user and tonumber(redis.call('ZSCORE', KEYS[3], user)) == tonumber(samples[i + 1]) then
      estimate_errors[#estimate_errors + 1] = wall - tonumber(joined) - tonumber(estimate) * 1000
    end
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[8], range_from, range_to)
  redis.call('HSET', KEYS[2], 'admitted', admitted)
  redis.call('ZADD', KEYS[5], admitted, string.format('%d:%d', now, admitted))
  bucket = bucket - promoted
end

-- 4. Slot turnover, which the wait estimate rests on: the share of held
-- slots handed back per second (by paying, leaving, going silent or running
-- out of time). Once every slot is taken the line moves at max_active x
-- turnover. Promotions are no measure of that: while slots are free they
-- follow the arrivals (a line that keeps draining) or fill the free slots
-- in one burst, and neither says how fast a full line will move.
-- Kept as two exponentially decayed sums since the previous step, slots
-- freed and slot-seconds held, so a step where few slots were held weighs
-- little and nothing is lost however often steps run. A fixed prior of one
-- second with every slot held and every window used to the end (the
-- slowest turnover the settings allow, 1 / active_ttl) keeps the first
-- samples from swinging it, and is all that is left after a long quiet.
local freed, exposure = 0, 0
local occupied_ms = tonumber(state[4])
if occupied_ms then
  local occupied = tonumber(state[3])
  local dt = math.max(0, now - occupied_ms)
  local decay = math.exp(-dt / smoothing_ms)
  freed = tonumber(state[5]) * decay + math.max(0, occupied - active)
  exposure = tonumber(state[6]) * decay + occupied * dt / 1000
end
local prior = max_active
local turnover = (freed + prior * 1000 / active_ttl) / (exposure + prior)
redis.call('HSET', KEYS[2], 'bucket', bucket, 'bucket_ms', now, 'effective_admit', rate,
  'occupied', active + promoted, 'occupied_ms', now,
  'freed', freed, 'exposure', exposure, 'turnover', turnover)
if promoted > 0 then
  redis.call('HINCRBY', KEYS[2], 'promoted_total', promoted)
end
local evicted = silent_waiting + silent_active + expired
if evicted > 0 then
  redis.call('HINCRBY', KEYS[2], 'evicted_total', evicted)
end
local reply = {promoted, silent_waiting, silent_active, expired, waiting - promoted,
  active + promoted, credited, math.floor(rate * 1000), opened, entrants}
for _, error_ms in ipairs(estimate_errors) do
  reply[#reply + 1] = error_ms
end
return reply
