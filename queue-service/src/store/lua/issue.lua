-- Issues a place at the back of the line, or returns the caller's current
-- place (waiting or active) so that one user never holds two. A new place
-- must first get past, in this order and without side effects until all
-- pass: the sale not being sold out, the line's size cap (max_waiting), the
-- issuance limits per client address and per user (GCRA, see below), and
-- the proof of work when the queue asks for one (each solved challenge is
-- accepted once). Before a queue's opening a new place is scored by the
-- caller's draw key (see prelude.lua), computed by the caller from the
-- draw seed it knows by its commitment; a caller with a stale seed is told
-- so and retries with the current one.
--
-- KEYS[1] config HASH, KEYS[2] state HASH, KEYS[3] line ZSET (user -> seq),
-- KEYS[4] seen ZSET (user -> last heartbeat, queue ms), KEYS[5] batches ZSET,
-- KEYS[6] seats HASH, KEYS[7] the client address's issuance limit, KEYS[8]
-- the user's issuance limit, KEYS[9] the presented challenge's single-use
-- marker, KEYS[10] draw ZSET (user -> draw score, entrants only)
-- ARGV[1] user id, ARGV[2] difficulty in bits of the verified challenge the
-- caller presented (0: none), ARGV[3] ms until that challenge expires,
-- ARGV[4] the draw commitment the caller's seed matches ('-': none known),
-- ARGV[5] the caller's draw score under that seed
-- Returns one of
--   {0}                              queue not configured
--   {outcome, seq, position, active_until_ms, turnover_micro, heartbeat_ttl_ms,
--    admit_milli, max_active, active_ttl_ms, free_slots, -1, min_poll_percent,
--    seats_left, seats_held, opens_at_ms, spread_ms, now_ms, waiting, poll_budget}
--     outcome: 1 already waiting, 2 already active, 3 newly issued, 5 newly
--     issued because the caller's active window had run out before the
--     scheduler swept it; turnover_micro: how fast slots come free with every
--     slot taken, in millionths of a user per second (see tick.lua), -1 until
--     measured; admit_milli: the admission rate applied now, in thousandths
--     of a user per second; free_slots: active slots free right now;
--     active_until_ms is wall time; seats_left and seats_held: -1 without a
--     seat feed; opens_at_ms: the opening while it is still to come (no
--     position is given then), else 0; spread_ms: the window after the
--     opening over which the pre-queue comes back (see prequeue_window);
--     now_ms: Redis's wall clock;
--     waiting: users waiting in line; poll_budget: config poll_budget (0: none)
--   {6}                              the line is full (max_waiting)
--   {7, retry_after_ms, limit}       rate limited; limit 1 = address, 2 = user
--   {8, difficulty_bits}             a proof of work of this difficulty is needed
--   {9}                              the presented challenge was already used
--   {10}                             the caller's draw seed is not the queue's
--   {12}                             sold out: no seat left and none held
local cfg = redis.call('HMGET', KEYS[1],
  'admit_per_second', 'heartbeat_ttl_ms', 'active_ttl_ms', 'max_active', 'max_waiting',
  'issue_address_per_minute', 'issue_address_burst', 'issue_user_per_minute',
  'issue_user_burst', 'pow_bits', 'min_poll_percent', 'opens_at_ms', 'prequeue_spread_ms',
  'poll_budget')
if not cfg[1] then
  return {0}
end
local user = ARGV[1]
local now, now_qt, paused = clocks(KEYS[2])
local active_ttl = tonumber(cfg[3])
local max_active = tonumber(cfg[4])
local turnover = tonumber(redis.call('HGET', KEYS[2], 'turnover'))
local turnover_micro = turnover and math.floor(max_active * turnover * 1000000) or -1
local admitted = admitted_watermark(KEYS[2])
local min_poll_percent = tonumber(cfg[11]) or 0
local opens_at = tonumber(cfg[12]) or 0
local prequeue = before_opening(opens_at, KEYS[2])
local seats_left, seats_held = seat_counts(KEYS[6], KEYS[1])
local admit_milli = math.floor(effective_admit(KEYS[2], tonumber(cfg[1])) * 1000)
local heartbeat_ttl = tonumber(cfg[2])
local budget = tonumber(cfg[14]) or 0

