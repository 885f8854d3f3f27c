//! The seat feed: tells the queue's scheduler how many seats each queue
//! still has to sell, so it admits no more buyers than can book and can
//! call a sale sold out.
//!
//! Every round, the one replica holding the feed lease counts the seats of
//! every schedule whose booking window is open (one statement, index only,
//! see [`storage::seat_counts`]) and writes each queue's totals to
//! `q:{<queue>}:seats`, stamped with the Redis clock and expiring after
//! [`SEATS_TTL_MS`]: a feed that stops reads as "no feed" soon after, never
//! as a sale frozen at its last figures. The lease only saves work; two
//! replicas writing at once (after a pause outlived the lease) write the
//! same kind of snapshot, and the later one wins.

use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use deadpool_redis::redis::{self, Script};
use shared::ids::QueueId;
use shared::origin::{SEATS_TTL_MS, SeatCounts, seat_field};
use shared::queue::Millis;
use shared::redis_pool::{RedisFailure, RedisPool};
use sqlx::MySqlPool;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::error::error_chain;
use crate::metrics::ReservationMetrics;
use crate::storage;
use crate::storage::seat_counts::OpenScheduleSeats;

static LEASE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lease.lua")));
static RELEASE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("release.lua")));

/// A lease outlives this many missed rounds before another replica takes over.
const LEASE_ROUNDS: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("cannot count the seats")]
    Count(#[from] sqlx::Error),
    #[error("cannot write the seat counts")]
    Redis(#[from] RedisFailure),
}

/// What one round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Round {
    /// Another replica holds the lease.
    NotHolder,
    /// Counted and wrote this many queues' seats.
    Fed { queues: usize },
}

pub struct SeatsFeed {
    pub db: MySqlPool,
    pub redis: RedisPool,
    /// This replica's id, as the lease names its holder.
    pub owner: String,
    pub interval: Duration,
    pub metrics: ReservationMetrics,
}

impl SeatsFeed {
    /// Feeds every `interval` until `shutdown`, then gives the lease up.
    /// Failures (MySQL or Redis down) are logged once per outage. After one,
    /// the replica gives the lease up and sits out [`LEASE_ROUNDS`] rounds,
    /// so a replica that can still reach MySQL takes over instead of the
    /// feed stopping with the one that cannot.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut failing = false;
        let mut sitting_out = 0;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = ticker.tick() => {}
            }
            if sitting_out > 0 {
                sitting_out -= 1;
                continue;
            }
            let started = Instant::now();
            // A round writes each queue on its own, so abandoning one at
            // shutdown leaves nothing half-written.
            let outcome = tokio::select! {
                () = shutdown.cancelled() => break,
                outcome = self.round() => outcome,
            };
            match outcome {
                Ok(round) => {
                    if std::mem::take(&mut failing) {
                        tracing::info!("seat feed rounds succeed again");
                    }
                    let held = matches!(round, Round::Fed { .. });
                    self.metrics.seats_feed_lease_held.set(i64::from(held));
                    if held {
                        self.metrics
                            .seats_feed_round_seconds
                            .observe(started.elapsed().as_secs_f64());
                    }
                }
                Err(err) => {
                    self.metrics.seats_feed_failures.inc();
                    if !std::mem::replace(&mut failing, true) {
                        tracing::warn!(
                            error.chain = %error_chain(&err),
                            "seat feed round failed; leaving the feed to another replica a while, \
                             then retrying, quietly until it succeeds"
                        );
                    }
                    self.release().await;
                    sitting_out = LEASE_ROUNDS;
                }
            }
        }
        self.release().await;
        tracing::info!("seat feed stopped");
    }

    /// Takes or renews the lease and, when held, counts and writes.
    pub async fn round(&self) -> Result<Round, FeedError> {
        let Some(now_ms) = self.lease().await? else {
            return Ok(Round::NotHolder);
        };
        let schedules = storage::seat_counts::open_schedules(&self.db).await?;
        let queues = per_queue(schedules);
        if !queues.is_empty() {
            self.write(&queues, now_ms).await?;
        }
        Ok(Round::Fed {
            queues: queues.len(),
        })
    }

    /// The Redis clock when this replica holds the lease.
    async fn lease(&self) -> Result<Option<Millis>, RedisFailure> {
        let lease_ms = self.interval.as_millis() * u128::from(LEASE_ROUNDS);
        let mut conn = self.redis.get().await?;
        let now_ms: Millis = LEASE
            .key(self.redis.keyspace().seats_feed_lease())
            .arg(&self.owner)
            .arg(u64::try_from(lease_ms).unwrap_or(u64::MAX))
            .invoke_async(&mut conn)
            .await?;
        Ok((now_ms > 0).then_some(now_ms))
    }

    /// One round trip for every queue; each queue's write is its own
    /// MULTI/EXEC, so its counts never outlive their expiry, and no command
    /// spans two queues. On a Redis Cluster the queues' keys live in
    /// different slots, so each queue's MULTI/EXEC goes as a pipeline of its
    /// own, all at once.
    async fn write(
        &self,
        queues: &BTreeMap<QueueId, SeatCounts>,
        now_ms: Millis,
    ) -> Result<(), RedisFailure> {
        let keyspace = self.redis.keyspace();
        if self.redis.is_cluster() {
            self.redis
                .each(queues, |mut conn, (queue, counts)| {
                    let mut pipe = redis::pipe();
                    write_counts(&mut pipe, &keyspace.queue(queue).seats(), counts, now_ms);
                    async move { pipe.query_async::<()>(&mut conn).await }
                })
                .await?;
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for (queue, counts) in queues {
            write_counts(&mut pipe, &keyspace.queue(queue).seats(), counts, now_ms);
        }
        let mut conn = self.redis.get().await?;
        let () = pipe.query_async(&mut conn).await?;
        Ok(())
    }

    /// Best effort: a lease left behind runs out on its own.
    async fn release(&self) {
        let released: Result<i64, RedisFailure> = async {
            let mut conn = self.redis.get().await?;
            Ok(RELEASE
                .key(self.redis.keyspace().seats_feed_lease())
                .arg(&self.owner)
                .invoke_async(&mut conn)
                .await?)
        }
        .await;
        match released {
            Ok(1) => tracing::debug!("seat feed lease released"),
            Ok(_) => {}
            Err(err) => {
                tracing::debug!(error.chain = %error_chain(&err), "could not release the seat feed lease");
            }
        }
        self.metrics.seats_feed_lease_held.set(0);
    }
}

