-- Taking a seat as one server-side call. The hold is still decided by one
-- conditional UPDATE and its affected-row count, with the reservation row
-- written in the same transaction; doing it inside the server turns four
-- client round trips (BEGIN, UPDATE, INSERT, COMMIT), each of which wakes
-- a server thread, into one. Measured on two cores this is what separates
-- a hold from the bare UPDATE (see BENCHMARKS.md). The seat's row lock is
-- held only between the UPDATE and the COMMIT, with no network in between.
--
-- Returns one row: outcome ('HELD', 'TAKEN' or 'NO_SEAT') and the new
-- reservation id (0 unless HELD).
CREATE PROCEDURE hold_seat(
    IN p_seat_id BIGINT UNSIGNED,
    IN p_schedule_id BIGINT UNSIGNED,
    IN p_user_id VARBINARY(64),
    IN p_price BIGINT,
    IN p_expires_at DATETIME(3)
)
SQL SECURITY INVOKER
BEGIN
    DECLARE EXIT HANDLER FOR SQLEXCEPTION
    BEGIN
        ROLLBACK;
        RESIGNAL;
    END;

    START TRANSACTION;
    UPDATE seats SET status = 'HELD', holder_user_id = p_user_id, hold_expires_at = p_expires_at
     WHERE id = p_seat_id AND schedule_id = p_schedule_id
       AND (status = 'AVAILABLE' OR (status = 'HELD' AND hold_expires_at < NOW(3)));
    IF ROW_COUNT() = 1 THEN
        INSERT INTO reservations (user_id, schedule_id, seat_id, price, status, hold_expires_at)
        VALUES (p_user_id, p_schedule_id, p_seat_id, p_price, 'HELD', p_expires_at);
        SELECT 'HELD' AS outcome, LAST_INSERT_ID() AS reservation_id;
        COMMIT;
    ELSE
        ROLLBACK;
        SELECT IF(EXISTS (SELECT 1 FROM seats WHERE id = p_seat_id AND schedule_id = p_schedule_id),
                  'TAKEN', 'NO_SEAT') AS outcome,
               CAST(0 AS UNSIGNED) AS reservation_id;
    END IF;
END;
