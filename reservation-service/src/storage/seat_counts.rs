//! Seat counts of every schedule whose booking window is open, for the
//! seat feed (see `crate::seats_feed`).

use sqlx::Executor;
use sqlx::mysql::MySql;

/// One bookable schedule's seats, as the database saw them at one instant.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OpenScheduleSeats {
    pub schedule_id: u64,
    pub queue_id: String,
    /// Free, or held by a hold that has run out (the hold statement takes
    /// those too).
    pub seats_left: i64,
    /// Held by a hold still running: may come back if not paid for.
    pub seats_held: i64,
}

/// The statement of [`open_schedules`]; public so a test can check that
/// its plan stays index only.
///
/// Three range counts per schedule on `(schedule_id, status,
/// hold_expires_at)`, index only: no row lock, no counter row, and SOLD
/// seats are never visited. The index is forced: with the schedule id
/// coming from the outer row, MariaDB otherwise counts held seats through
/// `(status, hold_expires_at)`, across every schedule, and free ones by
/// reading each row (hundreds of ms at 100,000 seats instead of tens). `NOW(3)` is one instant for the whole
/// statement, so the counts of every schedule agree with each other; the
/// expiry bound is the hold statement's (`hold_expires_at < NOW(3)` is for
/// sale). Closed schedules are skipped through the `booking_closes_at`
/// index, so the statement does not grow with the sales of the past.
pub const OPEN_SCHEDULES: &str = "\
    SELECT s.id AS schedule_id, CONVERT(c.queue_id USING utf8mb4) AS queue_id, \
           CAST((SELECT COUNT(*) FROM seats FORCE INDEX (idx_seats_schedule_status) \
                  WHERE schedule_id = s.id AND status = 'AVAILABLE') + \
                (SELECT COUNT(*) FROM seats FORCE INDEX (idx_seats_schedule_status) \
                  WHERE schedule_id = s.id AND status = 'HELD' \
                    AND hold_expires_at < NOW(3)) AS SIGNED) AS seats_left, \
           CAST((SELECT COUNT(*) FROM seats FORCE INDEX (idx_seats_schedule_status) \
                  WHERE schedule_id = s.id AND status = 'HELD' \
                    AND hold_expires_at >= NOW(3)) AS SIGNED) AS seats_held \
      FROM schedules s JOIN concerts c ON c.id = s.concert_id \
     WHERE s.booking_closes_at > NOW(3) AND s.booking_opens_at <= NOW(3)";

/// Every schedule bookable now, with its counts (see [`OPEN_SCHEDULES`]).
#[tracing::instrument(skip_all)]
pub async fn open_schedules(
    executor: impl Executor<'_, Database = MySql>,
) -> Result<Vec<OpenScheduleSeats>, sqlx::Error> {
    sqlx::query_as(OPEN_SCHEDULES).fetch_all(executor).await
}
