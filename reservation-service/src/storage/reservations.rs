//! Reservation reads, release, and the expiry of reservations whose hold ran out.

use shared::ids::UserId;
use sqlx::mysql::MySql;
use sqlx::{Executor, MySqlPool};
use time::OffsetDateTime;

use crate::domain::ids::ReservationId;
use crate::domain::reservation::StoredReservationStatus;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReservationRow {
    pub id: u64,
    pub schedule_id: u64,
    pub seat_id: u64,
    pub price: i64,
    pub status: String,
    pub hold_expires_at: OffsetDateTime,
    pub db_now: OffsetDateTime,
}

/// The caller's own reservation; someone else's reads as absent.
#[tracing::instrument(skip_all, fields(reservation.id = %id))]
pub async fn find_owned(
    executor: impl Executor<'_, Database = MySql>,
    id: ReservationId,
    user: &UserId,
) -> Result<Option<ReservationRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, schedule_id, seat_id, price, status, hold_expires_at, NOW(3) AS db_now \
           FROM reservations WHERE id = ? AND user_id = ?",
    )
    .bind(id.get())
    .bind(user.as_str())
    .fetch_optional(executor)
    .await
}

pub(crate) async fn status_of(
    executor: impl Executor<'_, Database = MySql>,
    id: ReservationId,
) -> Result<Option<StoredReservationStatus>, sqlx::Error> {
    let status: Option<String> = sqlx::query_scalar("SELECT status FROM reservations WHERE id = ?")
        .bind(id.get())
        .fetch_optional(executor)
        .await?;
    status.map(|raw| parse_status(&raw)).transpose()
}

pub(crate) fn parse_status(raw: &str) -> Result<StoredReservationStatus, sqlx::Error> {
    StoredReservationStatus::from_db(raw)
        .ok_or_else(|| sqlx::Error::Decode(format!("unknown reservation status {raw:?}").into()))
}

/// Marks up to `batch` reservations whose hold ran out as EXPIRED. Only
/// HELD rows change, so a payment that confirmed first always wins.
#[tracing::instrument(skip_all, fields(batch))]
pub async fn expire_lapsed_holds(
    executor: impl Executor<'_, Database = MySql>,
    batch: u32,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE reservations SET status = 'EXPIRED' \
          WHERE status = 'HELD' AND hold_expires_at < NOW(3) \
          LIMIT ?",
    )
    .bind(batch)
    .execute(executor)
    .await?
    .rows_affected())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseOutcome {
    Released,
    /// Already released or expired: nothing to do.
    AlreadyOver,
    Confirmed,
    NotFound,
}

/// Releases the caller's hold: the seat goes back to sale only if this
/// reservation still holds it (never a seat someone else took after the
/// hold expired), and the reservation becomes RELEASED (EXPIRED if it had
/// run out before the release). Locks the seat
/// before the reservation, in the same order as holds and payments.
#[tracing::instrument(skip_all, fields(reservation.id = %id))]
pub async fn release(
    pool: &MySqlPool,
    id: ReservationId,
    user: &UserId,
) -> Result<ReleaseOutcome, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let Some(reservation) = find_owned(&mut *tx, id, user).await? else {
        tx.rollback().await?;
        return Ok(ReleaseOutcome::NotFound);
    };
    match parse_status(&reservation.status)? {
        StoredReservationStatus::Held => {}
        StoredReservationStatus::Confirmed => {
            tx.rollback().await?;
            return Ok(ReleaseOutcome::Confirmed);
        }
        StoredReservationStatus::Expired | StoredReservationStatus::Released => {
            tx.rollback().await?;
            return Ok(ReleaseOutcome::AlreadyOver);
        }
    }
    sqlx::query(
        "UPDATE seats SET status = 'AVAILABLE', holder_user_id = NULL, hold_expires_at = NULL \
          WHERE id = ? AND status = 'HELD' AND holder_user_id = ? AND hold_expires_at = ?",
    )
    .bind(reservation.seat_id)
    .bind(user.as_str())
    .bind(reservation.hold_expires_at)
    .execute(&mut *tx)
    .await?;
    // A hold that ran out before its release is recorded as what it was.
    let released = sqlx::query(
        "UPDATE reservations \
            SET status = IF(hold_expires_at < NOW(3), 'EXPIRED', 'RELEASED') \
          WHERE id = ? AND status = 'HELD'",
    )
    .bind(id.get())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if released == 1 {
        tx.commit().await?;
        return Ok(ReleaseOutcome::Released);
    }
    // Changed under us (paid, expired or released by a twin request); under
    // READ COMMITTED this read sees what that transaction committed.
    let now = status_of(&mut *tx, id).await?;
    tx.rollback().await?;
    Ok(match now {
        Some(StoredReservationStatus::Confirmed) => ReleaseOutcome::Confirmed,
        _ => ReleaseOutcome::AlreadyOver,
    })
}
