-- Gives the seat-feed lease up at shutdown, so another replica takes over
-- at its next round rather than when the lease runs out.
--
-- KEYS[1] lease STRING (`origin:seats-lease`)
-- ARGV[1] owner id
-- Returns 1 when the caller held the lease (now released), else 0.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
