-- A retried hold (a double click, or a client whose first answer was lost)
-- finds the seat held by its own caller. It used to get 409 like anyone
-- else, leaving the caller without the reservation id needed to pay or
-- release, and the seat blocked until the hold ran out. It now gets the
-- running hold back, unchanged ('YOURS'). The decision is still the one
-- conditional UPDATE; only the answer for a seat it did not take is richer,
-- and it costs the losers of a contended seat no more than before: one
-- read by primary key, plus the seat's reservations by index only when the
-- seat is the caller's. (A single join of both tables here answered 1,000
-- simultaneous holds of one seat in 318-381 ms against 314-340 ms before;
-- this form in 265-326 ms against 258-307 ms, within the noise.)
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
    DECLARE v_seats INT DEFAULT 0;
    DECLARE v_own_expiry DATETIME(3) DEFAULT NULL;
    DECLARE v_own_reservation BIGINT UNSIGNED DEFAULT NULL;
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
        -- One read by primary key, as before; the reservations are read
        -- only when the seat turns out to be the caller's. "Running" as
        -- payment sees it: a hold ending exactly now is neither free (the
        -- UPDATE above) nor the caller's any more.
        SELECT COUNT(*),
               MAX(IF(status = 'HELD' AND holder_user_id = p_user_id
                      AND hold_expires_at > NOW(3), hold_expires_at, NULL))
          INTO v_seats, v_own_expiry
          FROM seats
         WHERE id = p_seat_id AND schedule_id = p_schedule_id;
        IF v_own_expiry IS NOT NULL THEN
            SELECT MAX(id) INTO v_own_reservation
              FROM reservations
             WHERE seat_id = p_seat_id AND user_id = p_user_id
               AND hold_expires_at = v_own_expiry AND status = 'HELD';
        END IF;
        IF v_own_reservation IS NOT NULL THEN
            SELECT 'YOURS' AS outcome, v_own_reservation AS reservation_id,
                   v_own_expiry AS hold_expires_at;
        ELSE
            SELECT IF(v_seats = 0, 'NO_SEAT', 'TAKEN') AS outcome,
                   CAST(0 AS UNSIGNED) AS reservation_id,
                   CAST(NULL AS DATETIME(3)) AS hold_expires_at;
        END IF;
    END IF;
END;
