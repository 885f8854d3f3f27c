-- Takes or renews the right to write every queue's seat counts.
--
-- KEYS[1] lease STRING (`origin:seats-lease`)
-- ARGV[1] owner id (one per reservation replica), ARGV[2] lease length ms
-- Returns the server clock in Unix ms when the caller holds the lease after
-- this call (the feed stamps its counts with it, so every replica writes on
-- one clock), else 0.
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
elseif holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
else
  return 0
end
local now = redis.call('TIME')
return tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
