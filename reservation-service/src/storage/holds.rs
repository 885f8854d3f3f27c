//! Taking a seat: one conditional UPDATE decides, the reservation row is
//! written in the same transaction.

use shared::ids::UserId;
use sqlx::MySqlPool;
use time::OffsetDateTime;

use crate::domain::ids::{ScheduleId, SeatId};

#[derive(Debug, Clone)]
pub struct HoldRequest<'a> {
    pub user: &'a UserId,
    pub schedule_id: ScheduleId,
    pub seat_id: SeatId,
    /// The schedule's seat price (see `catalog::ScheduleFacts`).
    pub price: i64,
    /// When the hold runs out; whole milliseconds, as the column stores it,
    /// because together with the holder it identifies the hold on the seat.
    pub expires_at: OffsetDateTime,
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
    /// The caller already holds this seat (a retry): that hold, unchanged.
    AlreadyYours(Hold),
    /// Held by someone else (hold still running) or sold.
    Taken,
    /// No such seat in this schedule.
    NoSuchSeat,
}

/// Holds the seat until `expires_at` if it is free or its hold has run out,
/// through the `hold_seat` procedure (see its migration).
///
/// The procedure's UPDATE is the whole decision: InnoDB row-locks the seat,
/// so of any number of simultaneous attempts exactly one sees a free seat
/// and changes it; the others wait for that commit, re-evaluate the
/// condition against the committed row, and match nothing. No SELECT ...
/// FOR UPDATE, no per-schedule row.
#[tracing::instrument(skip_all, fields(schedule.id = %request.schedule_id, seat.id = %request.seat_id))]
pub async fn hold_seat(
    pool: &MySqlPool,
    request: &HoldRequest<'_>,
) -> Result<HoldOutcome, sqlx::Error> {
    // fetch_all drains the CALL's trailing status packet with the row.
    let rows: Vec<(String, u64, Option<OffsetDateTime>)> =
        sqlx::query_as("CALL hold_seat(?, ?, ?, ?, ?)")
            .bind(request.seat_id.get())
            .bind(request.schedule_id.get())
            .bind(request.user.as_str())
            .bind(request.price)
            .bind(request.expires_at)
            .fetch_all(pool)
            .await?;
    let hold = |reservation_id, hold_expires_at| Hold {
        reservation_id,
        seat_id: request.seat_id.get(),
        price: request.price,
        hold_expires_at,
    };
    match rows
        .first()
        .map(|(outcome, id, expires)| (outcome.as_str(), *id, *expires))
    {
        Some(("HELD", reservation_id, Some(expires))) => {
            Ok(HoldOutcome::Held(hold(reservation_id, expires)))
        }
        Some(("YOURS", reservation_id, Some(expires))) => {
            Ok(HoldOutcome::AlreadyYours(hold(reservation_id, expires)))
        }
        Some(("TAKEN", _, _)) => Ok(HoldOutcome::Taken),
        Some(("NO_SEAT", _, _)) => Ok(HoldOutcome::NoSuchSeat),
        other => Err(sqlx::Error::Protocol(format!(
            "hold_seat returned {other:?}"
        ))),
    }
}
