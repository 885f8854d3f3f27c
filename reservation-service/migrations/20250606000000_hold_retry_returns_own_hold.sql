-- A retried hold (a double click, or a client whose first answer was lost)
-- finds the seat held by its own caller. It used to get 409 like anyone
-- else, leaving the caller without the reservation id needed to pay or
-- release, and the seat blocked until the hold ran out. It now gets the
-- running hold back, unchanged ('YOURS'). The decision is still the one
-- conditional UPDATE; only the answer for a seat it did not take is richer,
-- and it costs the losers of a contended seat no more than before: one
-- read by primary key, plus the seat's reservations by index when the seat
-- is the caller's.
--
-- Returns one row: outcome ('HELD', 'YOURS', 'TAKEN' or 'NO_SEAT'), the
-- reservation id (0 for TAKEN and NO_SEAT) and when that hold runs out
-- (NULL for TAKEN and NO_SEAT).
DROP PROCEDURE IF EXISTS hold_seat;

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
        SELECT 'HELD' AS outcome, LAST_INSERT_ID() AS reservation_id,
               p_expires_at AS hold_expires_at;
        COMMIT;
    ELSE
        ROLLBACK;
        -- "Running" as payment sees it: a hold ending exactly now is
        -- neither free (the UPDATE above) nor the caller's any more.
        SELECT CASE
                   WHEN seat.id IS NULL THEN 'NO_SEAT'
                   WHEN own.id IS NOT NULL THEN 'YOURS'
                   ELSE 'TAKEN'
               END AS outcome,
               CAST(COALESCE(own.id, 0) AS UNSIGNED) AS reservation_id,
               own.hold_expires_at AS hold_expires_at
          FROM (SELECT 1 AS one) AS probe
          LEFT JOIN seats AS seat
                 ON seat.id = p_seat_id AND seat.schedule_id = p_schedule_id
          LEFT JOIN reservations AS own
                 ON seat.status = 'HELD'
                AND seat.holder_user_id = p_user_id
                AND seat.hold_expires_at > NOW(3)
                AND own.seat_id = seat.id
                AND own.user_id = p_user_id
                AND own.hold_expires_at = seat.hold_expires_at
                AND own.status = 'HELD'
         LIMIT 1;
    END IF;
END;