/// Appends one queue's write: its counts and their expiry, in one MULTI/EXEC.
fn write_counts(pipe: &mut redis::Pipeline, key: &str, counts: &SeatCounts, now_ms: Millis) {
    pipe.cmd("MULTI")
        .ignore()
        .cmd("HSET")
        .arg(key)
        .arg(seat_field::LEFT)
        .arg(counts.left)
        .arg(seat_field::HELD)
        .arg(counts.held)
        .arg(seat_field::AT_MS)
        .arg(now_ms)
        .ignore()
        .cmd("PEXPIRE")
        .arg(key)
        .arg(SEATS_TTL_MS)
        .ignore()
        .cmd("EXEC")
        .ignore();
}

/// Sums each queue's schedules. A queue id the database holds but the queue
/// service could not have (never written by this service's validation) is
/// skipped rather than written under a key no one reads.
pub fn per_queue(
    schedules: impl IntoIterator<Item = OpenScheduleSeats>,
) -> BTreeMap<QueueId, SeatCounts> {
    let mut queues: BTreeMap<QueueId, SeatCounts> = BTreeMap::new();
    for schedule in schedules {
        let Ok(queue) = QueueId::parse(&schedule.queue_id) else {
            tracing::debug!(
                schedule.id = schedule.schedule_id,
                "schedule with an invalid queue id skipped"
            );
            continue;
        };
        let counts = queues
            .entry(queue)
            .or_insert(SeatCounts { left: 0, held: 0 });
        counts.left += u64::try_from(schedule.seats_left).unwrap_or(0);
        counts.held += u64::try_from(schedule.seats_held).unwrap_or(0);
    }
    queues
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(id: u64, queue: &str, left: i64, held: i64) -> OpenScheduleSeats {
        OpenScheduleSeats {
            schedule_id: id,
            queue_id: queue.to_owned(),
            seats_left: left,
            seats_held: held,
        }
    }

    #[test]
    fn a_queues_schedules_are_summed_and_queues_kept_apart() {
        let queues = per_queue([
            schedule(1, "tour-a", 10, 2),
            schedule(2, "tour-b", 0, 0),
            schedule(3, "tour-a", 5, 1),
            schedule(4, "not a queue id!", 7, 7),
        ]);
        let get = |id: &str| queues.get(&QueueId::parse(id).unwrap()).copied();
        assert_eq!(queues.len(), 2);
        assert_eq!(get("tour-a"), Some(SeatCounts { left: 15, held: 3 }));
        assert_eq!(
            get("tour-b"),
            Some(SeatCounts { left: 0, held: 0 }),
            "a sold-out queue is still fed, so it reads as sold out"
        );
    }
}
