-- Takes or renews the right to run one queue's scheduler ticks.
--
-- KEYS[1] lease STRING
-- ARGV[1] owner id (one per scheduler instance), ARGV[2] lease length ms
-- Returns 1 when the caller holds the lease after this call, else 0.
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