-- `active`: users holding a slot. Free slots only matter to the estimate
-- of a waiting user.
local function standing(outcome, seq, position, until_ms, active)
  local free_slots = 0
  if outcome ~= 2 then
    free_slots = math.max(0, max_active - active)
  end
  local waiting = redis.call('ZCARD', KEYS[3]) - active
  local spread = tonumber(cfg[13]) or 0
  if prequeue then
    spread = prequeue_window(KEYS[2], spread, waiting, budget)
  end
  return {outcome, seq, position, until_ms, turnover_micro, heartbeat_ttl,
    admit_milli, max_active, active_ttl, free_slots, -1,
    min_poll_percent, seats_left, seats_held, prequeue and opens_at or 0,
    spread, now, waiting, budget}
end

-- A waiting user's place, recorded as a sign of life (see seen_waiting);
-- none before the opening, where the draw's order stays secret.
local function waiting_standing(outcome, seq, active, flag)
  local position = 0
  if not prequeue then
    position = redis.call('ZRANK', KEYS[3], user) + 1 - active
  end
  seen_waiting(KEYS[4], user, now_qt, flag, position, redis.call('ZCARD', KEYS[3]) - active,
    budget, heartbeat_ttl)
  return standing(outcome, seq, position, 0, active)
end

local seq = tonumber(redis.call('ZSCORE', KEYS[3], user))
if seq and seq > admitted then
  -- Asking again is a sign of life.
  return waiting_standing(1, seq, active_count(KEYS[3], admitted), 'XX')
end
if seq then
  local until_qt = active_until(KEYS[5], active_ttl, seq)
  if until_qt and until_qt > now_qt then
    redis.call('ZADD', KEYS[4], 'XX', now_qt, user)
    return standing(2, seq, 0, until_qt + paused, active_count(KEYS[3], admitted))
  end
end

-- A new place. Nothing below writes until every check has passed.
if seats_left == 0 and seats_held == 0 then
  return {12}
end
local draw_commitment = redis.call('HGET', KEYS[2], 'draw_commitment')
local in_draw = prequeue and now < opens_at
if in_draw and ARGV[4] ~= draw_commitment then
  return {10}
end
local active = active_count(KEYS[3], admitted)
local max_waiting = tonumber(cfg[5]) or 0
if max_waiting > 0 and redis.call('ZCARD', KEYS[3]) - active >= max_waiting then
  return {6}
end

-- GCRA: a limit of `per_minute` with bursts of `burst` is a theoretical
-- arrival time (TAT) that each admitted request pushes one interval into
-- the future; a request is refused while the TAT is more than `burst`
-- intervals ahead. One number per limited key, expiring once caught up.
local function gcra(key, per_minute, burst)
  if per_minute <= 0 then
    return true, nil, 0
  end
  local interval = 60000 / per_minute
  local tat = math.max(tonumber(redis.call('GET', key)) or now, now) + interval
  local excess = tat - now - interval * math.max(burst, 1)
  if excess > 0 then
    return false, nil, math.ceil(excess)
  end
  return true, tat, 0
end
local address_ok, address_tat, address_wait = gcra(KEYS[7], tonumber(cfg[6]) or 0, tonumber(cfg[7]) or 1)
local user_ok, user_tat, user_wait = gcra(KEYS[8], tonumber(cfg[8]) or 0, tonumber(cfg[9]) or 1)
if not address_ok then
  return {7, address_wait, 1}
end
if not user_ok then
  return {7, user_wait, 2}
end

local pow_bits = tonumber(cfg[10]) or 0
if pow_bits > 0 then
  if tonumber(ARGV[2]) < pow_bits then
    return {8, pow_bits}
  end
  if not redis.call('SET', KEYS[9], 1, 'NX', 'PX', math.max(1, tonumber(ARGV[3]))) then
    return {9}
  end
end
if address_tat then
  redis.call('SET', KEYS[7], address_tat, 'PX', math.ceil(address_tat - now))
end
if user_tat then
  redis.call('SET', KEYS[8], user_tat, 'PX', math.ceil(user_tat - now))
end

local outcome = 3
if seq then
  -- The active window ran out before the scheduler swept it: an expiry,
  -- counted as the sweep would have counted it. The user starts over.
  redis.call('ZREM', KEYS[3], user)
  redis.call('HINCRBY', KEYS[2], 'evicted_total', 1)
  active = active_count(KEYS[3], admitted)
  outcome = 5
end
if in_draw then
  seq = tonumber(ARGV[5])
  redis.call('ZADD', KEYS[10], seq, user)
else
  seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
  if draw_commitment then
    seq = LATE + seq
  end
end
redis.call('ZADD', KEYS[3], seq, user)
return waiting_standing(outcome, seq, active, nil)
