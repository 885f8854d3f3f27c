-- Deletes a queue's state. Its tokens then answer 410: every script treats
-- a queue without settings as gone. Rate-limit and proof-of-work keys are
-- left to expire on their own (they all carry a TTL).
--
-- KEYS: config, state, line, seen, batches, lease
-- Returns 1 when the queue existed, 0 otherwise.
local existed = redis.call('EXISTS', KEYS[1])
redis.call('DEL', unpack(KEYS))
return existed
