-- A hold is identified on its seat by (holder_user_id, hold_expires_at)
-- instead of a reservation id, so taking a seat no longer needs a second
-- write to the seat row after the reservation is inserted: one conditional
-- UPDATE and one INSERT. The pair is unique per hold: the same user can
-- only take the same seat again after the earlier hold ran out, and the new
-- hold then ends later. Separate statements: MySQL refuses to drop a column
-- that a CHECK constraint still names.
ALTER TABLE seats DROP CONSTRAINT chk_seats_available_is_free;
ALTER TABLE seats DROP COLUMN reservation_id;
ALTER TABLE seats ADD CONSTRAINT chk_seats_available_is_free CHECK (
    status <> 'AVAILABLE' OR (holder_user_id IS NULL AND hold_expires_at IS NULL)
);
