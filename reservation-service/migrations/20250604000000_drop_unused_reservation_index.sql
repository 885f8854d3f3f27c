-- No query looks reservations up by user alone (every read is by id, with
-- the owner checked on the row), and every hold pays for maintaining this
-- index on insert.
DROP INDEX idx_reservations_user ON reservations;
