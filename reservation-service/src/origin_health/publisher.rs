//! Publishes this replica's [`HealthSample`] every interval: the request
//! window's figures, and how long a database connection took to get from
//! the pool (waiting for a connection is where an overloaded database shows
//! first). One field per replica in the `origin:health` hash, stamped with
//! the Redis clock so the scheduler compares every replica's age on one
//! clock. The hash expires when no replica refreshes it; each replica
//! removes its own field at shutdown and, now and then, fields of replicas
//! long gone without a word (crashed), so the hash stays as small as the
//! fleet.

use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_redis::redis;
use shared::origin::HealthSample;
use shared::queue::Millis;
use shared::redis_pool::{RedisFailure, RedisPool};
use sqlx::MySqlPool;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::RequestWindow;
use crate::error::error_chain;
use crate::metrics::ReservationMetrics;

/// The hash outlives its last writer by this long, so it disappears when
/// every replica is gone.
const HASH_TTL_MS: u64 = 10_000;

/// The longest the pool probe waits; a probe that fails or times out
/// reports this as its wait, far beyond any healthy figure.
pub const POOL_PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Another replica's field this much older than now is a replica that died
/// without removing it.
const STALE_FIELD_MS: Millis = 60_000;
/// Stale fields are looked for once in this many rounds.
const PRUNE_EVERY_ROUNDS: u64 = 30;

pub struct HealthPublisher {
    pub db: MySqlPool,
    pub redis: RedisPool,
    /// This replica's field in the hash.
    pub replica: String,
    pub window: Arc<RequestWindow>,
    pub interval: Duration,
    pub metrics: ReservationMetrics,
}

impl HealthPublisher {
    /// Publishes every `interval` until `shutdown`, then removes this
    /// replica's field. Redis failures are logged once per outage.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut failing = false;
        let mut rounds: u64 = 0;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = ticker.tick() => {}
            }
            let published = tokio::select! {
                () = shutdown.cancelled() => break,
                published = self.publish(rounds.is_multiple_of(PRUNE_EVERY_ROUNDS)) => published,
            };
            rounds += 1;
            match published {
                Ok(_) => {
                    if std::mem::take(&mut failing) {
                        tracing::info!("origin health is published again");
                    }
                }
                Err(err) => {
                    if !std::mem::replace(&mut failing, true) {
                        tracing::warn!(
                            error.chain = %error_chain(&err),
                            "cannot publish origin health; retrying every interval, quietly until it succeeds"
                        );
                    }
                }
            }
        }
        self.withdraw().await;
        tracing::info!("origin health publisher stopped");
    }

    /// Takes and publishes one sample (and prunes stale fields if `prune`).
    pub async fn publish(&self, prune: bool) -> Result<HealthSample, RedisFailure> {
        let pool_wait = probe_pool(&self.db).await;
        let figures = self.window.figures();
        self.metrics.origin_p95_seconds.set(figures.p95_ms / 1000.0);
        self.metrics.origin_error_ratio.set(figures.error_ratio());
        self.metrics
            .origin_pool_wait_seconds
            .set(pool_wait.as_secs_f64());

        let key = self.redis.keyspace().origin_health();
        let mut conn = self.redis.get().await?;
        let (seconds, micros): (i64, i64) = redis::cmd("TIME").query_async(&mut conn).await?;
        let now_ms = seconds * 1000 + micros / 1000;
        let sample = HealthSample {
            at_ms: now_ms,
            requests: figures.requests,
            p95_ms: figures.p95_ms,
            error_ratio: figures.error_ratio(),
            pool_wait_ms: pool_wait.as_secs_f64() * 1000.0,
        };
        let () = redis::pipe()
            .cmd("HSET")
            .arg(&key)
            .arg(&self.replica)
            .arg(sample.encode())
            .ignore()
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(HASH_TTL_MS)
            .ignore()
            .query_async(&mut conn)
            .await?;
        if prune {
            self.prune(&key, now_ms).await?;
        }
        Ok(sample)
    }

    /// Removes the fields of replicas silent for [`STALE_FIELD_MS`]. A field
    /// this version cannot read (a newer replica's) is left alone.
    async fn prune(&self, key: &str, now_ms: Millis) -> Result<(), RedisFailure> {
        let mut conn = self.redis.get().await?;
        let fields: Vec<(String, String)> = redis::cmd("HGETALL")
            .arg(key)
            .query_async(&mut conn)
            .await?;
        let stale: Vec<&str> = fields
            .iter()
            .filter(|(replica, encoded)| {
                *replica != self.replica
                    && HealthSample::decode(encoded)
                        .is_ok_and(|sample| now_ms - sample.at_ms > STALE_FIELD_MS)
            })
            .map(|(replica, _)| replica.as_str())
            .collect();
        if !stale.is_empty() {
            let removed: u64 = redis::cmd("HDEL")
                .arg(key)
                .arg(&stale)
                .query_async(&mut conn)
                .await?;
            tracing::info!(
                removed,
                "removed the health samples of replicas gone without a word"
            );
        }
        Ok(())
    }

    /// Best effort: a field left behind is ignored once stale, and pruned.
    async fn withdraw(&self) {
        let removed: Result<u64, RedisFailure> = async {
            let mut conn = self.redis.get().await?;
            Ok(redis::cmd("HDEL")
                .arg(self.redis.keyspace().origin_health())
                .arg(&self.replica)
                .query_async(&mut conn)
                .await?)
        }
        .await;
        if let Err(err) = removed {
            tracing::debug!(error.chain = %error_chain(&err), "could not withdraw the health sample");
        }
    }
}

/// How long a working connection took to get from the pool (it goes
/// straight back); [`POOL_PROBE_TIMEOUT`] when none came in time, the
/// database refused a new one, or the one handed out was dead. The pool
/// does not test idle connections before handing them out, so the probe
/// pings the one it got (outside the figure): otherwise a database that
/// went away would look healthy for as long as dead idle connections last.
pub async fn probe_pool(db: &MySqlPool) -> Duration {
    use sqlx::Connection as _;

    let probe = async {
        let started = Instant::now();
        let mut connection = db.acquire().await.ok()?;
        let waited = started.elapsed();
        if connection.ping().await.is_err() {
            connection.close_on_drop();
            return None;
        }
        Some(waited)
    };
    tokio::time::timeout(POOL_PROBE_TIMEOUT, probe)
        .await
        .ok()
        .flatten()
        .unwrap_or(POOL_PROBE_TIMEOUT)
}
