//! Taking a seat: one conditional UPDATE decides, the reservation row is
//! written in the same transaction.

use std::time::Duration;

use shared::ids::UserId;
use sqlx::MySqlPool;
use time::OffsetDateTime;

use super::seats;
use crate::domain::ids::{ScheduleId, SeatId};

#[derive(Debug, Clone)]
pub struct HoldRequest<'a> {
    pub user: &'a UserId,
    pub schedule_id: ScheduleId,
    pub seat_id: SeatId,
    pub ttl: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub reservation_id: u64,
    pub seat_id: u64,
    pub price: i64,
    pub hold_expires_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldOutcome {
    Held(Hold),
    /// Held by someone else (hold still running) or sold.
    Taken,
    /// No such seat in this schedule.
    NoSuchSeat,
}

/// Holds the seat for `ttl` if it is free or its hold has run out.
///
/// The UPDATE is the whole decision: InnoDB row-locks the seat, so of any
/// number of simultaneous attempts exactly one sees a free seat and changes
/// it; the others wait for that commit, re-evaluate the condition against
/// the committed row, and match nothing. No SELECT ... FOR UPDATE, no
/// per-schedule row. The expiry comes from the database clock, computed
/// once in the UPDATE and copied into the reservation.
#[tracing::instrument(skip_all, fields(schedule.id = %request.schedule_id, seat.id = %request.seat_id))]
pub async fn hold_seat(
    pool: &MySqlPool,
    request: &HoldRequest<'_>,
) -> Result<HoldOutcome, sqlx::Error> {
    let ttl_micros = i64::try_from(request.ttl.as_micros()).unwrap_or(i64::MAX);
    let mut tx = pool.begin().await?;
    let taken = sqlx::query(
        "UPDATE seats \
            SET status = 'HELD', holder_user_id = ?, reservation_id = NULL, \
                hold_expires_at = NOW(3) + INTERVAL ? MICROSECOND \
          WHERE id = ? AND schedule_id = ? \
            AND (status = 'AVAILABLE' OR (status = 'HELD' AND hold_expires_at < NOW(3)))",
    )
    .bind(request.user.as_str())
    .bind(ttl_micros)
    .bind(request.seat_id.get())
    .bind(request.schedule_id.get())
    .execute(&mut *tx)
    .await?
    .rows_affected();

    if taken == 0 {
        tx.rollback().await?;
        // Only the failure path asks why, so a successful hold costs no extra read.
        return Ok(
            if seats::exists_in_schedule(pool, request.seat_id, request.schedule_id).await? {
                HoldOutcome::Taken
            } else {
                HoldOutcome::NoSuchSeat
            },
        );
    }

    let (price, hold_expires_at): (i64, OffsetDateTime) =
        sqlx::query_as("SELECT price, hold_expires_at FROM seats WHERE id = ?")
            .bind(request.seat_id.get())
            .fetch_one(&mut *tx)
            .await?;
    let reservation_id = sqlx::query(
        "INSERT INTO reservations (user_id, schedule_id, seat_id, price, status, hold_expires_at) \
         VALUES (?, ?, ?, ?, 'HELD', ?)",
    )
    .bind(request.user.as_str())
    .bind(request.schedule_id.get())
    .bind(request.seat_id.get())
    .bind(price)
    .bind(hold_expires_at)
    .execute(&mut *tx)
    .await?
    .last_insert_id();
    sqlx::query("UPDATE seats SET reservation_id = ? WHERE id = ?")
        .bind(reservation_id)
        .bind(request.seat_id.get())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;

    Ok(HoldOutcome::Held(Hold {
        reservation_id,
        seat_id: request.seat_id.get(),
        price,
        hold_expires_at,
    }))
}
