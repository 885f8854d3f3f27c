//! In-memory caches in front of the catalog tables.
//!
//! * Schedule facts (the concert's queue and the booking window) never
//!   change after creation, so the gate reads them from memory on every
//!   gated call and the database only on a miss.
//! * Available-seat counts are cached for about a second. A sale's opening
//!   rush hammers the schedule listing; counting from the index at most
//!   once per second per schedule and replica keeps that load flat. The
//!   alternative, a per-schedule counter row, would make every hold and
//!   expiry update the same row and serialize them all on its lock, which
//!   the design forbids. The price is a count up to a second stale.

use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use shared::ids::QueueId;
use sqlx::MySqlPool;

use crate::domain::booking::BookingWindow;
use crate::domain::ids::ScheduleId;
use crate::error::ReservationError;
use crate::storage;

const FACTS_CAPACITY: u64 = 100_000;
const COUNTS_CAPACITY: u64 = 100_000;
const COUNTS_TTL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct ScheduleFacts {
    pub concert_id: u64,
    pub queue_id: QueueId,
    pub window: BookingWindow,
    /// Every seat of a schedule is sold at the schedule's price (the admin
    /// API creates them so and nothing changes prices), so a hold can quote
    /// it without reading the seat.
    pub seat_price: i64,
    /// Lowest and highest id among the schedule's seats (none for a
    /// schedule without seats). Seats are created with their schedule and
    /// never added later, so the span is fixed; it lets a seat page scan
    /// only this stretch of the primary key.
    pub seat_ids: Option<RangeInclusive<u64>>,
}

#[derive(Clone)]
pub struct Catalog {
    db: MySqlPool,
    facts: Cache<ScheduleId, Arc<ScheduleFacts>>,
    available: Cache<ScheduleId, i64>,
}

impl Catalog {
    pub fn new(db: MySqlPool) -> Self {
        Self {
            db,
            facts: Cache::new(FACTS_CAPACITY),
            available: Cache::builder()
                .max_capacity(COUNTS_CAPACITY)
                .time_to_live(COUNTS_TTL)
                .build(),
        }
    }

    /// The schedule's immutable facts, or 404 `SCHEDULE_NOT_FOUND`.
    /// Simultaneous misses for one schedule (a sale's opening second) share
    /// a single read; an unknown id is not cached, since it may be created
    /// later.
    pub async fn facts(&self, id: ScheduleId) -> Result<Arc<ScheduleFacts>, ReservationError> {
        self.facts
            .try_get_with(id, load_facts(&self.db, id))
            .await
            .map_err(|miss: Arc<FactsMiss>| match &*miss {
                FactsMiss::NotFound => ReservationError::ScheduleNotFound,
                FactsMiss::Database(err) if storage::is_unavailable(err) => {
                    ReservationError::mysql_unavailable(miss)
                }
                _ => ReservationError::Unexpected(Box::new(miss)),
            })
    }

    /// Seats free now (up to a second stale). Simultaneous misses for one
    /// schedule share a single count.
    pub async fn available_seats(&self, id: ScheduleId) -> Result<i64, ReservationError> {
        self.available
            .try_get_with(id, storage::catalog::count_available_seats(&self.db, id))
            .await
            .map_err(|shared_err: Arc<sqlx::Error>| {
                if storage::is_unavailable(&shared_err) {
                    ReservationError::mysql_unavailable(shared_err)
                } else {
                    ReservationError::Unexpected(Box::new(shared_err))
                }
            })
    }

    /// Seeds the count for a schedule just created.
    pub async fn remember_available(&self, id: ScheduleId, count: i64) {
        self.available.insert(id, count).await;
    }
}

#[derive(Debug, thiserror::Error)]
enum FactsMiss {
    #[error("no such schedule")]
    NotFound,
    #[error("could not read the schedule's facts")]
    Database(#[from] sqlx::Error),
    #[error("schedule's concert has an invalid queue id {0:?}")]
    BadQueueId(String),
}

async fn load_facts(db: &MySqlPool, id: ScheduleId) -> Result<Arc<ScheduleFacts>, FactsMiss> {
    let row = storage::catalog::schedule_facts(db, id)
        .await?
        .ok_or(FactsMiss::NotFound)?;
    Ok(Arc::new(ScheduleFacts {
        concert_id: row.concert_id,
        queue_id: QueueId::parse(&row.queue_id)
            .map_err(|_| FactsMiss::BadQueueId(row.queue_id.clone()))?,
        window: row.window(),
        seat_price: row.price,
        seat_ids: row
            .first_seat_id
            .zip(row.last_seat_id)
            .map(|(first, last)| first..=last),
    }))
}
