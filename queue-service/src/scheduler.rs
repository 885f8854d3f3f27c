//! The scheduler loop: every tick, for each configured queue, take or renew
//! that queue's lease and, if held, run one tick script. The lease keeps the
//! work on one replica; the script keeps the invariants even if two replicas
//! tick at once (e.g. after a lease expired during a pause).
//!
//! It also keeps the queues themselves alive when Redis loses its data.
//! Queues declared in the configuration are re-created whenever they are
//! missing. Every other queue's settings are remembered here, tick by tick,
//! and re-created when the Redis data epoch changes (see
//! `QueueStore::data_epoch`): that is how "deleted" (forget it) is told
//! apart from "lost with Redis's data" (bring it back). Users' places cannot
//! be brought back; their tokens answer 410 and they join again.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use shared::ids::QueueId;
use shared::problem::error_chain;
use tokio_util::sync::CancellationToken;

use crate::domain::{OriginVerdict, QueueConfig};
use crate::metrics::QueueMetrics;
use crate::store::{QueueStore, TickParams};
use shared::origin::OriginHealth;

/// A lease outlives three missed ticks before another replica takes over.
const LEASE_TICKS: u64 = 3;

pub struct Scheduler {
    store: QueueStore,
    metrics: QueueMetrics,
    owner: String,
    tick: Duration,
    eviction_batch: usize,
    declared: Vec<(QueueId, QueueConfig)>,
    /// Every queue's settings as last seen, to re-create after data loss.
    remembered: HashMap<QueueId, QueueConfig>,
    epoch: Option<String>,
    /// Whether the previous round failed, so an outage logs once.
    failing: bool,
}

impl Scheduler {
    pub fn new(
        store: QueueStore,
        metrics: QueueMetrics,
        tick: Duration,
        eviction_batch: usize,
        declared: Vec<(QueueId, QueueConfig)>,
    ) -> Self {
        Self {
            store,
            metrics,
            owner: uuid::Uuid::new_v4().to_string(),
            tick,
            eviction_batch,
            declared,
            remembered: HashMap::new(),
            epoch: None,
            failing: false,
        }
    }

    /// Ticks until `shutdown` fires. Redis errors are logged and the loop
    /// goes on: the next tick retries.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut interval = tokio::time::interval(self.tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tracing::info!(
            tick_ms = self.tick.as_millis() as u64,
            declared_queues = self.declared.len(),
            "scheduler started"
        );
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = interval.tick() => self.round().await,
            }
        }
        tracing::info!("scheduler stopped");
    }

    async fn round(&mut self) {
        match self.tick_all().await {
            Ok(()) if self.failing => {
                self.failing = false;
                tracing::info!("scheduler reaches redis again");
            }
            Ok(()) => {}
            Err(err) if !self.failing => {
                self.failing = true;
                tracing::warn!(error = %error_chain(&err), "scheduler cannot reach redis; retrying every tick");
            }
            Err(_) => {}
        }
    }

    async fn tick_all(&mut self) -> Result<(), shared::redis_pool::RedisFailure> {
        let queues = self.keep_queues_alive().await?;
        let lease_ms = self.tick.as_millis() as u64 * LEASE_TICKS;
        let params = TickParams {
            eviction_batch: self.eviction_batch,
            period_ms: self.tick.as_millis() as u64,
            origin: OriginVerdict::Unknown,
        };
        let origin = self.origin_health().await;
        for queue in queues {
            match self.store.try_lease(&queue, &self.owner, lease_ms).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(err) => {
                    tracing::debug!(queue.id = %queue, error = %err, "lease check failed");
                    continue;
                }
            }
            let verdict = self
                .remembered
                .get(&queue)
                .map_or(OriginVerdict::Unknown, |config| {
                    config.origin.judge(origin.as_ref())
                });
            let started = Instant::now();
            let params = TickParams {
                origin: verdict,
                ..params
            };
            match self.store.tick(&queue, params).await {
                Ok(Some(report)) => {
                    self.metrics.record_tick(
                        queue.as_str(),
                        &report,
                        started.elapsed().as_secs_f64(),
                    );
                    if report.credited_ms > 0 {
                        tracing::warn!(
                            queue.id = %queue,
                            outage_ms = report.credited_ms,
                            "the queue was not served for a while; that time does not count as anyone's silence"
                        );
                    }
                    if let Some(entrants) = report.opened_with_entrants {
                        tracing::info!(queue.id = %queue, draw.entrants = entrants, "queue opened: the draw is made");
                    }
                    if report.promoted > 0 || report.expired_active > 0 {
                        tracing::debug!(queue.id = %queue, ?report, "tick");
                    }
                }
                Ok(None) => {}
                Err(err) => tracing::debug!(queue.id = %queue, error = %err, "tick failed"),
            }
        }
        Ok(())
    }

    /// The reservation service's health as its replicas last reported it;
    /// `None` when none reports (or it cannot be read: admission then keeps
    /// its current rate).
    async fn origin_health(&self) -> Option<OriginHealth> {
        let samples = match self.store.origin_health().await {
            Ok(samples) => samples,
            Err(err) => {
                tracing::debug!(error = %err, "origin health unreadable");
                return None;
            }
        };
        let origin = shared::origin::combine(samples, unix_ms());
        let (p95, errors, pool) = origin.map_or((f64::NAN, f64::NAN, f64::NAN), |o| {
            (o.p95_ms / 1000.0, o.error_ratio, o.pool_wait_ms / 1000.0)
        });
        self.metrics.origin_p95_seconds.set(p95);
        self.metrics.origin_error_ratio.set(errors);
        self.metrics.origin_pool_wait_seconds.set(pool);
        origin
    }

    /// Re-creates declared queues that are missing, re-creates remembered
    /// ones when Redis lost its data, and refreshes the memory. Returns the
    /// queues to tick.
    async fn keep_queues_alive(
        &mut self,
    ) -> Result<Vec<QueueId>, shared::redis_pool::RedisFailure> {
        let epoch = self.store.data_epoch().await?;
        let lost_data = self.epoch.as_ref().is_some_and(|known| *known != epoch);
        self.epoch = Some(epoch);
        if lost_data && !self.remembered.is_empty() {
            tracing::warn!(
                queues = self.remembered.len(),
                "redis lost its data: re-creating every queue; users' places are gone and they must join again"
            );
            for (queue, config) in &self.remembered {
                self.store.configure(queue, config).await?;
            }
        }
        let mut registered = self.store.queue_ids().await?;
        for (queue, config) in &self.declared {
            if !registered.contains(queue) {
                tracing::info!(queue.id = %queue, "creating declared queue");
                self.store.configure(queue, config).await?;
                registered.push(queue.clone());
            }
        }
        let configs = self.store.configs(&registered).await?;
        self.remembered = registered
            .iter()
            .cloned()
            .zip(configs)
            .filter_map(|(queue, config)| Some((queue, config?)))
            .collect();
        Ok(registered)
    }
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
