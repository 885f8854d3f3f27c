-- Reservation schema. Portable between MySQL 8.x and MariaDB 10.11: no
-- RETURNING, no JSON column type (MySQL's is binary), DATETIME(3) in UTC
-- (every connection sets time_zone = '+00:00').
--
-- Ids that come from outside (user ids, queue ids, idempotency keys) are
-- VARBINARY: compared byte for byte, so `Alice` and `alice` never share a
-- balance (a case-insensitive collation would merge them). They are ASCII
-- by validation; reads that need them as text use CONVERT(... USING utf8mb4).
-- Constraints are the second line of defence behind the conditional
-- statements in the code: one payment per reservation, one ledger row per
-- idempotency key, never a negative balance, never an AVAILABLE seat with a
-- holder.

CREATE TABLE concerts (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    title       VARCHAR(200) NOT NULL,
    queue_id    VARBINARY(64) NOT NULL,
    created_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE schedules (
    id                 BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    concert_id         BIGINT UNSIGNED NOT NULL,
    starts_at          DATETIME(3) NOT NULL,
    booking_opens_at   DATETIME(3) NOT NULL,
    booking_closes_at  DATETIME(3) NOT NULL,
    price              BIGINT NOT NULL,
    seat_count         INT UNSIGNED NOT NULL,
    PRIMARY KEY (id),
    KEY idx_schedules_concert (concert_id, starts_at),
    CONSTRAINT fk_schedules_concert FOREIGN KEY (concert_id) REFERENCES concerts (id),
    CONSTRAINT chk_schedules_window CHECK (booking_opens_at < booking_closes_at),
    CONSTRAINT chk_schedules_price CHECK (price > 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- The hot table. A hold is one conditional UPDATE by primary key; the
-- (schedule_id, status, hold_expires_at) index serves availability counts and
-- seat listings, (status, hold_expires_at) the expiry worker's range scan.
-- reservation_id has no foreign key on purpose: reservations already point
-- at seats, and a cycle would make every hold check a second parent row.
CREATE TABLE seats (
    id               BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    schedule_id      BIGINT UNSIGNED NOT NULL,
    seat_number      INT UNSIGNED NOT NULL,
    price            BIGINT NOT NULL,
    status           ENUM('AVAILABLE', 'HELD', 'SOLD') NOT NULL DEFAULT 'AVAILABLE',
    reservation_id   BIGINT UNSIGNED NULL,
    holder_user_id   VARBINARY(64) NULL,
    hold_expires_at  DATETIME(3) NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_seats_schedule_number (schedule_id, seat_number),
    KEY idx_seats_schedule_status (schedule_id, status, hold_expires_at),
    KEY idx_seats_status_expiry (status, hold_expires_at),
    CONSTRAINT fk_seats_schedule FOREIGN KEY (schedule_id) REFERENCES schedules (id),
    CONSTRAINT chk_seats_available_is_free CHECK (
        status <> 'AVAILABLE'
        OR (reservation_id IS NULL AND holder_user_id IS NULL AND hold_expires_at IS NULL)
    ),
    CONSTRAINT chk_seats_held_expires CHECK (status <> 'HELD' OR hold_expires_at IS NOT NULL)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- No foreign key to schedules: it would make every hold take a shared lock
-- on its schedule's row; the seat's own key already pins the schedule.
CREATE TABLE reservations (
    id               BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    user_id          VARBINARY(64) NOT NULL,
    schedule_id      BIGINT UNSIGNED NOT NULL,
    seat_id          BIGINT UNSIGNED NOT NULL,
    price            BIGINT NOT NULL,
    status           ENUM('HELD', 'CONFIRMED', 'EXPIRED', 'RELEASED') NOT NULL,
    hold_expires_at  DATETIME(3) NOT NULL,
    created_at       DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    updated_at       DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
    PRIMARY KEY (id),
    KEY idx_reservations_user (user_id, id),
    KEY idx_reservations_status_expiry (status, hold_expires_at),
    KEY idx_reservations_seat (seat_id),
    CONSTRAINT fk_reservations_seat FOREIGN KEY (seat_id) REFERENCES seats (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE balances (
    user_id     VARBINARY(64) NOT NULL,
    balance     BIGINT NOT NULL,
    updated_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
    PRIMARY KEY (user_id),
    CONSTRAINT chk_balances_non_negative CHECK (balance >= 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE payments (
    id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    reservation_id  BIGINT UNSIGNED NOT NULL,
    user_id         VARBINARY(64) NOT NULL,
    amount          BIGINT NOT NULL,
    created_at      DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (id),
    UNIQUE KEY uq_payments_reservation (reservation_id),
    KEY idx_payments_user (user_id),
    CONSTRAINT fk_payments_reservation FOREIGN KEY (reservation_id) REFERENCES reservations (id),
    CONSTRAINT chk_payments_amount CHECK (amount > 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Every balance change, signed: balance = SUM(amount) per user, always.
CREATE TABLE balance_ledger (
    id               BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    user_id          VARBINARY(64) NOT NULL,
    amount           BIGINT NOT NULL,
    kind             ENUM('CHARGE', 'PAYMENT') NOT NULL,
    payment_id       BIGINT UNSIGNED NULL,
    idempotency_key  VARBINARY(128) NOT NULL,
    created_at       DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (id),
    KEY idx_ledger_user (user_id, id),
    UNIQUE KEY uq_ledger_user_key (user_id, idempotency_key),
    CONSTRAINT fk_ledger_payment FOREIGN KEY (payment_id) REFERENCES payments (id),
    CONSTRAINT chk_ledger_sign CHECK (
        (kind = 'CHARGE' AND amount > 0 AND payment_id IS NULL)
        OR (kind = 'PAYMENT' AND amount < 0 AND payment_id IS NOT NULL)
    )
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- One row per (user, Idempotency-Key), written in the same transaction as
-- the effect it records, so it exists exactly when the effect committed.
CREATE TABLE idempotency_keys (
    user_id              VARBINARY(64) NOT NULL,
    idem_key             VARBINARY(128) NOT NULL,
    request_fingerprint  VARCHAR(255) NOT NULL,
    response_status      SMALLINT UNSIGNED NULL,
    response_body        TEXT NULL,
    created_at           DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (user_id, idem_key),
    KEY idx_idempotency_created (created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
