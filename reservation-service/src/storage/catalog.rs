//! Concerts and schedules: created once by an admin, read by everyone.

use sqlx::mysql::MySql;
use sqlx::{Executor, MySqlConnection, MySqlPool, QueryBuilder};
use time::OffsetDateTime;

use crate::domain::booking::BookingWindow;
use crate::domain::concert::NewConcert;
use crate::domain::ids::{ConcertId, ScheduleId};

/// Rows per multi-row seat INSERT: 3 placeholders each keeps a statement
/// well under MySQL's 65,535-placeholder limit and its packet size, while a
/// 50,000-seat schedule still needs only ten round trips.
const SEAT_ROWS_PER_STATEMENT: u32 = 5_000;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConcertRow {
    pub id: u64,
    pub title: String,
    pub queue_id: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ScheduleRow {
    pub id: u64,
    pub starts_at: OffsetDateTime,
    pub booking_opens_at: OffsetDateTime,
    pub booking_closes_at: OffsetDateTime,
}

/// What the gate and the hold path need to know about a schedule. Never
/// changes after creation, so it is safe to cache without expiry.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ScheduleFactsRow {
    pub concert_id: u64,
    pub queue_id: String,
    pub price: i64,
    pub booking_opens_at: OffsetDateTime,
    pub booking_closes_at: OffsetDateTime,
    pub first_seat_id: Option<u64>,
    pub last_seat_id: Option<u64>,
}

impl ScheduleFactsRow {
    pub fn window(&self) -> BookingWindow {
        BookingWindow {
            opens_at: self.booking_opens_at,
            closes_at: self.booking_closes_at,
        }
    }
}

#[derive(Debug, Clone)]
pub struct CreatedSchedule {
    pub id: u64,
    pub seat_count: u32,
}

/// Creates the concert, its schedules and all their seats in one
/// transaction, so a failure leaves nothing half-created.
#[tracing::instrument(skip_all, fields(schedules = concert.schedules.len()))]
pub async fn create_concert(
    pool: &MySqlPool,
    concert: &NewConcert,
) -> Result<(u64, Vec<CreatedSchedule>), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let created = insert_concert(&mut tx, concert).await?;
    tx.commit().await?;
    Ok(created)
}

async fn insert_concert(
    conn: &mut MySqlConnection,
    concert: &NewConcert,
) -> Result<(u64, Vec<CreatedSchedule>), sqlx::Error> {
    let concert_id = sqlx::query("INSERT INTO concerts (title, queue_id) VALUES (?, ?)")
        .bind(&concert.title)
        .bind(concert.queue_id.as_str())
        .execute(&mut *conn)
        .await?
        .last_insert_id();

    let mut created = Vec::with_capacity(concert.schedules.len());
    for schedule in &concert.schedules {
        let schedule_id = sqlx::query(
            "INSERT INTO schedules \
               (concert_id, starts_at, booking_opens_at, booking_closes_at, price, seat_count) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(concert_id)
        .bind(schedule.starts_at)
        .bind(schedule.window.opens_at)
        .bind(schedule.window.closes_at)
        .bind(schedule.price)
        .bind(schedule.seat_count)
        .execute(&mut *conn)
        .await?
        .last_insert_id();
        insert_seats(&mut *conn, schedule_id, schedule.seat_count, schedule.price).await?;
        created.push(CreatedSchedule {
            id: schedule_id,
            seat_count: schedule.seat_count,
        });
    }
    Ok((concert_id, created))
}

/// Seats `1..=seat_count` in multi-row INSERTs.
async fn insert_seats(
    conn: &mut MySqlConnection,
    schedule_id: u64,
    seat_count: u32,
    price: i64,
) -> Result<(), sqlx::Error> {
    let mut first = 1;
    while first <= seat_count {
        let last = seat_count.min(first + SEAT_ROWS_PER_STATEMENT - 1);
        let mut insert =
            QueryBuilder::<MySql>::new("INSERT INTO seats (schedule_id, seat_number, price) ");
        insert.push_values(first..=last, |mut row, number| {
            row.push_bind(schedule_id)
                .push_bind(number)
                .push_bind(price);
        });
        insert.build().execute(&mut *conn).await?;
        first = last + 1;
    }
    Ok(())
}

/// A page of concerts in id order, after the id `after`.
#[tracing::instrument(skip_all)]
pub async fn list_concerts(
    executor: impl Executor<'_, Database = MySql>,
    after: u64,
    limit: u32,
) -> Result<Vec<ConcertRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, title, CONVERT(queue_id USING utf8mb4) AS queue_id FROM concerts \
          WHERE id > ? ORDER BY id LIMIT ?",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(executor)
    .await
}

#[tracing::instrument(skip_all, fields(concert.id = %concert_id))]
pub async fn concert_exists(
    executor: impl Executor<'_, Database = MySql>,
    concert_id: ConcertId,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("SELECT 1 FROM concerts WHERE id = ?")
        .bind(concert_id.get())
        .fetch_optional(executor)
        .await?
        .is_some())
}

#[tracing::instrument(skip_all, fields(concert.id = %concert_id))]
pub async fn schedules_of(
    executor: impl Executor<'_, Database = MySql>,
    concert_id: ConcertId,
) -> Result<Vec<ScheduleRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, starts_at, booking_opens_at, booking_closes_at \
           FROM schedules WHERE concert_id = ? ORDER BY starts_at, id",
    )
    .bind(concert_id.get())
    .fetch_all(executor)
    .await
}

#[tracing::instrument(skip_all, fields(schedule.id = %schedule_id))]
pub async fn schedule_facts(
    executor: impl Executor<'_, Database = MySql>,
    schedule_id: ScheduleId,
) -> Result<Option<ScheduleFactsRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.concert_id, CONVERT(c.queue_id USING utf8mb4) AS queue_id, s.price, \
                s.booking_opens_at, s.booking_closes_at, \
                (SELECT MIN(id) FROM seats WHERE schedule_id = s.id) AS first_seat_id, \
                (SELECT MAX(id) FROM seats WHERE schedule_id = s.id) AS last_seat_id \
           FROM schedules s JOIN concerts c ON c.id = s.concert_id \
          WHERE s.id = ?",
    )
    .bind(schedule_id.get())
    .fetch_optional(executor)
    .await
}

/// Seats a buyer could take now: free, or held by a hold that has run out.
/// Two range counts on `(schedule_id, status, hold_expires_at)`; no
/// counter row, so holds never contend on a per-schedule lock.
#[tracing::instrument(skip_all, fields(schedule.id = %schedule_id))]
pub async fn count_available_seats(
    executor: impl Executor<'_, Database = MySql>,
    schedule_id: ScheduleId,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT \
           (SELECT COUNT(*) FROM seats WHERE schedule_id = ? AND status = 'AVAILABLE') + \
           (SELECT COUNT(*) FROM seats \
             WHERE schedule_id = ? AND status = 'HELD' AND hold_expires_at < NOW(3))",
    )
    .bind(schedule_id.get())
    .bind(schedule_id.get())
    .fetch_one(executor)
    .await
}
