//! Seat reads and the expiry sweep. The hold itself lives in [`super::holds`].

use std::ops::RangeInclusive;

use sqlx::mysql::MySql;
use sqlx::{Executor, QueryBuilder};
use time::OffsetDateTime;

use crate::domain::ids::ScheduleId;
use crate::domain::seat::SeatStatus;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SeatRow {
    pub id: u64,
    pub seat_number: u32,
    pub price: i64,
    pub status: String,
    pub hold_expires_at: Option<OffsetDateTime>,
    /// The database clock when the row was read, so status derivation uses
    /// the same `now` as the filter in the statement.
    pub db_now: OffsetDateTime,
}

/// Keyset page of a schedule's seats, in id order.
#[derive(Debug, Clone)]
pub struct SeatPage {
    /// The schedule's seat id span (see `catalog::ScheduleFacts`). Bounding
    /// the scan by it keeps a page cheap however many schedules the table
    /// holds: for `ORDER BY id LIMIT n` the optimizer walks the primary key,
    /// and without a lower bound it would walk every older schedule's seats
    /// first.
    pub seat_ids: RangeInclusive<u64>,
    pub status: Option<SeatStatus>,
    /// Only seats with a larger id.
    pub after: Option<u64>,
    pub limit: u32,
}

#[tracing::instrument(skip_all, fields(schedule.id = %schedule_id))]
pub async fn list(
    executor: impl Executor<'_, Database = MySql>,
    schedule_id: ScheduleId,
    page: SeatPage,
) -> Result<Vec<SeatRow>, sqlx::Error> {
    let mut query = QueryBuilder::<MySql>::new(
        "SELECT id, seat_number, price, status, hold_expires_at, NOW(3) AS db_now \
           FROM seats WHERE schedule_id = ",
    );
    query.push_bind(schedule_id.get());
    query
        .push(" AND id BETWEEN ")
        .push_bind(*page.seat_ids.start())
        .push(" AND ")
        .push_bind(*page.seat_ids.end());
    // Same rule as `SeatStatus::derive`, in SQL so the index does the filtering.
    match page.status {
        None => {}
        Some(SeatStatus::Available) => {
            query.push(
                " AND (status = 'AVAILABLE' OR (status = 'HELD' AND hold_expires_at < NOW(3)))",
            );
        }
        Some(SeatStatus::Held) => {
            query.push(" AND status = 'HELD' AND hold_expires_at >= NOW(3)");
        }
        Some(SeatStatus::Sold) => {
            query.push(" AND status = 'SOLD'");
        }
    }
    if let Some(after) = page.after {
        query.push(" AND id > ").push_bind(after);
    }
    query.push(" ORDER BY id");
    query.push(" LIMIT ").push_bind(page.limit);
    query.build_query_as().fetch_all(executor).await
}

/// Returns up to `batch` expired holds to sale. Conditional on the row
/// still being an expired hold, so replicas sweeping at once, or a buyer
/// re-taking the seat meanwhile, cannot double-free anything.
#[tracing::instrument(skip_all, fields(batch))]
pub async fn release_expired_holds(
    executor: impl Executor<'_, Database = MySql>,
    batch: u32,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE seats SET status = 'AVAILABLE', holder_user_id = NULL, hold_expires_at = NULL \
          WHERE status = 'HELD' AND hold_expires_at < NOW(3) \
          LIMIT ?",
    )
    .bind(batch)
    .execute(executor)
    .await?
    .rows_affected())
}
