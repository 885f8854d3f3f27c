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

-- The poll budget (config poll_budget, B polls per second; 0: none). A
-- waiting user at position p of a line of N is advised to poll no more
-- often than every p x H(N) / B seconds, H(N) the N-th harmonic number, so
-- the whole line's polls sum to at most B whatever its size (the sum over p
-- of B / (p x H(N)) is B); capped at an hour. The queue service computes the
-- same interval (domain.rs, budget_poll_ms) and stretches it by up to 20 %
-- per user so a crowd does not poll in lockstep.
local EULER_GAMMA = 0.5772156649015329
local MAX_BUDGET_POLL_MS = 3600000
local BUDGET_SPREAD = 1.2
local function budget_poll_ms(position, waiting, budget)
  if budget <= 0 or position <= 0 then
    return 0
  end
  local n = math.max(waiting, position)
  local h = math.log(n) + EULER_GAMMA + 1 / (2 * n)
  return math.min(position * h * 1000 / budget, MAX_BUDGET_POLL_MS)
end

-- A silent user is evicted once their `seen` score is older than the
-- heartbeat TTL (tick.lua). A waiting user told to poll less often than a
-- third of the TTL gets a grace of three of their intervals instead: their
-- score is put ahead of the time of their poll by the difference (rounded
-- up to GRACE_UNIT_MS), and the number of units is kept in the score's
-- fraction (code / 1024: exact in a double while queue times stay below
-- 2^43 ms, the year 2248), so the time of the poll itself can be read back.
local GRACE_UNIT_MS = 16000
local GRACE_CODES = 1024

local function seen_score(now_qt, grace_ms, heartbeat_ttl)
  local code = math.min(GRACE_CODES - 1, math.max(0, math.ceil((grace_ms - heartbeat_ttl) / GRACE_UNIT_MS)))
  return now_qt + code * GRACE_UNIT_MS + code / GRACE_CODES
end

-- The queue time of a user's last sign of life, from their `seen` score.
local function last_seen(score)
  local whole = math.floor(score)
  local code = math.floor((score - whole) * GRACE_CODES + 0.5)
  return whole - code * GRACE_UNIT_MS
end

-- Records a waiting user's sign of life at queue time now_qt; `flag` is
-- 'XX' to only refresh a user already there. The grace: three of the
-- longest intervals the service may advise them, or the heartbeat TTL.
local function seen_waiting(seen_key, user, now_qt, flag, position, waiting, budget, heartbeat_ttl)
  local grace = 3 * BUDGET_SPREAD * budget_poll_ms(position, waiting, budget)
  local score = seen_score(now_qt, grace, heartbeat_ttl)
  if flag then
    redis.call('ZADD', seen_key, flag, score, user)
  else
    redis.call('ZADD', seen_key, score, user)
  end
end

-- The window after the opening over which the pre-queue comes back: the
-- configured spread, stretched under a poll budget so the whole pre-queue
-- comes back within it at one poll each. The longest window ever promised
-- is kept (state.prequeue_window_ms), and the tick keeps it free of
-- evictions, so nobody told to come back late in it is evicted for it.
local function prequeue_window(state_key, spread, waiting, budget)
  local promised = tonumber(redis.call('HGET', state_key, 'prequeue_window_ms')) or 0
  if budget > 0 then
    local wanted = math.floor(waiting * 1000 / budget)
    if wanted > promised then
      redis.call('HSET', state_key, 'prequeue_window_ms', wanted)
      promised = wanted
    end
  end
  return math.max(spread, promised)
end
