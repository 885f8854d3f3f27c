-- Helpers prepended to every queue script (Lua scripts cannot include).
--
-- The line is one ZSET of user -> issue sequence number. Admission is a
-- watermark: every user still in the line whose sequence number is at most
-- state.admitted is active. Promoting k users only moves the watermark, so
-- it costs O(log n) whatever k is. Each move is recorded in the batches ZSET
-- (score = the new watermark, member = "<promoted at, queue ms>:<watermark>"),
-- which gives every active user the time their window opened.
--
-- Queue time. Silence and active windows are measured on the queue's own
-- clock: Redis's clock minus state.paused_ms, the time during which the
-- queue could not be served (Redis down, or no scheduler ticking), which
-- the tick credits when it finds a gap since the previous tick (see
-- tick.lua). Nobody's heartbeat can arrive while the queue is unreachable,
-- so that time never counts as their silence, and an active window stands
-- still while its holder could not book. Scores in `seen` and promotion
-- times in `batches` are queue times; only what a client is shown
-- (active_until) is converted back to wall time.

local function now_ms()
  local t = redis.call('TIME')
  return t[1] * 1000 + math.floor(t[2] / 1000)
end

-- Wall time, queue time and the credited pause, in ms.
local function clocks(state_key)
  local now = now_ms()
  local paused = tonumber(redis.call('HGET', state_key, 'paused_ms')) or 0
  return now, now - paused, paused
end

local function admitted_watermark(state_key)
  return tonumber(redis.call('HGET', state_key, 'admitted')) or 0
end

-- Active-until queue time in ms of an admitted sequence number, or nil once
-- its batch was swept.
local function active_until(batches_key, active_ttl_ms, seq)
  local batch = redis.call('ZRANGEBYSCORE', batches_key, seq, '+inf', 'LIMIT', 0, 1)[1]
  if not batch then
    return nil
  end
  return tonumber(string.match(batch, '^(%d+):')) + active_ttl_ms
end

-- Users ahead in line who are already active.
local function active_count(line_key, admitted)
  return redis.call('ZCOUNT', line_key, '-inf', admitted)
end

-- A queue with an opening (config opens_at_ms) has a draw: everyone who
-- joined before it is scored by their draw key, 1 + the first 52 bits of
-- HMAC-SHA256(seed, user id), and everyone after it by LATE + their issue
-- sequence number, so the whole draw stands ahead of the first later
-- joiner. Every score stays an exact integer in a double (below 2^53).
local LATE = 4503599627370496 -- 2^52

-- Whether the queue has an opening still to come (the scheduler's first
-- step at or after opens_at opens it and records state.opened_ms).
local function before_opening(opens_at_ms, state_key)
  return opens_at_ms > 0 and not redis.call('HGET', state_key, 'opened_ms')
end

-- The reservation service's seat counts for this queue, or -1, -1 when no
-- concert feeds it (or the feed stopped and its key expired), or when the
-- queue does not follow the seats (config admit_per_seat 0).
local function seat_counts(seats_key, config_key)
  if tonumber(redis.call('HGET', config_key, 'admit_per_seat')) == 0 then
    return -1, -1
  end
  local s = redis.call('HMGET', seats_key, 'left', 'held')
  if not s[1] then
    return -1, -1
  end
  return tonumber(s[1]), tonumber(s[2]) or 0
end

-- The admission rate the scheduler applies now (it slows down when the
-- origin is unhealthy; see tick.lua), in users per second.
local function effective_admit(state_key, admit)
  return tonumber(redis.call('HGET', state_key, 'effective_admit')) or admit
end
