-- The seat feed counts, every half second, the seats of every schedule
-- whose booking window is open. Schedules whose window has closed pile up
-- with every sale ever held; this index lets that statement start from the
-- ones still to close instead of reading them all.
ALTER TABLE schedules ADD KEY idx_schedules_booking_closes (booking_closes_at);
