-- Helpers prepended to every queue script (Lua scripts cannot include).
--
-- The line is one ZSET of user -> issue sequence number. Admission is a
-- watermark: every user still in the line whose sequence number is at most
-- state.admitted is active. Promoting k users only moves the watermark, so
-- it costs O(log n) whatever k is. Each move is recorded in the batches ZSET
-- (score = the new watermark, member = "<promoted at ms>:<watermark>"),
-- which gives every active user the time their window opened.

local function now_ms()
  local t = redis.call('TIME')
  return t[1] * 1000 + math.floor(t[2] / 1000)
end

local function admitted_watermark(state_key)
  return tonumber(redis.call('HGET', state_key, 'admitted')) or 0
end

-- Active-until time in ms of an admitted sequence number, or nil once its
-- batch was swept.
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
